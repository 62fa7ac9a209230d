/**
 * A frame the server refuses, with a real daemon and a real server: it is set aside in the run's
 * dead-letter file, the upload goes on, and finish() answers at once with what was refused.
 *
 * How the bad frame gets into the WAL: a daemon takes over a run whose WAL is already on disk
 * (its predecessor died), as it does in production, and uploads it from the start. The frame is
 * one the server refuses structurally (a row without a numeric _step). A live client could not
 * put it there: the daemon checks each batch with the server's rules before it enters the WAL
 * (issue #13). What reaches a dead-letter file is what an older daemon wrote, or what a newer or
 * stricter server refuses; a WAL on disk stands for both, and stays valid whatever the daemon
 * checks at its door.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Dealer } from "zeromq";
import { afterAll, beforeAll, expect, it } from "vitest";
import { PROTOCOL_VERSION, WAL_MAGIC, decode, encode, encodeRecords, scanFrames, type RunOpenSettings, type RunRecord } from "../../src/protocol/index.js";
import { newRoutingId } from "../../src/protocol/random.js";
import { CLI, serverWithEnv, showRun, start, type Running, type TestEnv, type TestServer } from "../helpers/processes.js";
import { localUser, rows, runInfo, writeRunDir } from "../helpers/run-dir.js";

let t: TestEnv;
let server: TestServer;
let daemon: Running;
beforeAll(async () => ({ t, server } = await serverWithEnv()));
afterAll(async () => {
  if (daemon && daemon.child.exitCode === null) daemon.child.kill("SIGTERM");
  await daemon?.exited;
  await server?.stop();
});

it("sets the refused frame aside, uploads the steps after it, and finish() says what was refused without waiting", async () => {
  const { user, apiKey } = localUser(t.home, server.url);
  const info = runInfo(user, "dead0001", t.runDir);
  // Steps 0-9 in two frames, a garbage frame (seq 12), steps 10-19 in two frames.
  const batches: RunRecord[][] = [
    [{ k: "run", seq: 1, run: info }, { k: "history", seq: 2, rows: rows(0, 5) }],
    [{ k: "history", seq: 7, rows: rows(5, 5) }],
    [{ k: "history", seq: 12, rows: [{ _step: "ten" } as never] }],
    [{ k: "history", seq: 13, rows: rows(10, 5) }],
    [{ k: "history", seq: 18, rows: rows(15, 5) }],
  ];
  const { dir, frames } = writeRunDir(t.runDir, "dead0001", batches);
  daemon = start([CLI, "daemon", "--listen", `ipc://${join(mkdtempSync(join(tmpdir(), "trk-dl-")), "d.sock")}`], t.env);
  const address = (await daemon.waitFor(/listening on (\S+)/))[1];

  const sock = new Dealer({ linger: 0, receiveTimeout: 20_000, routingId: newRoutingId() });
  sock.connect(address);
  const request = async (msg: Record<string, unknown>, payload?: Buffer): Promise<Record<string, unknown>> => {
    await sock.send(payload ? [encode(msg), payload] : [encode(msg)]);
    return decode<Record<string, unknown>>((await sock.receive())[0]);
  };
  const settings: RunOpenSettings = { run: info, mode: "online", runDir: dir, baseUrl: server.url, apiKey, pid: process.pid, firstSeq: 1, statsIntervalS: 0, env: {}, secret: randomBytes(32).toString("base64url") };
  expect(await request({ t: "hello", id: 1, protocol: PROTOCOL_VERSION, version: "test", pid: process.pid })).toMatchObject({ t: "ok" });
  expect(await request({ t: "open", id: 2, settings })).toMatchObject({ t: "opened" });
  const exit: RunRecord = { k: "exit", seq: 23, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: Date.now() };
  expect(await request({ t: "records", id: 3, runPath: `${user}/fixtures/dead0001`, first: 23, last: 23, exit: true }, encodeRecords([exit]))).toMatchObject({ t: "ack", seq: 23 });
  const t0 = Date.now();
  const finished = await request({ t: "finish", id: 4, runPath: `${user}/fixtures/dead0001`, timeoutMs: 30_000 });
  sock.close();
  expect(Date.now() - t0).toBeLessThan(10_000); // not the 30 s timeout
  expect(finished).toMatchObject({
    t: "finished",
    synced: true,
    error: null,
    refused: { frames: 1, records: 1, error: expect.stringMatching(/^TRK_ERR_\w+: .*_step/) as string, file: join(dir, "dead-letter.wal") },
  });
  expect(await showRun(`${user}/fixtures/dead0001`, t.env)).toMatchObject({ state: "finished", historySteps: 20 });
  // The dead-letter file holds the refused frame as it was in the WAL; the WAL has the report for the run's page.
  const dead = readFileSync(join(dir, "dead-letter.wal"));
  // (A server that does not know the `refused` kind sets the report aside too, after it: not counted.)
  expect(dead.subarray(WAL_MAGIC.length, WAL_MAGIC.length + frames[2][1] - frames[2][0]).equals(readFileSync(join(dir, "run-dead0001.wal")).subarray(frames[2][0], frames[2][1]))).toBe(true);
  expect(existsSync(join(dir, "dead-letter.jsonl"))).toBe(true);
  const wal = readFileSync(join(dir, "run-dead0001.wal"));
  const reports = scanFrames(wal.subarray(WAL_MAGIC.length), WAL_MAGIC.length).frames.flatMap((f) => decode<RunRecord[]>(f.payload)).filter((r) => r.k === "refused");
  expect(reports).toEqual([{ k: "refused", seq: 0, at: expect.any(Number) as number, records: 1, bytes: frames[2][1] - frames[2][0], error: expect.stringMatching(/^TRK_ERR_\w+: .*_step/) as string }]);
});
