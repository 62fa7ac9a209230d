/**
 * RecordQueue's sending window, with a fake daemon whose acknowledgements the test releases:
 * batches leave in order, at most 8 before the oldest is acknowledged, and flush() settles only
 * once every batch is acknowledged. The real path (ZeroMQ, a spawned daemon) is covered by the
 * end-to-end tests.
 */
import { describe, expect, it } from "vitest";
import { RecordQueue } from "../../src/client/record-queue.js";

interface Sent {
  first: number;
  last: number;
  ack: () => void;
}

function fakeDaemon() {
  const sent: Sent[] = [];
  const sender = (_payload: Buffer, first: number, last: number): Promise<number> =>
    new Promise((resolve) => sent.push({ first, last, ack: () => resolve(last) }));
  return { sent, sender };
}

const settle = () => new Promise((r) => setImmediate(r));

describe("RecordQueue sending window", () => {
  it("sends 8 batches ahead of the acknowledgements, in order, and flush() waits for all", async () => {
    const daemon = fakeDaemon();
    const q = new RecordQueue(1, daemon.sender, 2, 60_000);
    let flushed = false;
    for (let step = 0; step < 20; step++) {
      q.put("x", step);
      q.endRow(step, 0, 0); // every second row fills a batch of 2 and sends it
    }
    void q.flush().then(() => (flushed = true));
    await settle();
    expect(daemon.sent.map((s) => s.first)).toEqual([1, 3, 5, 7, 9, 11, 13, 15]);
    daemon.sent[0].ack();
    await settle();
    expect(daemon.sent).toHaveLength(9);
    expect(daemon.sent[8].first).toBe(17);
    for (let i = 1; i < 9; i++) daemon.sent[i].ack();
    await settle();
    expect(daemon.sent).toHaveLength(10);
    expect(flushed).toBe(false);
    expect(q.unacked().map((b) => b.first)).toEqual([19]);
    daemon.sent[9].ack();
    await settle();
    expect(flushed).toBe(true);
    expect(q.unackedCount).toBe(0);
  });
});
