/**
 * The client's memory while its daemon is stuck: with the daemon stopped (SIGSTOP), a run that
 * logs far more than `settings.maxQueuedBytes` holds at most that much in memory, says so once,
 * and keeps the rest in its spill file; when the daemon goes on (SIGCONT) after the client has
 * given it up (its heartbeat unanswered), the client reconnects, replays from memory and from
 * the file, and every row reaches the WAL and the server, once.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, daemonPid, serverWithEnv, showRun, start, walHistorySteps, type TestEnv, type TestServer } from "../helpers/processes.js";

let server: TestServer;
let t: TestEnv;

beforeAll(async () => {
  ({ t, server } = await serverWithEnv());
});
afterAll(async () => {
  await server?.stop();
});

const ROWS = 60_000;
/** About two batches of 4,096 rows of 10 numbers (~430 KB each): the other dozen must wait on disk. */
const MAX_QUEUED_BYTES = 1024 * 1024;

interface QueueStats {
  heldBytes: number;
  peakHeldBytes: number;
  fileBatches: number;
  overflowedBatches: number;
}

describe("the client's queue while the daemon is stopped", () => {
  it("stays within settings.maxQueuedBytes, warns once, and delivers every row once when the daemon goes on", async () => {
    // NODE_DEBUG: the client says when it has given the stopped daemon up, so the test waits for that.
    const p = start([join(ROOT, "test/fixtures/stuck-daemon.mjs"), String(ROWS), String(MAX_QUEUED_BYTES)], { ...t.env, NODE_DEBUG: "trackside" });
    const ready = JSON.parse((await p.waitFor(/\{"ready":true.*\}\n/))[0]) as { path: string; daemon: string; dir: string };
    const pid = daemonPid(ready.daemon);
    const spill = join(ready.dir, `spill-${p.child.pid}.wal`);
    process.kill(pid, "SIGSTOP");
    try {
      p.child.kill("SIGUSR2");
      const logged = JSON.parse((await p.waitFor(/\{"logged":true.*\}\n/))[0]) as { stats: QueueStats };
      expect(logged.stats.heldBytes).toBeLessThanOrEqual(MAX_QUEUED_BYTES);
      expect(logged.stats.fileBatches).toBeGreaterThan(5);
      expect(existsSync(spill)).toBe(true);
      await p.waitFor(/trackside: warning: the daemon at \S+ has not taken .* nothing is lost\.\n/);
      // Held until the client reconnects to it: the batches then come back by the replay path.
      await p.waitFor(/daemon at \S+ \(pid \d+\) lost/);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    const timer = setTimeout(() => p.child.kill("SIGKILL"), 45_000);
    const done = await p.exited;
    clearTimeout(timer);
    const last = JSON.parse(done.stdout.trim().split("\n").pop() as string) as { result: { state: string; synced: boolean }; stats: QueueStats };
    expect(last.result, done.stderr).toMatchObject({ state: "finished", synced: true });
    expect(last.stats.peakHeldBytes).toBeLessThanOrEqual(MAX_QUEUED_BYTES);
    expect(last.stats).toMatchObject({ heldBytes: 0, fileBatches: 0 });
    expect(done.stderr.match(/has not taken/g)).toHaveLength(1);
    expect(existsSync(spill)).toBe(false);

    // Once: the WAL holds each step one time (the daemon skips what it already has), and so does the server.
    expect(walHistorySteps(ready.dir)).toEqual(Array.from({ length: ROWS }, (_, i) => i));
    expect(await showRun(ready.path, t.env)).toMatchObject({ state: "finished", historySteps: ROWS });
  });
});
