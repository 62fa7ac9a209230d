/**
 * Crash-consistent runs: every way a process can end gives the state, exit code and signal of
 * DESIGN.md's table, and the server holds exactly the records the client accepted (after a
 * client SIGKILL: everything the daemon acknowledged), none twice. Dead daemons and an
 * unreachable server cost nothing but delay. The kill matrix (SIGKILL of the client and of the
 * daemon) is test/e2e/kill-matrix.ts, run here on SQLite and in lifecycle-postgres.test.ts on
 * PostgreSQL.
 *
 * The SQLite servers here store every upload on their writer thread (TRACKSIDE_INGEST_THREAD=on,
 * src/server/sqlite/ingest-writer.ts), which a server otherwise starts only after 16,384 rows:
 * the other end-to-end tests cover storing on the main thread.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  daemonPid,
  eventually,
  isAlive,
  makeEnv,
  runFixture,
  serverWithEnv,
  showRun,
  spawnedDaemonPids,
  start,
  startServer,
  type TestEnv,
  type TestServer,
} from "../helpers/processes.js";
import { finalRun as finalRunOf, killMatrix, range, storedSteps as storedStepsOf } from "./kill-matrix.js";

let server: TestServer;
let t: TestEnv;

const WRITER_THREAD = { TRACKSIDE_INGEST_THREAD: "on" };

beforeAll(async () => ({ t, server } = await serverWithEnv({ env: WRITER_THREAD })));
afterAll(() => server?.stop());

const FIXTURES = join(import.meta.dirname, "../fixtures");

const storedSteps = (path: string, srv: TestServer = server): Promise<number[]> => storedStepsOf(t, srv, path);
const finalRun = (path: string): Promise<Record<string, unknown>> => finalRunOf(t, path);

describe("exit paths", () => {
  it.each([
    ["drain", { state: "finished", exitCode: 0, signal: null }, { code: 0, signal: null }],
    ["finish", { state: "finished", exitCode: 0, signal: null }, { code: 0, signal: null }],
    ["exit0", { state: "finished", exitCode: 0, signal: null }, { code: 0, signal: null }],
    ["exit3", { state: "failed", exitCode: 3, signal: null }, { code: 3, signal: null }],
    ["throw", { state: "failed", exitCode: 1, signal: null }, { code: 1, signal: null }],
    ["reject", { state: "failed", exitCode: 1, signal: null }, { code: 1, signal: null }],
    ["SIGINT", { state: "killed", exitCode: null, signal: "SIGINT" }, { code: null, signal: "SIGINT" }],
    ["SIGTERM", { state: "killed", exitCode: null, signal: "SIGTERM" }, { code: null, signal: "SIGTERM" }],
    ["SIGHUP", { state: "killed", exitCode: null, signal: "SIGHUP" }, { code: null, signal: "SIGHUP" }],
    ["user-handler", { state: "failed", exitCode: 7, signal: null }, { code: 7, signal: null }],
  ])("%s ends the run as DESIGN.md says, with all 100 steps once", async (mode, expected, proc) => {
    const r = await runFixture("exit-path", t.env, [mode]);
    expect({ code: r.code, signal: r.signal }, r.stderr).toEqual(proc);
    const { path } = JSON.parse(r.stdout.split("\n")[0]) as { path: string };
    const run = await finalRun(path);
    expect(run).toMatchObject({ ...expected, historySteps: 100 });
    expect(await storedSteps(path)).toEqual(range(100));
    if (mode === "throw" || mode === "reject") expect(String(run.error)).toContain(`${mode === "throw" ? "thrown" : "rejected"} in ${mode}`);
    if (mode === "user-handler") expect(r.stdout).toContain("user handler ran");
  });
});

// The kill matrix, on SQLite (lifecycle-postgres.test.ts runs it on PostgreSQL): a server of its own.
killMatrix({ name: "SQLite", database: async () => undefined, env: WRITER_THREAD });

describe("signals to the daemon", () => {
  it("SIGINT is ignored: the daemon stays and the run finishes normally", async () => {
    const p = start([join(FIXTURES, "long.mjs"), "2000", "10"], t.env);
    const info = JSON.parse((await p.waitFor(/\{"ready":true.*\}/))[0]) as { path: string; daemon: string };
    const pid = daemonPid(info.daemon);
    process.kill(pid, "SIGINT");
    const done = await p.exited;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).not.toContain("the daemon was lost");
    expect(await finalRun(info.path)).toMatchObject({ state: "finished", historySteps: 2000 });
  });

  it("SIGTERM: the daemon syncs its WALs and leaves without marking the run; the client goes on with a new one", async () => {
    const p = start([join(FIXTURES, "long.mjs"), "3000", "10"], t.env);
    const info = JSON.parse((await p.waitFor(/\{"ready":true.*\}/))[0]) as { path: string; daemon: string };
    const pid = daemonPid(info.daemon);
    await new Promise((r) => setTimeout(r, 200));
    process.kill(pid, "SIGTERM");
    await eventually("the daemon has left", () => (isAlive(pid) ? undefined : true));
    expect((await showRun(info.path, t.env)).state).toBe("running"); // not marked crashed or anything else
    const done = await p.exited;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toContain("the daemon was lost");
    expect(await finalRun(info.path)).toMatchObject({ state: "finished", historySteps: 3000 });
    expect(await storedSteps(info.path)).toEqual(range(3000));
  });
});

describe("an unreachable server", () => {
  it("costs only delay: stopped for 10 s mid-run and restarted, the run completes with every step once", async () => {
    const env = makeEnv({ HOME: t.home });
    const own = await startServer(env.env);
    env.env.TRACKSIDE_BASE_URL = own.url;
    const p = start([join(FIXTURES, "long.mjs"), "400", "50"], env.env);
    await p.waitFor(/\{"ready":true.*\}/);
    await own.stop();
    const stoppedAt = Date.now();
    await new Promise((r) => setTimeout(r, 10_000)); // the outage itself, not a synchronisation
    const back = await startServer(env.env, { port: own.port, dataDir: own.dataDir });
    try {
      const done = await p.exited;
      expect(done.code, done.stderr).toBe(0);
      expect(Date.now() - stoppedAt).toBeGreaterThan(10_000);
      const info = JSON.parse(done.stdout.split("\n")[0]) as { path: string };
      expect(JSON.parse(done.stdout.trim().split("\n").pop()!)).toMatchObject({ state: "finished", synced: true });
      expect(done.stderr).toMatch(/finishing run \S+: uploading \d+ records \([\d.]+ MB\) left, \d+ s/);
      const run = await showRun(info.path, env.env);
      expect(run).toMatchObject({ state: "finished", historySteps: 400 });
      expect(await storedSteps(info.path, back)).toEqual(range(400));
    } finally {
      await back.stop();
    }
  }, 90_000);
});

describe("finish() with the server down", () => {
  it("returns within its timeout, says what is pending, and the daemon uploads the rest later", async () => {
    const env = makeEnv({ HOME: t.home, FINISH_TIMEOUT_MS: "1500" });
    const own = await startServer(env.env);
    env.env.TRACKSIDE_BASE_URL = own.url;
    const p = start([join(FIXTURES, "long.mjs"), "300", "20"], env.env);
    const m = await p.waitFor(/\{"ready":true.*\}/);
    const info = JSON.parse(m[0]) as { path: string; daemon: string };
    await own.stop();
    const stoppedAt = Date.now();
    const done = await p.exited;
    expect(done.code, done.stderr).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(15_000);
    expect(JSON.parse(done.stdout.trim().split("\n").pop()!)).toMatchObject({ state: "finished", synced: false });
    expect(done.stderr).toMatch(/\d+ records \([\d.]+ MB\) not uploaded yet; the daemon keeps trying in the background/);
    expect(done.stderr).toContain(`check with: trackside runs show ${info.path}`);
    const pid = daemonPid(info.daemon);
    expect(isAlive(pid)).toBe(true); // it holds the data
    const back = await startServer(env.env, { port: own.port, dataDir: own.dataDir });
    try {
      const run = await eventually("the daemon uploads the rest", async () => {
        const v = await showRun(info.path, env.env);
        return v.state === "finished" && v.historySteps === 300 ? v : undefined;
      }, 60_000);
      expect(run.exitCode).toBe(0);
      expect(await storedSteps(info.path, back)).toEqual(range(300));
      await eventually("the daemon leaves once all is uploaded", () => (isAlive(pid) ? undefined : true), 15_000);
    } finally {
      await back.stop();
    }
  }, 120_000);
});

describe("no process left behind", () => {
  it("a spawned daemon ends after its client, whatever the client's ending", async () => {
    const env = makeEnv({ HOME: t.home, TRACKSIDE_BASE_URL: server.url });
    const r = await runFixture("exit-path", env.env, ["throw"]);
    expect(r.code).toBe(1);
    const pids = spawnedDaemonPids(env.socketDir);
    expect(pids).toHaveLength(1);
    await eventually("the daemon has exited", () => (isAlive(pids[0]) ? undefined : true), 15_000);
  });
});
