/**
 * A run belongs to the connection that opened it (issue #13, point 1): another process on the
 * user's daemon cannot write to, finish or ask about it; a client's own batches are checked
 * before they enter the WAL, which gets the bytes as received; `open` checks its settings
 * (point 10). Raw ZeroMQ connections play the other process and the careless client.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROTOCOL_VERSION, WAL_MAGIC, decode, encodeRecords, scanFrames, type RunRecord } from "../../src/protocol/index.js";
import { WalWriter } from "../../src/daemon/wal-writer.js";
import { CLI, ROOT, serverWithEnv, showRun, start, walHistorySteps, type Running, type TestEnv, type TestServer } from "../helpers/processes.js";
import { RawClient, openSettings, outcome } from "../helpers/raw-daemon.js";

let server: TestServer;
let t: TestEnv;
const running: Running[] = [];
const clients: RawClient[] = [];

beforeAll(async () => ({ t, server } = await serverWithEnv()));

afterAll(async () => {
  for (const c of clients) c.close();
  for (const p of running) {
    p.child.kill("SIGTERM");
    await p.exited;
  }
  await server?.stop();
});

function raw(address: string, routingId?: string | null): RawClient {
  const c = new RawClient(address, routingId);
  clients.push(c);
  return c;
}

/** A standalone daemon on a fresh ipc socket, working in an empty directory (nothing may land there). */
async function standalone(): Promise<{ address: string; cwd: string; daemon: Running }> {
  const cwd = mkdtempSync(join(tmpdir(), "trk-cwd-"));
  const daemon = start([CLI, "daemon", "--listen", `ipc://${join(mkdtempSync(join(tmpdir(), "trk-own-")), "s", "d.sock")}`], t.env, { cwd });
  running.push(daemon);
  const m = await daemon.waitFor(/listening on (\S+)/);
  return { address: m[1], cwd, daemon };
}

const history = (seq: number, steps: number[]): RunRecord => ({ k: "history", seq, rows: steps.map((s) => ({ _step: s, _timestamp: 1_700_000_000_000 + s, _runtime: s, v: s })) });

describe("a run belongs to the connection that opened it", () => {
  it("greets only connections with a random routing id: the ids a ROUTER gives out are a counter anyone can guess, and take over once their client is gone", async () => {
    const { address } = await standalone();
    const guessable = raw(address, null);
    const refused = await guessable.hello(process.pid);
    expect(outcome(refused)).toBe("TRK_ERR_BAD_FRAME");
    expect(refused).toMatchObject({ error: { message: expect.stringContaining("random routing id") as string } });
    expect(outcome(await guessable.request({ t: "status", runPath: "alice/raw/any00001" }))).toBe("TRK_ERR_BAD_FRAME"); // still not greeted
    expect(outcome(await raw(address).hello(process.pid))).toBe("ok");
  });

  it("a second process gets TRK_ERR_NOT_YOUR_RUN for a run it did not open; that run finishes with all its steps, its name and its state", async () => {
    const victim = start([join(ROOT, "test/fixtures/victim.mjs")], t.env);
    running.push(victim);
    const info = JSON.parse((await victim.waitFor(/\{"ready":true.*\}/))[0]) as { path: string; pid: number; daemon: string };
    const intruder = raw(info.daemon);
    // The victim's own pid in hello: a pid is all a client says of itself, and proves nothing.
    expect(outcome(await intruder.hello(info.pid))).toBe("ok");
    const [entity, project, id] = info.path.split("/");
    const replies = [
      await intruder.request({ t: "records", runPath: info.path, first: 1e15, last: 1e15 }, encodeRecords([{ k: "update", seq: 1e15, name: "taken-over" }])),
      await intruder.request({ t: "records", runPath: info.path, first: 12, last: 12 }, Buffer.from("not a batch")),
      await intruder.request({ t: "status", runPath: info.path }),
      await intruder.request({ t: "finish", runPath: info.path, timeoutMs: 10 }),
    ];
    expect(replies.map(outcome)).toEqual(Array(4).fill("TRK_ERR_NOT_YOUR_RUN"));
    // Opening the same run without its secret is refused too: it is live in another process.
    const open = openSettings(t.runDir, id, { pid: info.pid });
    open.run = { ...open.run, entity, project };
    expect(outcome(await intruder.request({ t: "open", settings: open }))).toBe("TRK_ERR_INVALID_OPTION");

    victim.child.kill("SIGUSR2");
    const done = await victim.exited;
    expect(JSON.parse(done.stdout.trim().split("\n").pop()!), done.stderr).toMatchObject({ done: true, state: "finished", synced: true });
    expect(await showRun(info.path, t.env)).toMatchObject({ state: "finished", exitCode: 0, name: "victim-run", historySteps: 20 });
  });

  it("lets the same client in again on a new connection with the run's secret, and a successor daemon too", async () => {
    const { address, daemon } = await standalone();
    const settings = openSettings(t.runDir, "again001");
    const first = raw(address);
    await first.hello(process.pid);
    expect(await first.request({ t: "open", settings })).toMatchObject({ t: "opened", nextSeq: 1, nextStep: 0 });
    expect(await first.request({ t: "records", runPath: "alice/raw/again001", first: 1, last: 1 }, encodeRecords([{ k: "run", seq: 1, run: settings.run }]))).toMatchObject({ t: "ack", seq: 1 });

    const other = raw(address);
    await other.hello(process.pid);
    expect(outcome(await other.request({ t: "open", settings: { ...settings, secret: "a-guess-at-the-secret-000" } }))).toBe("TRK_ERR_INVALID_OPTION");
    expect(outcome(await other.request({ t: "records", runPath: "alice/raw/again001", first: 2, last: 3 }, encodeRecords([history(2, [0, 1])])))).toBe("TRK_ERR_NOT_YOUR_RUN");
    // The client's reconnect: a new connection, the same settings and secret; it goes on.
    expect(await other.request({ t: "open", settings })).toMatchObject({ t: "opened", nextSeq: 2 });
    expect(await other.request({ t: "records", runPath: "alice/raw/again001", first: 2, last: 3 }, encodeRecords([history(2, [0, 1])]))).toMatchObject({ t: "ack", seq: 3 });

    // A daemon that takes over the run directory (the first one gone) asks for the secret too.
    daemon.child.kill("SIGTERM");
    await daemon.exited;
    const successor = await standalone();
    const c = raw(successor.address);
    await c.hello(process.pid);
    expect(outcome(await c.request({ t: "open", settings: { ...settings, secret: "a-guess-at-the-secret-000" } }))).toBe("TRK_ERR_NOT_YOUR_RUN");
    expect(await c.request({ t: "open", settings })).toMatchObject({ t: "opened", nextSeq: 4, nextStep: 2 });
    expect(walHistorySteps(settings.runDir)).toEqual([0, 1]);
  });

  it("a later process of the run goes on after what an earlier one left in its own directory, which no daemon holds", async () => {
    const { address } = await standalone();
    // An earlier process's directory beside the new one: its daemon died before the upload.
    const earlier = openSettings(t.runDir, "left0001", { runDir: `${t.runDir}/trackside/run-20250101_000000-left0001` });
    mkdirSync(earlier.runDir, { recursive: true });
    const wal = new WalWriter(join(earlier.runDir, "run-left0001.wal"));
    wal.append(encodeRecords([{ k: "run", seq: 1, run: earlier.run }, history(2, [0, 1, 2, 3, 4])]));
    wal.close();
    // The same id in another project's directory is another run: not gone on from.
    const other = openSettings(t.runDir, "left0001", { runDir: `${t.runDir}/trackside/run-20250101_000001-left0001` });
    mkdirSync(other.runDir, { recursive: true });
    const otherWal = new WalWriter(join(other.runDir, "run-left0001.wal"));
    otherWal.append(encodeRecords([{ k: "run", seq: 1, run: { ...other.run, project: "elsewhere" } }, history(2, [0, 1, 2, 3, 4, 5, 6, 7, 8])]));
    otherWal.close();
    const later = openSettings(t.runDir, "left0001", { runDir: `${t.runDir}/trackside/run-20250101_000002-left0001` });
    const c = raw(address);
    await c.hello(process.pid);
    expect(await c.request({ t: "open", settings: later })).toMatchObject({ t: "opened", nextSeq: 7, nextStep: 5 });
  });

  it("a successor daemon goes on after the client's last record however many of its own records follow it", async () => {
    const { address, daemon } = await standalone();
    const settings = openSettings(t.runDir, "quiet001");
    const c = raw(address);
    await c.hello(process.pid);
    await c.request({ t: "open", settings });
    await c.request({ t: "records", runPath: "alice/raw/quiet001", first: 1, last: 3 }, encodeRecords([{ k: "run", seq: 1, run: settings.run }, history(2, [0, 1])]));
    daemon.child.kill("SIGTERM");
    await daemon.exited;
    // Then a long quiet spell: the daemon's system samples, 11 minutes of them at 10 s, fill the WAL's tail.
    const wal = new WalWriter(join(settings.runDir, "run-quiet001.wal"));
    for (let i = 0; i < 70; i++) wal.append(encodeRecords([{ k: "system", seq: 0, at: 1_700_000_000_000 + i * 10_000, values: { "system/cpu": i } }]));
    wal.close();
    const successor = await standalone();
    const again = raw(successor.address);
    await again.hello(process.pid);
    expect(await again.request({ t: "open", settings })).toMatchObject({ t: "opened", nextSeq: 4, nextStep: 2 });
    expect(await again.request({ t: "records", runPath: "alice/raw/quiet001", first: 4, last: 5 }, encodeRecords([history(4, [2, 3])]))).toMatchObject({ t: "ack", seq: 5 });
  });
});

describe("a client's own batches are checked before the WAL", () => {
  it("refuses bad numbers with a code and writes nothing; sets malformed or foreign records aside, acknowledged as refused; the run goes on", async () => {
    const { address } = await standalone();
    const settings = openSettings(t.runDir, "check001");
    const path = "alice/raw/check001";
    const c = raw(address);
    await c.hello(process.pid);
    await c.request({ t: "open", settings });
    const runRecord = encodeRecords([{ k: "run", seq: 1, run: settings.run }]);
    expect(await c.request({ t: "records", runPath: path, first: 1, last: 1 }, runRecord)).toMatchObject({ t: "ack", seq: 1 });

    // Numbers that do not continue the run: coded errors, and nothing written or moved.
    const bad: Array<[string, Record<string, unknown>, Uint8Array]> = [
      ["TRK_ERR_BAD_SEQUENCE", { first: 1e15, last: 1e15 }, encodeRecords([history(1e15, [0])])],
      ["TRK_ERR_BAD_SEQUENCE", { first: 2 ** 53, last: 2 ** 53 + 1 }, encodeRecords([history(2, [0])])],
      ["TRK_ERR_BAD_SEQUENCE", { first: 2.5, last: 3 }, encodeRecords([history(2, [0])])],
      ["TRK_ERR_BAD_SEQUENCE", { first: 3, last: 2 }, encodeRecords([history(2, [0])])],
      ["TRK_ERR_BAD_SEQUENCE", { first: 5, last: 5 }, encodeRecords([history(5, [0])])], // a gap after 1
      // More numbers than the batch has bytes: refused for its content, it would still use the run's sequence up.
      ["TRK_ERR_BAD_SEQUENCE", { first: 2, last: 2 ** 52 }, encodeRecords([history(2, [0])])],
      ["TRK_ERR_BAD_SEQUENCE", { first: 2, last: 2 ** 52 + 1 }, Buffer.alloc(1024)],
    ];
    for (const [code, seqs, payload] of bad) {
      expect([code, outcome(await c.request({ t: "records", runPath: path, ...seqs }, payload))]).toEqual([code, code]);
    }
    // Numbers that do: the content is refused with a code, set aside (not in the WAL), and the
    // run's sequence goes on after it, so that the client's later batches are taken.
    const refused: Array<[string, number, Uint8Array]> = [
      ["TRK_ERR_BAD_SEQUENCE", 2, encodeRecords([history(2, [0])])], // the records end at 2, not 3
      ["TRK_ERR_BAD_SEQUENCE", 1, encodeRecords([history(7, [0])])], // numbered elsewhere
      ["TRK_ERR_BAD_FRAME", 1, Buffer.from("garbage, not msgpack \xff\xfe")],
      ["TRK_ERR_BAD_FRAME", 1, encodeRecords([{ k: "system", seq: 0, at: 1, values: { "system/cpu": 1 } }])],
      ["TRK_ERR_BAD_FRAME", 1, encodeRecords([{ k: "run", seq: 2, run: { ...settings.run, entity: "mallory" } }])],
      ["TRK_ERR_BAD_REQUEST", 1, encodeRecords([{ k: "run", seq: 2, run: { ...settings.run, id: "other001" } }])],
      ["TRK_ERR_BAD_REQUEST", 1, encodeRecords([{ k: "history", seq: 2, rows: [{ nope: 1 }] } as unknown as RunRecord])],
    ];
    let next = 2;
    for (const [code, n, payload] of refused) {
      const reply = await c.request({ t: "records", runPath: path, first: next, last: next + n - 1 }, payload);
      expect(reply).toMatchObject({ t: "ack", seq: next + n - 1, refused: { records: n, error: expect.stringMatching(new RegExp(`^${code}: `)) as string } });
      next += n;
    }

    const good = encodeRecords([history(next, [0, 1])]);
    expect(await c.request({ t: "records", runPath: path, first: next, last: next + 1 }, good)).toMatchObject({ t: "ack", seq: next + 1 });
    expect(await c.request({ t: "records", runPath: path, first: 1, last: 1 }, runRecord)).toMatchObject({ t: "ack", seq: next + 1 }); // a resend
    const exit = encodeRecords([{ k: "exit", seq: next + 2, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: Date.now() }]);
    expect(await c.request({ t: "records", runPath: path, first: next + 2, last: next + 2 }, exit)).toMatchObject({ t: "ack", seq: next + 2 });
    expect(await c.request({ t: "finish", runPath: path, timeoutMs: 100 })).toMatchObject({ t: "finished" });

    // The WAL holds the three good batches, byte for byte as sent, and a report of each refused
    // one (the daemon's own records); the refused ones are in the dead-letter file.
    const wal = readFileSync(join(settings.runDir, "run-check001.wal"));
    const frames = scanFrames(wal.subarray(WAL_MAGIC.length), WAL_MAGIC.length).frames.map((f) => Buffer.from(f.payload));
    const own = frames.filter((f) => decode<RunRecord[]>(f).every((r) => r.k === "refused"));
    expect(frames.filter((f) => !own.includes(f)).map((f) => f.toString("hex"))).toEqual([runRecord, good, exit].map((p) => Buffer.from(p).toString("hex")));
    expect(own).toHaveLength(refused.length);
    const dead = readFileSync(join(settings.runDir, "dead-letter.wal"));
    expect(scanFrames(dead.subarray(WAL_MAGIC.length), WAL_MAGIC.length).frames.map((f) => Buffer.from(f.payload))).toEqual(refused.map(([, , p]) => Buffer.from(p)));
  });

  it("checks every field of every request: coded errors, and no file written for a bad open", async () => {
    const { address, cwd } = await standalone();
    const c = raw(address);
    expect(outcome(await c.request({ t: "hello", protocol: PROTOCOL_VERSION, version: "raw", pid: "me" }))).toBe("TRK_ERR_BAD_FRAME");
    await c.hello(process.pid);
    const root = mkdtempSync(join(tmpdir(), "trk-open-"));
    const s = openSettings(root, "open0001");
    const opens: Array<[string, unknown]> = [
      ["TRK_ERR_BAD_FRAME", undefined],
      ["TRK_ERR_INVALID_OPTION", { ...s, run: undefined }],
      ["TRK_ERR_INVALID_ID", { ...s, run: {} }],
      ["TRK_ERR_INVALID_ENTITY", { ...s, run: { ...s.run, entity: "../../etc" } }],
      ["TRK_ERR_INVALID_PROJECT", { ...s, run: { ...s.run, project: "" } }],
      ["TRK_ERR_INVALID_OPTION", { ...s, runDir: "relative/run-x-open0001" }],
      ["TRK_ERR_INVALID_OPTION", { ...s, runDir: `${root}/trackside/../../run-x-open0001` }],
      ["TRK_ERR_INVALID_OPTION", { ...s, runDir: join(root, ".ssh") }],
      ["TRK_ERR_INVALID_OPTION", { ...s, mode: "disabled" }],
      ["TRK_ERR_INVALID_OPTION", { ...s, pid: -1 }],
      ["TRK_ERR_INVALID_OPTION", { ...s, firstSeq: 0 }],
      ["TRK_ERR_INVALID_OPTION", { ...s, firstSeq: 2 ** 53 }],
      ["TRK_ERR_INVALID_OPTION", { ...s, statsIntervalS: -1 }],
      ["TRK_ERR_INVALID_OPTION", { ...s, env: { A: 1 } }],
      ["TRK_ERR_INVALID_OPTION", { ...s, secret: undefined }],
    ];
    for (const [code, settings] of opens) {
      expect([code, outcome(await c.request({ t: "open", settings }))]).toEqual([code, code]);
    }
    const others: Array<Record<string, unknown>> = [
      { t: "records", runPath: "alice/raw/open0001", first: "1", last: 1 },
      { t: "records", first: 1, last: 1 },
      { t: "finish", runPath: "alice/raw/open0001" },
      { t: "finish", runPath: "alice/raw/open0001", timeoutMs: -5 },
      { t: "status", runPath: 42 },
    ];
    for (const m of others) expect(outcome(await c.request(m, encodeRecords([history(1, [0])])))).toBe("TRK_ERR_BAD_FRAME");
    expect(readdirSync(root)).toEqual([]);
    expect(readdirSync(cwd)).toEqual([]);
    expect(existsSync(join(root, "trackside"))).toBe(false);
    // And the daemon still serves.
    expect(await c.request({ t: "open", settings: s })).toMatchObject({ t: "opened", nextSeq: 1 });
  });
});
