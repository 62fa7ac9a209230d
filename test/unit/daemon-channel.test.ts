/**
 * DaemonChannel's reconnect with fake links (the real one is covered end to end by the lifecycle
 * tests, which kill daemons): a coded refusal of a replayed batch is that batch's verdict, not a
 * lost daemon, so the reconnect goes on past it instead of trying for ever; every connection a
 * failed try opened is closed; and a request waits for a reconnect no longer than its own timeout.
 */
import { describe, expect, it } from "vitest";
import { DaemonChannel, type Replayable } from "../../src/client/daemon-channel.js";
import type { DaemonLink } from "../../src/client/daemon-link.js";
import { errors, type BatchRefusal, type DaemonMessage, type RunOpenSettings } from "../../src/protocol/index.js";
import { openSettings } from "../helpers/raw-daemon.js";

type Answer = (msg: Record<string, unknown>) => Promise<DaemonMessage>;

/** A link that answers with `answer` and counts its close(). */
function fakeLink(answer: Answer, closed: { n: number }): DaemonLink {
  return {
    address: "ipc:///fake",
    daemonPid: 0, // no pid: a lost one is replaced through connect()
    request: (msg: Record<string, unknown>) => answer(msg),
    close: () => void closed.n++,
  } as unknown as DaemonLink;
}

class TestChannel extends DaemonChannel {
  constructor(
    link: DaemonLink,
    settings: RunOpenSettings,
    private readonly next: () => Promise<DaemonLink>,
  ) {
    super(link, settings, 1000, () => {});
  }
  protected override connect(): Promise<DaemonLink> {
    return this.next();
  }
}

const lost = (): Promise<DaemonMessage> => Promise.reject(errors.daemonUnreachable("ipc:///fake", "gone"));

function replayOf(batches: Array<{ first: number; last: number }>) {
  const refused: Array<[number, number, BatchRefusal]> = [];
  let acked = 0;
  const q: Replayable = {
    unacked: () => batches.filter((b) => b.last > acked).map((b) => ({ ...b, exit: false })),
    payloadOf: (b) => (b.last > acked ? Buffer.from([0x90]) : null),
    ack: (seq) => void (acked = Math.max(acked, seq)),
    refused: (b, r) => void refused.push([b.first, b.last, r]),
  };
  return { q, refused, acked: () => acked };
}

describe("DaemonChannel reconnect", () => {
  it("counts a replayed batch the new daemon refuses with a code, goes on past it, and closes each failed try's link", async () => {
    const closed = { n: 0 };
    const settings = openSettings("/tmp", "chan0001");
    const replay = replayOf([{ first: 1, last: 3 }, { first: 4, last: 6 }]);
    let tries = 0;
    const next = async (): Promise<DaemonLink> => {
      tries++;
      // The first try's daemon goes away during the replay; the second answers.
      if (tries === 1) return fakeLink((m) => (m.t === "open" ? Promise.resolve({ t: "opened", id: 1, runPath: "alice/raw/chan0001", nextSeq: 1, nextStep: 0 }) : lost()), closed);
      return fakeLink(async (m) => {
        if (m.t === "open") return { t: "opened", id: 1, runPath: "alice/raw/chan0001", nextSeq: 1, nextStep: 0 };
        if (m.t === "records" && m.first === 1) throw errors.badSequence("alice/raw/chan0001", "first 1 leaves a gap");
        if (m.t === "records") return { t: "ack", id: 2, runPath: "alice/raw/chan0001", seq: m.last as number };
        return { t: "ok", id: 3 };
      }, closed);
    };
    const channel = new TestChannel(fakeLink(lost, closed), settings, next);
    channel.replay = replay.q;
    const reply = await channel.request({ t: "ping" }, undefined, 5000);
    expect(reply).toMatchObject({ t: "ok" });
    expect(replay.refused).toEqual([[1, 3, { records: 3, error: expect.stringMatching(/^TRK_ERR_BAD_SEQUENCE: /) as string, kept: false }]]);
    expect(replay.acked()).toBe(6);
    expect(tries).toBe(2);
    expect(closed.n).toBe(2); // the lost link and the first try's
    channel.close();
  });

  it("a request waits for a reconnect that does not come no longer than its own timeout", async () => {
    const closed = { n: 0 };
    const channel = new TestChannel(fakeLink(lost, closed), openSettings("/tmp", "chan0002"), () => Promise.reject(errors.daemonUnreachable("ipc:///fake", "none")));
    const t0 = Date.now();
    await expect(channel.request({ t: "ping" }, undefined, 300)).rejects.toMatchObject({ code: "TRK_ERR_DAEMON_UNREACHABLE" });
    expect(Date.now() - t0).toBeLessThan(2000);
    channel.close();
  });
});
