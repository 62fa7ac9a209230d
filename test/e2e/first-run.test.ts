/**
 * The first real run, end to end: fixture scripts use the public API in their own processes,
 * spawn a real daemon, which uploads to a real `trackside server` on SQLite; we read the result
 * back through the CLI, as a user would.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { WalWriter } from "../../src/daemon/wal-writer.js";
import { PROTOCOL_VERSION, WAL_MAGIC, encodeRecords, frameHeader, type RunInfo } from "../../src/protocol/index.js";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, daemonPid, daemonSockets, eventually, isAlive, makeEnv, runFixture, serverWithEnv, showRun, spawnedDaemonPids, start, type Finished, type TestEnv, type TestServer } from "../helpers/processes.js";

let server: TestServer;
let t: TestEnv;

beforeAll(async () => ({ t, server } = await serverWithEnv()));
afterAll(() => server?.stop());

/** The fixture exited 0, and the server holds its run (first stdout line) finished with `steps` steps. */
async function expectFinished(r: Finished, env: NodeJS.ProcessEnv, steps: number): Promise<void> {
  expect(r.code, r.stderr).toBe(0);
  const { path } = JSON.parse(r.stdout.split("\n")[0]) as { path: string };
  expect(await showRun(path, env)).toMatchObject({ state: "finished", historySteps: steps });
}

function lastJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
}

describe("a run from init() to the server", () => {
  it("stores 1,000 steps of 10 metrics, the config and the last values as summary", async () => {
    const r = await runFixture("train", t.env, ["1000", "10"]);
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout.split("\n")[0]) as { path: string; id: string };
    expect(lastJson(r.stdout)).toMatchObject({ state: "finished", synced: true });
    // The init line and the footer go to stderr, with the run's URL.
    expect(r.stderr).toContain(`${server.url}/`);
    expect(r.stderr).toContain(`/fixtures/runs/${info.id}`);
    const run = await showRun(info.path, t.env);
    expect(run).toMatchObject({
      id: info.id,
      path: info.path,
      project: "fixtures",
      state: "finished",
      exitCode: 0,
      historySteps: 1000,
      config: { lr: 0.01, layers: [64, 32], optimizer: { name: "adam" } },
    });
    for (let m = 0; m < 10; m++) expect((run.summary as Record<string, number>)[`m${m}`]).toBe(999 * 1000 + m);
    expect(run.author).toBe(run.entity);
    expect(run.privacy).toBe("private");
    expect(typeof run.durationSeconds).toBe("number");
    const meta = run.metadata as Record<string, unknown>;
    expect(JSON.stringify(meta)).toContain(process.version);
  });

  it("records a script that throws after 50 steps as failed, exit code 1, with its 50 steps and the error", async () => {
    const r = await runFixture("throw", t.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("boom after 50 steps"); // Node's own report is unchanged
    const info = JSON.parse(r.stdout.split("\n")[0]) as { path: string };
    const run = await eventually("the run is failed", async () => {
      const v = await showRun(info.path, t.env);
      return v.state === "failed" ? v : undefined;
    });
    expect(run).toMatchObject({ exitCode: 1, historySteps: 50 });
    expect(String(run.error)).toContain("boom after 50 steps");
  });

  it("implements W&B's step semantics, config, summary and live name/notes/tags", async () => {
    const r = await runFixture("api-tour", t.env);
    expect(r.code, r.stderr).toBe(0);
    const out = lastJson(r.stdout);
    expect(out).toMatchObject({ sameRun: true, activeIsRun: true, configLr: 0.1, configBatch: 64, step: 7, activeAfterFinish: null });
    expect(r.stderr).toContain("TRK_ERR_STEP_BACKWARDS");
    expect(r.stderr).toMatch(/TRK_ERR_UNLOGGABLE: Cannot log key "bad"/);
    const run = await showRun(out.path as string, t.env);
    expect(run).toMatchObject({ name: "renamed-run", notes: "new notes", tags: ["a", "b"], config: { lr: 0.1, batchSize: 64 }, historySteps: 4 });
    expect(run.summary).toMatchObject({ loss: 0.4, acc: 0.9, best: 0.99, flag: true, label: "x", nothing: null, "nested/a/b": 2, n: "NaN", inf: "-Infinity" });
    const hist = await cli(["runs", "show", out.path as string, "--json"], t.env);
    expect(hist.code).toBe(0);
  });

  it("shares one daemon between a process and its child, which can start a run of its own", async () => {
    const before = new Set(daemonSockets(t.socketDir));
    const r = await runFixture("parent", t.env);
    expect(r.code, r.stderr).toBe(0);
    const out = lastJson(r.stdout) as { parent: { path: string; daemon: string }; child: { path: string; daemon: string } };
    expect(out.child.daemon).toBe(out.parent.daemon);
    const added = daemonSockets(t.socketDir).filter((s) => !before.has(s));
    expect(added.length).toBeLessThanOrEqual(1); // one daemon for the tree (it may already be gone)
    expect(out.child.path).not.toBe(out.parent.path);
    const [parent, child] = await Promise.all([showRun(out.parent.path, t.env), showRun(out.child.path, t.env)]);
    expect([parent.state, parent.name, parent.historySteps]).toEqual(["finished", "parent-run", 1]);
    expect([child.state, child.name, child.historySteps]).toEqual(["finished", "child-run", 1]);
  });

  it("shares one daemon among processes started at once, each with its run", async () => {
    const env = makeEnv({ HOME: t.home, TRACKSIDE_BASE_URL: server.url });
    const results = await Promise.all(Array.from({ length: 6 }, () => runFixture("train", env.env, ["20", "3"])));
    const infos = results.map((r) => {
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout.split("\n")[0]) as { path: string; daemon: string };
    });
    expect(new Set(infos.map((i) => i.daemon)).size).toBe(1);
    expect(spawnedDaemonPids(env.socketDir)).toHaveLength(1); // the others found it, none spawned a second
    expect(new Set(infos.map((i) => i.path)).size).toBe(6);
    for (const run of await Promise.all(infos.map((i) => showRun(i.path, env.env)))) expect(run).toMatchObject({ state: "finished", historySteps: 20 });
  });

  it("starts a new daemon over the leftovers of a killed one (its info file, socket and lock)", async () => {
    const env = makeEnv({ HOME: t.home, TRACKSIDE_BASE_URL: server.url });
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid!; // a pid that no process has now
    const base = join(env.socketDir, `daemon-p${PROTOCOL_VERSION}`);
    writeFileSync(`${base}.json`, JSON.stringify({ address: `ipc://${base}.sock`, pid: dead }));
    writeFileSync(`${base}.sock`, "");
    writeFileSync(`${base}.lock`, String(dead));
    const r = await runFixture("train", env.env, ["5", "1"]);
    await expectFinished(r, env.env, 5);
    expect(spawnedDaemonPids(env.socketDir)).toHaveLength(1);
    expect(existsSync(`${base}.lock`)).toBe(false);
  });

  it("throws TRK_ERR_INVALID_ID for a bad id and spawns no daemon, writes no file", async () => {
    const env = makeEnv({ TRACKSIDE_BASE_URL: server.url, HOME: t.home });
    const r = await runFixture("invalid-id", env.env);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ threw: true, code: "TRK_ERR_INVALID_ID", daemon: null });
    expect(lastJson(r.stdout).message).toContain('"bad/id"');
    expect(readdirSync(env.socketDir)).toEqual([]);
    expect(readdirSync(env.runDir)).toEqual([]);
  });

  it("starts one daemon when many processes at once find a stale lock", async () => {
    const env = makeEnv({ HOME: t.home, TRACKSIDE_BASE_URL: server.url });
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid!;
    writeFileSync(join(env.socketDir, `daemon-p${PROTOCOL_VERSION}.lock`), String(dead));
    const results = await Promise.all(Array.from({ length: 8 }, () => runFixture("train", env.env, ["10", "2"])));
    for (const r of results) await expectFinished(r, env.env, 10);
    // A daemon that lost the race to bind leaves no log: one log, one daemon served all eight.
    expect(spawnedDaemonPids(env.socketDir)).toHaveLength(1);
  });

  it("starts a new daemon when the live one's socket file was removed (a /tmp cleaner)", async () => {
    const env = makeEnv({ HOME: t.home, TRACKSIDE_BASE_URL: server.url });
    const first = start([join(import.meta.dirname, "../fixtures/wait.mjs")], env.env);
    try {
      const info = JSON.parse((await first.waitFor(/\{"ready":true.*\}/))[0]) as { daemon: string };
      rmSync(info.daemon.slice("ipc://".length));
      const r = await runFixture("train", env.env, ["5", "1"]);
      await expectFinished(r, env.env, 5);
      expect(spawnedDaemonPids(env.socketDir)).toHaveLength(2);
    } finally {
      first.child.kill("SIGTERM");
      await first.exited;
    }
  });

  it("does not take an unrelated live process for the daemon (an info file left with a pid reused since)", async () => {
    const env = makeEnv({ HOME: t.home, TRACKSIDE_BASE_URL: server.url });
    const base = join(env.socketDir, `daemon-p${PROTOCOL_VERSION}`);
    writeFileSync(`${base}.json`, JSON.stringify({ address: `ipc://${base}.sock`, pid: process.pid })); // alive, not a daemon
    writeFileSync(`${base}.sock`, "");
    const r = await runFixture("train", env.env, ["5", "1"]);
    await expectFinished(r, env.env, 5);
    expect(spawnedDaemonPids(env.socketDir)).toHaveLength(1);
  });

  it("spawned daemon leaves once its clients are gone and its runs are uploaded", async () => {
    const env = makeEnv({ HOME: t.home, TRACKSIDE_BASE_URL: server.url });
    const r = await runFixture("train", env.env, ["10", "2"]);
    expect(r.code, r.stderr).toBe(0);
    const { daemon } = JSON.parse(r.stdout.split("\n")[0]) as { daemon: string };
    const pids = spawnedDaemonPids(env.socketDir);
    expect(pids).toHaveLength(1);
    await eventually("the daemon process is gone", () => (isAlive(pids[0]) ? undefined : true), 15_000);
    // Nothing tells a later process that it is there: the next one starts a new daemon.
    expect(existsSync(daemon.slice("ipc://".length))).toBe(false);
    expect(readdirSync(env.socketDir).filter((f) => !f.endsWith(".log"))).toEqual([]);
  });

  it("lets go of a finished run's files while its process lives on (a shared daemon serves run after run)", async () => {
    const env = makeEnv({ HOME: t.home, TRACKSIDE_BASE_URL: server.url });
    const p = start([join(import.meta.dirname, "../fixtures/many-runs.mjs"), "25"], env.env);
    try {
      const info = JSON.parse((await p.waitFor(/\{"done":true.*\}/))[0]) as { daemon: string; paths: string[] };
      expect(info.paths).toHaveLength(25);
      const pid = daemonPid(info.daemon);
      const runFiles = (): string[] =>
        readdirSync(`/proc/${pid}/fd`)
          .map((fd) => {
            try {
              return readlinkSync(`/proc/${pid}/fd/${fd}`);
            } catch {
              return ""; // closed while we looked
            }
          })
          .filter((target) => target.startsWith(env.runDir));
      await eventually("the daemon holds no file of the 25 finished runs", () => (runFiles().length === 0 ? true : undefined));
      expect(isAlive(pid)).toBe(true); // still serving: the process is alive
    } finally {
      p.child.kill("SIGTERM");
      await p.exited;
    }
  });

  it("keeps the run directory layout of DESIGN.md with a private socket directory", async () => {
    const r = await runFixture("train", t.env, ["5", "1"]);
    const { dir, id } = JSON.parse(r.stdout.split("\n")[0]) as { dir: string; id: string };
    expect(dir).toMatch(new RegExp(`/trackside/run-\\d{8}_\\d{6}-${id}$`));
    expect(readdirSync(dir).sort()).toEqual(expect.arrayContaining(["files", "logs", `run-${id}.wal`]));
    expect(existsSync(join(dir, "logs", "daemon.log"))).toBe(true);
    expect(statSync(t.socketDir).mode & 0o777).toBe(0o700);
  });
});

describe("modes", () => {
  it("disabled: the same API, no daemon, no files", async () => {
    const env = makeEnv({ HOME: t.home });
    const r = await runFixture("disabled", env.env);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ dir: null, daemon: null, state: "finished", configA: 1 });
    expect(readdirSync(env.socketDir)).toEqual([]);
    expect(readdirSync(env.runDir)).toEqual([]);
  });

  it("takes a relative NODE_EXTRA_CA_CERTS (the shared daemon runs elsewhere and wants an absolute path)", async () => {
    const env = makeEnv({ HOME: t.home, TRACKSIDE_BASE_URL: server.url, NODE_EXTRA_CA_CERTS: "test/fixtures/tls/cert.pem" });
    const r = await runFixture("train", env.env, ["5", "1"]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split("\n").pop() as string)).toMatchObject({ state: "finished", synced: true });
  });

  it("offline: writes only the run directory, says how to upload it, and `trackside sync` does", async () => {
    const env = makeEnv({ HOME: t.home, TRACKSIDE_BASE_URL: server.url });
    const r = await runFixture("train", env.env, ["200", "3", "offline"]);
    expect(r.code, r.stderr).toBe(0);
    const { dir, path } = JSON.parse(r.stdout.split("\n")[0]) as { dir: string; path: string };
    expect(r.stderr).toContain(`trackside sync ${dir}`);
    const missing = await cli(["runs", "show", path, "--json"], env.env);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("TRK_ERR_NOT_FOUND");
    const sync = await cli(["sync", dir], env.env);
    expect(sync.code, sync.stderr).toBe(0);
    expect(sync.stdout).toContain(`synced ${path}`);
    const again = await cli(["sync", dir], env.env); // idempotent
    expect(again.code, again.stderr).toBe(0);
    const run = await showRun(path, env.env);
    expect(run).toMatchObject({ state: "finished", historySteps: 200 });
  });
});

describe("the daemon process", () => {
  it("runs in its own session: Ctrl-C in the terminal (SIGINT to the process group) does not reach it", async () => {
    const p = start([join(import.meta.dirname, "../fixtures/wait.mjs")], t.env, { detached: true });
    const m = await p.waitFor(/\{"ready":true.*\}/);
    const info = JSON.parse(m[0]) as { path: string; daemon: string };
    const pid = daemonPid(info.daemon);
    process.kill(-p.child.pid!, "SIGINT");
    const done = await p.exited;
    expect(done.signal).toBe("SIGINT");
    expect(isAlive(pid)).toBe(true);
    const run = await eventually("the run leaves running", async () => {
      const v = await showRun(info.path, t.env);
      return v.state !== "running" ? v : undefined;
    });
    expect(run).toMatchObject({ state: "killed", signal: "SIGINT", historySteps: 10 });
  });
});

describe("trackside sync of a run left behind", () => {
  it("takes in an orphaned spill file (a process that exited while no daemon was there) and uploads it all", async () => {
    const dir = join(t.runDir, "trackside", "run-20260101_000000-orphan01");
    mkdirSync(dir, { recursive: true });
    const info: RunInfo = {
      id: "orphan01", entity: (JSON.parse(readFileSync(join(t.home, ".trackside", "credentials"), "utf8")) as Record<string, { user: string }>)[server.url].user,
      project: "fixtures", name: "left-behind", notes: null, tags: [], group: null, jobType: null, config: {}, createdAt: Date.now(),
      program: { executable: "node", args: [], cwd: dir, pid: 1, host: "h", nodeVersion: process.version, os: "linux", tracksideVersion: "0.1.0" },
    };
    const rows = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ _step: from + i, _timestamp: Date.now(), _runtime: 0, v: from + i }));
    const wal = new WalWriter(join(dir, "run-orphan01.wal"));
    wal.append(encodeRecords([{ k: "run", seq: 1, run: info }, { k: "history", seq: 2, rows: rows(0, 5) }]));
    wal.close();
    // The spill repeats one acknowledged batch (it may) and carries the rest and the final state.
    const spill = join(dir, "spill-999999.wal");
    const frames = [encodeRecords([{ k: "history", seq: 2, rows: rows(0, 5) }]), encodeRecords([{ k: "history", seq: 7, rows: rows(5, 5) }, { k: "exit", seq: 12, state: "failed", exitCode: 2, signal: null, error: null, finishedAt: Date.now() }])];
    writeFileSync(spill, Buffer.concat([WAL_MAGIC, ...frames.flatMap((p) => [frameHeader(p), p])]));
    const old = new Date(Date.now() - 60_000);
    utimesSync(spill, old, old);
    const r = await cli(["sync", dir], t.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("took in");
    expect(existsSync(spill)).toBe(true); // sync only reads the run directory
    const run = await showRun(`${info.entity}/fixtures/orphan01`, t.env);
    expect(run).toMatchObject({ state: "failed", exitCode: 2, historySteps: 10 });
  });
});
