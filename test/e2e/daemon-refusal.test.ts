/**
 * A batch that the daemon refuses on its content costs that batch, never the rest of the run
 * (review of issue #13): the daemon sets it aside in the run's dead-letter file, acknowledges it
 * as refused, and takes the batches after it; the client warns, and finish() says what was
 * refused. Before, the refused batch stayed unacknowledged, the daemon's gap check refused every
 * later batch (the exit record too), finish() said "synced", and the run ended crashed with its
 * later steps nowhere. Real daemon, real server; raw ZeroMQ plays a client that sends what
 * trackside's own client would not.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WAL_MAGIC, decode, encodeRecords, scanFrames, type RunRecord } from "../../src/protocol/index.js";
import { CLI, eventually, runFixture, serverWithEnv, showRun, start, type Running, type TestEnv, type TestServer } from "../helpers/processes.js";
import { RawClient, openSettings, outcome } from "../helpers/raw-daemon.js";
import { localUser, rows } from "../helpers/run-dir.js";

let server: TestServer;
let t: TestEnv;
let daemon: Running | null = null;
const clients: RawClient[] = [];

beforeAll(async () => ({ t, server } = await serverWithEnv()));
afterAll(async () => {
  for (const c of clients) c.close();
  if (daemon && daemon.child.exitCode === null) daemon.child.kill("SIGTERM");
  await daemon?.exited;
  await server?.stop();
});

async function finalRun(path: string): Promise<Record<string, unknown>> {
  return eventually(`run ${path} reaches a final state`, async () => {
    const v = await showRun(path, t.env);
    return v.state !== "running" ? v : undefined;
  }, 15_000);
}

/** The `refused` reports in a run directory's WAL. */
function reports(dir: string, id: string): RunRecord[] {
  const wal = readFileSync(join(dir, `run-${id}.wal`));
  return scanFrames(wal.subarray(WAL_MAGIC.length), WAL_MAGIC.length).frames.flatMap((f) => decode<RunRecord[]>(f.payload)).filter((r) => r.k === "refused");
}

describe("the daemon, for the run's own client", () => {
  it("sets a refused batch aside, acknowledges it as refused, takes the batches after it, and finish() counts it", async () => {
    daemon = start([CLI, "daemon", "--listen", `ipc://${join(mkdtempSync(join(tmpdir(), "trk-ref-")), "d.sock")}`], t.env);
    const address = (await daemon.waitFor(/listening on (\S+)/))[1];
    const { user, apiKey } = localUser(t.home, server.url);
    const s = openSettings(t.runDir, "refu0001", { mode: "online", baseUrl: server.url, apiKey });
    s.run = { ...s.run, entity: user, project: "fixtures" };
    const path = `${user}/fixtures/refu0001`;
    const c = new RawClient(address);
    clients.push(c);
    await c.hello(process.pid);
    expect(await c.request({ t: "open", settings: s })).toMatchObject({ t: "opened", nextSeq: 1 });
    const send = (first: number, last: number, records: RunRecord[] | Buffer) =>
      c.request({ t: "records", runPath: path, first, last }, Buffer.isBuffer(records) ? records : encodeRecords(records));
    expect(await send(1, 6, [{ k: "run", seq: 1, run: s.run }, { k: "history", seq: 2, rows: rows(0, 5) }])).toMatchObject({ t: "ack", seq: 6 });
    // Content refused (a config over the limit; bytes that are no batch): acknowledged as refused, the sequence moves on.
    const big = { k: "config", seq: 7, config: { weights: Array(2.5e6).fill(0) } } as RunRecord;
    expect(await send(7, 7, [big])).toMatchObject({ t: "ack", seq: 7, refused: { records: 1, error: expect.stringMatching(/^TRK_ERR_TOO_LARGE: /) as string } });
    expect(await send(8, 9, Buffer.from("not msgpack \xff\xfe"))).toMatchObject({ t: "ack", seq: 9, refused: { records: 2, error: expect.stringMatching(/^TRK_ERR_BAD_FRAME: /) as string } });
    // Numbers that do not continue the run stay hard errors that write nothing.
    expect(outcome(await send(20, 20, [{ k: "history", seq: 20, rows: rows(5, 1) }]))).toBe("TRK_ERR_BAD_SEQUENCE");
    expect(await send(10, 14, [{ k: "history", seq: 10, rows: rows(5, 5) }])).toMatchObject({ t: "ack", seq: 14 });
    expect(await send(15, 15, [{ k: "exit", seq: 15, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: Date.now() }])).toMatchObject({ t: "ack", seq: 15 });
    const finished = await c.request({ t: "finish", runPath: path, timeoutMs: 20_000 });
    expect(finished).toMatchObject({ t: "finished", synced: true, refused: { frames: 2, records: 3, error: expect.stringMatching(/^TRK_ERR_TOO_LARGE/) as string, file: join(s.runDir, "dead-letter.wal") } });
    expect(await showRun(path, t.env)).toMatchObject({ state: "finished", exitCode: 0, historySteps: 10, refused: { records: 3 } });
    // Both batches are in the dead-letter file, noted as never in the WAL, and reported in the WAL.
    const notes = readFileSync(join(s.runDir, "dead-letter.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(notes).toMatchObject([{ walOffset: -1, first: 7, last: 7, records: 1 }, { walOffset: -1, first: 8, last: 9, records: 2 }]);
    expect(reports(s.runDir, "refu0001").map((r) => (r as { records: number }).records)).toEqual([1, 2]);
  });

  it("a refused batch that holds the exit record still ends the run, with that record's state", async () => {
    const address = (await daemon!.waitFor(/listening on (\S+)/))[1];
    const { user, apiKey } = localUser(t.home, server.url);
    const s = openSettings(t.runDir, "refu0002", { mode: "online", baseUrl: server.url, apiKey });
    s.run = { ...s.run, entity: user, project: "fixtures" };
    const path = `${user}/fixtures/refu0002`;
    const c = new RawClient(address);
    clients.push(c);
    await c.hello(process.pid);
    await c.request({ t: "open", settings: s });
    expect(await c.request({ t: "records", runPath: path, first: 1, last: 6 }, encodeRecords([{ k: "run", seq: 1, run: s.run }, { k: "history", seq: 2, rows: rows(0, 5) }]))).toMatchObject({ t: "ack", seq: 6 });
    const last: RunRecord[] = [
      { k: "console", seq: 7, lines: [{ at: Date.now(), stream: "stderr", text: "y".repeat(70_000) }] },
      { k: "exit", seq: 8, state: "failed", exitCode: 1, signal: null, error: "Error: boom", finishedAt: Date.now() },
    ];
    expect(await c.request({ t: "records", runPath: path, first: 7, last: 8, exit: true }, encodeRecords(last))).toMatchObject({ t: "ack", seq: 8, refused: { records: 2 } });
    expect(await c.request({ t: "finish", runPath: path, timeoutMs: 20_000 })).toMatchObject({ t: "finished", synced: true, refused: { records: 2 } });
    const run = await finalRun(path);
    expect(run).toMatchObject({ state: "failed", exitCode: 1, historySteps: 5 });
    expect(String(run.error)).toContain("Error: boom");
  });
});

describe("trackside's client", () => {
  it("(a) a config value over the object limit: left out with a warning; the run finishes with all its steps", async () => {
    const r = await runFixture("refused-batch", t.env, ["config"]);
    expect(r.code, r.stderr).toBe(0);
    const { path } = JSON.parse(r.stdout.split("\n")[0]) as { path: string };
    expect(r.stderr).toMatch(/TRK_ERR_TOO_LARGE: The config with "weights"/);
    expect(JSON.parse(r.stdout.trim().split("\n").pop()!)).toMatchObject({ state: "finished", synced: true, refused: null });
    expect(await showRun(path, t.env)).toMatchObject({ state: "finished", historySteps: 10 });
  });

  it("(b) an uncaught exception with a 70,000-character line: the run ends failed with its steps, not crashed", async () => {
    const r = await runFixture("refused-batch", t.env, ["throw"]);
    expect(r.code).toBe(1);
    const { path } = JSON.parse(r.stdout.split("\n")[0]) as { path: string };
    const run = await finalRun(path);
    expect(run).toMatchObject({ state: "failed", exitCode: 1, historySteps: 5 });
    expect(r.stderr).not.toMatch(/TRK_ERR_RECORDS_REFUSED/);
  });

  it("(c) summary values that add up past the object limit: the keys that do not fit are left out with one warning; every step is on the server", async () => {
    const r = await runFixture("refused-batch", t.env, ["summary"]);
    expect(r.code, r.stderr).toBe(0);
    const { path } = JSON.parse(r.stdout.split("\n")[0]) as { path: string };
    expect(JSON.parse(r.stdout.trim().split("\n").pop()!)).toMatchObject({ state: "finished", synced: true, refused: null });
    expect(r.stderr.match(/TRK_ERR_TOO_LARGE/g)).toHaveLength(1);
    expect(r.stderr).toMatch(/TRK_ERR_TOO_LARGE: The summary with "big\d+" and \d+ other logged keys/);
    expect(r.stderr).not.toMatch(/TRK_ERR_RECORDS_REFUSED/);
    const run = await finalRun(path);
    expect(run).toMatchObject({ state: "finished", historySteps: 10 });
    const summary = run.summary as Record<string, unknown>;
    const big = Object.keys(summary).filter((k) => k.startsWith("big"));
    expect(big.length).toBeGreaterThan(270); // as many as fit, in the order they were logged
    expect(big.length).toBeLessThan(300);
    expect(big).toEqual(Array.from({ length: big.length }, (_, i) => `big${i}`));
    expect(summary).toMatchObject({ loss: 1 / 10, _step: 9 });
  });

  it("(d) 4,096 steps of 20 KB strings in a loop that never yields (82 MB): batches the daemon takes, every step on the server", async () => {
    const r = await runFixture("refused-batch", t.env, ["text"]);
    expect(r.code, r.stderr).toBe(0);
    const { path } = JSON.parse(r.stdout.split("\n")[0]) as { path: string };
    expect(JSON.parse(r.stdout.trim().split("\n").pop()!)).toMatchObject({ state: "finished", synced: true, refused: null });
    expect(r.stderr).not.toMatch(/TRK_ERR_/);
    expect(await finalRun(path)).toMatchObject({ state: "finished", historySteps: 4096, refused: null });
  });

  it("a batch the daemon refuses: the client warns at once, finish() reports it, the run ends in its own state", async () => {
    const r = await runFixture("refused-batch", t.env, ["refused"]);
    expect(r.code, r.stderr).toBe(0);
    const { path, dir } = JSON.parse(r.stdout.split("\n")[0]) as { path: string; dir: string };
    const result = JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, unknown>;
    expect(result).toMatchObject({ state: "finished", refused: { frames: 1, records: 2, error: expect.stringMatching(/^TRK_ERR_TOO_LARGE/) as string, file: join(dir, "dead-letter.wal") } });
    expect(r.stderr).toMatch(/warning: TRK_ERR_RECORDS_REFUSED: The daemon refused 2 record/);
    expect(existsSync(join(dir, "dead-letter.wal"))).toBe(true);
    expect(await finalRun(path)).toMatchObject({ state: "finished", historySteps: 5 });
  });
});
