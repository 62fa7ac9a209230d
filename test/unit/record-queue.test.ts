/**
 * RecordQueue's sending window, with a fake daemon whose acknowledgements the test releases:
 * batches leave in order, at most 8 before the oldest is acknowledged, and flush() settles only
 * once every batch is acknowledged. The real path (ZeroMQ, a spawned daemon) is covered by the
 * end-to-end tests.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { objectCost } from "../../src/protocol/limits.js";
import { MAX_BATCH_BYTES, RecordQueue, type BatchAck, type BatchSender } from "../../src/client/record-queue.js";
import { WAL_MAGIC, decode, historyRows, scanFrames, type RunRecord } from "../../src/protocol/index.js";

interface Sent {
  first: number;
  last: number;
  ack: () => void;
}

function fakeDaemon() {
  const sent: Sent[] = [];
  const sender = (_payload: Buffer, first: number, last: number): Promise<BatchAck> =>
    new Promise((resolve) => sent.push({ first, last, ack: () => resolve({ seq: last }) }));
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

describe("RecordQueue memory bound", () => {
  interface SentBatch extends Sent {
    payload: Buffer;
  }
  function recordingDaemon() {
    const sent: SentBatch[] = [];
    const sender = (payload: Buffer, first: number, last: number): Promise<BatchAck> =>
      new Promise((resolve) => sent.push({ first, last, payload, ack: () => resolve({ seq: last }) }));
    return { sent, sender };
  }
  /** The steps a sequence of batches holds, in order. */
  const stepsOf = (payloads: Buffer[]) => payloads.flatMap((p) => decode<RunRecord[]>(p).flatMap((r) => (r.k === "history" ? historyRows(r).map((row) => row._step) : [])));

  function boundQueue(sender: BatchSender | null, maxBytes: number) {
    const dir = mkdtempSync(join(tmpdir(), "trk-queue-"));
    const file = join(dir, "spill-1.wal");
    const warnings: string[] = [];
    const q = new RecordQueue(1, sender, 4, 60_000, () => {}, { maxBytes, file, onStuck: (held, f) => warnings.push(`${held} ${f}`) });
    const log = (from: number, n: number) => {
      for (let step = from; step < from + n; step++) {
        q.put("x", step + 0.5);
        q.put("y", step);
        q.endRow(step, 0, 0); // every fourth row fills a batch and sends it
      }
    };
    return { q, file, warnings, log };
  }

  afterEach(() => {
    vi.useRealTimers();
  });

  it("holds at most maxBytes while the daemon does not answer, the rest in the spill file, says so after 2 s; then sends every batch once, in order", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const daemon = recordingDaemon();
    const { q, file, warnings, log } = boundQueue(daemon.sender, 400);
    log(0, 200); // 50 batches of ~100 bytes: far more than 400 bytes
    void q.flush();
    await settle();
    const stuck = q.stats;
    expect(stuck.heldBytes).toBeLessThanOrEqual(400);
    expect(stuck.fileBatches).toBeGreaterThan(40);
    expect(statSync(file).size).toBeGreaterThan(stuck.overflowedBytes); // frames and their headers
    vi.advanceTimersByTime(1_999);
    expect(warnings).toEqual([]); // sent only just now: not stuck yet
    vi.advanceTimersByTime(1);
    expect(warnings).toHaveLength(1);
    expect(daemon.sent.length).toBeLessThanOrEqual(8);

    // The daemon answers again: each batch it is sent, it acknowledges.
    for (let i = 0; i < daemon.sent.length; i++) {
      daemon.sent[i].ack();
      await settle();
      expect(q.stats.heldBytes).toBeLessThanOrEqual(400);
    }
    await q.flush();
    expect(daemon.sent.map((s) => [s.first, s.last])).toEqual(Array.from({ length: 50 }, (_, i) => [4 * i + 1, 4 * i + 4]));
    expect(stepsOf(daemon.sent.map((s) => s.payload))).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(q.stats).toMatchObject({ heldBytes: 0, fileBatches: 0, overflowedBatches: stuck.overflowedBatches });
    expect(q.stats.peakHeldBytes).toBeLessThanOrEqual(400);
    expect(existsSync(file)).toBe(false); // all acknowledged: the file is gone
    expect(warnings).toHaveLength(1);
  });

  it("says nothing when a loop that never yields fills the file and the daemon then takes it all at once", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const daemon = recordingDaemon();
    const { q, warnings, log } = boundQueue(daemon.sender, 400);
    log(0, 200); // nothing is sent while the loop runs...
    vi.advanceTimersByTime(5_000); // ...however long it takes
    expect(q.stats.fileBatches).toBeGreaterThan(40);
    const flushed = q.flush(); // the loop yields: the daemon acknowledges each batch at once
    for (let i = 0; i < 50; i++) {
      await settle();
      daemon.sent.at(-1)?.ack();
    }
    await flushed;
    expect(q.stats).toMatchObject({ heldBytes: 0, fileBatches: 0 });
    vi.advanceTimersByTime(10_000);
    expect(warnings).toEqual([]);
  });

  it("replays batches from the file one by one, and the sends still queued skip what the replay delivered", async () => {
    const daemon = recordingDaemon();
    const { q, log } = boundQueue(daemon.sender, 400);
    log(0, 80);
    void q.flush();
    await settle();
    const before = daemon.sent.length;
    // A new daemon: the channel replays every unacknowledged batch, reading each as it goes.
    const replayed: Buffer[] = [];
    for (const b of q.unacked()) {
      const payload = q.payloadOf(b);
      if (!payload) continue;
      replayed.push(payload);
      q.ack(b.last);
      expect(q.payloadOf(b)).toBeNull();
    }
    expect(stepsOf(replayed)).toEqual(Array.from({ length: 80 }, (_, i) => i));
    for (const s of daemon.sent) s.ack(); // the old sends, answered at last
    await q.flush();
    expect(daemon.sent).toHaveLength(before); // nothing sent again after the replay
    expect(q.stats).toMatchObject({ heldBytes: 0, fileBatches: 0 });
  });

  it("an exit spill writes every unacknowledged batch, from memory and from the file, in order, to the spill file", async () => {
    const daemon = recordingDaemon();
    const { q, file, log } = boundQueue(daemon.sender, 400);
    log(0, 120);
    void q.flush();
    await settle();
    daemon.sent[0].ack(); // the first batch is the daemon's already
    await settle();
    log(120, 2); // and two steps not yet in a batch
    q.add({ k: "exit", state: "finished", exitCode: 0, signal: null, error: null, finishedAt: 0 });
    q.spill(file);
    const buf = readFileSync(file);
    const frames = scanFrames(buf.subarray(WAL_MAGIC.length), WAL_MAGIC.length);
    expect(frames.stoppedAt).toBeNull();
    expect(stepsOf(frames.frames.map((f) => f.payload))).toEqual(Array.from({ length: 118 }, (_, i) => i + 4));
    expect(decode<RunRecord[]>(frames.frames.at(-1)!.payload).at(-1)).toMatchObject({ k: "exit" });
  });

  it("keeps a batch in memory when the file cannot be written, never throwing into log()", async () => {
    const daemon = recordingDaemon();
    const warnings: string[] = [];
    const q = new RecordQueue(1, daemon.sender, 4, 60_000, () => {}, { maxBytes: 100, file: "/nonexistent-dir/spill-1.wal", onStuck: (h) => warnings.push(String(h)) });
    for (let step = 0; step < 40; step++) {
      q.put("x", step);
      q.endRow(step, 0, 0);
    }
    await settle();
    expect(q.stats).toMatchObject({ fileBatches: 0, overflowedBatches: 0 });
    expect(warnings).toEqual([]);
    for (let i = 0; i < daemon.sent.length; i++) {
      daemon.sent[i].ack();
      await settle();
    }
    await q.flush();
    expect(daemon.sent.map((s) => s.first)).toEqual(Array.from({ length: 10 }, (_, i) => 4 * i + 1));
  });

  it("keeps nothing without a daemon from the start (mode disabled)", async () => {
    const q = new RecordQueue(1, null, 4, 60_000);
    for (let step = 0; step < 1000; step++) {
      q.put("x", step);
      q.endRow(step, 0, 0);
    }
    await q.flush();
    expect(q.unacked()).toHaveLength(0);
    expect(q.lastSeq).toBe(1000);
  });
});

describe("RecordQueue and the daemon's refusals", () => {
  it("a batch acknowledged as refused is counted, reported once per batch, and no longer held", async () => {
    const refusedSeen: Array<[number, number, string]> = [];
    const sender = (_payload: Buffer, first: number, last: number): Promise<BatchAck> =>
      Promise.resolve(first === 3 ? { seq: last, refused: { records: last - first + 1, error: "TRK_ERR_TOO_LARGE: too big" } } : { seq: last });
    const q = new RecordQueue(1, sender, 2, 60_000);
    q.onRefused = (r, first, last) => refusedSeen.push([first, last, r.error]);
    for (let step = 0; step < 6; step++) {
      q.put("x", step);
      q.endRow(step, 0, 0);
    }
    await q.flush();
    expect(refusedSeen).toEqual([[3, 4, "TRK_ERR_TOO_LARGE: too big"]]);
    expect(q.refusals).toEqual({ batches: 1, records: 2, error: "TRK_ERR_TOO_LARGE: too big" });
    expect(q.unackedCount).toBe(0);
    expect(q.unacked()).toEqual([]);
  });
});

describe("RecordQueue exit spill", () => {
  it("never throws when the spill file cannot be written (the run directory removed): it says so to its caller", () => {
    const dir = mkdtempSync(join(tmpdir(), "trk-spill-"));
    const q = new RecordQueue(1, () => new Promise<BatchAck>(() => {}), 4, 60_000);
    q.put("x", 1);
    q.endRow(0, 0, 0);
    void q.flush();
    rmSync(dir, { recursive: true });
    const errors: string[] = [];
    expect(() => q.spill(join(dir, "spill-1.wal"), (err) => errors.push((err as NodeJS.ErrnoException).code ?? err.message))).not.toThrow();
    expect(errors).toEqual(["ENOENT"]);
    expect(existsSync(dir)).toBe(false);
  });
});

describe("RecordQueue batch size in bytes", () => {
  /** Logs `rows` rows through a queue whose daemon acknowledges at once; returns each batch's payload. */
  async function sendAll(rows: number, put: (q: RecordQueue, step: number) => void): Promise<Buffer[]> {
    const payloads: Buffer[] = [];
    const q = new RecordQueue(1, (payload, _first, last) => (payloads.push(payload), Promise.resolve({ seq: last })), 4096, 60_000);
    for (let step = 0; step < rows; step++) {
      put(q, step);
      q.endRow(step, 0, 0);
    }
    await q.flush();
    return payloads;
  }

  /** Every step in the batches, in order. */
  const steps = (payloads: Buffer[]) =>
    payloads.flatMap((p) => decode<RunRecord[]>(p).flatMap((r) => (r.k === "history" ? historyRows(r) : [])));

  it("splits 4,096 rows of 20 KB strings (82 MB) into batches the daemon takes, every row once, in order", async () => {
    const text = "t".repeat(20_000);
    const payloads = await sendAll(4096, (q, step) => {
      q.put("sample", text);
      q.put("loss", 1 / (step + 1));
    });
    expect(payloads.length).toBeGreaterThan(1);
    for (const p of payloads) expect(p.length).toBeLessThanOrEqual(MAX_BATCH_BYTES + 30_000); // the last row may cross it
    const got = steps(payloads);
    expect(got.map((r) => r._step)).toEqual(Array.from({ length: 4096 }, (_, i) => i));
    expect(got.every((r, i) => r.sample === text && r.loss === 1 / (i + 1))).toBe(true);
  });

  it("splits rows of 2,000 numbers the same way (4,096 of them were a 66 MB batch): the estimate is never below the encoded size", async () => {
    const keys = Array.from({ length: 2000 }, (_, i) => `k${i}`);
    const payloads = await sendAll(2048, (q, step) => keys.forEach((k, i) => q.put(k, step + i)));
    expect(payloads.length).toBeGreaterThan(1);
    for (const p of payloads) expect(p.length).toBeLessThanOrEqual(MAX_BATCH_BYTES);
    const got = steps(payloads);
    expect(got).toHaveLength(2048);
    expect(got.every((r, step) => r._step === step && r.k0 === step && r.k1999 === step + 1999)).toBe(true);
  });

  it("sends records their callers size (media) once they take about as much, even from a loop that never yields", async () => {
    const payloads: Buffer[] = [];
    const q = new RecordQueue(1, (payload, _first, last) => (payloads.push(payload), Promise.resolve({ seq: last })), 4096, 60_000);
    // A table logged again at every step, growing: what the LangChain handler once did.
    const rows: string[][] = [];
    for (let i = 0; i < 300; i++) {
      rows.push(["x".repeat(1000)]);
      const value = { type: "table" as const, columns: ["text"], rows: rows.map((r) => [...r]) };
      q.add({ k: "media", step: i, key: "calls", value }, objectCost(value));
    }
    await q.flush();
    expect(payloads.length).toBeGreaterThan(1);
    for (const p of payloads) expect(p.length).toBeLessThanOrEqual(MAX_BATCH_BYTES + 400_000); // the last record may cross it
    const steps = payloads.flatMap((p) => decode<RunRecord[]>(p).flatMap((r) => (r.k === "media" ? [r.step] : [])));
    expect(steps).toEqual(Array.from({ length: 300 }, (_, i) => i));
  });

  it("sends console lines once they take about as much, even from a loop that never yields", async () => {
    const payloads: Buffer[] = [];
    const q = new RecordQueue(1, (payload, _first, last) => (payloads.push(payload), Promise.resolve({ seq: last })), 4096, 60_000);
    const text = "p".repeat(60_000);
    for (let i = 0; i < 600; i++) q.addConsoleLine({ at: i, stream: "stdout", text });
    await q.flush();
    expect(payloads.length).toBeGreaterThan(1);
    for (const p of payloads) expect(p.length).toBeLessThanOrEqual(MAX_BATCH_BYTES + 70_000);
    const lines = payloads.flatMap((p) => decode<RunRecord[]>(p).flatMap((r) => (r.k === "console" ? r.lines : [])));
    expect(lines.map((l) => l.at)).toEqual(Array.from({ length: 600 }, (_, i) => i));
  });
});
