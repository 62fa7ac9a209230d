/**
 * Real processes for end-to-end tests: a `trackside server` on a free port, fixture scripts that
 * use the public API, and the CLI. Each test environment has its own HOME, socket directory and
 * run directory. Waits have deadlines and report what they saw.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { WAL_MAGIC, decode, historyRows, isProcessAlive, scanFrames, type RunRecord } from "../../src/protocol/index.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const CLI = join(ROOT, "dist/src/cli/main.js");
const FIXTURES = join(ROOT, "test/fixtures");

export interface TestEnv {
  home: string;
  socketDir: string;
  runDir: string;
  env: NodeJS.ProcessEnv;
}

/** Every environment made in this test file: their daemons are stopped after it (test/helpers/cleanup.ts). */
export const madeEnvs: TestEnv[] = [];

/** A fresh HOME, socket directory and run directory; the environment fixtures and the CLI get. */
export function makeEnv(extra: NodeJS.ProcessEnv = {}): TestEnv {
  const home = mkdtempSync(join(tmpdir(), "trk-home-"));
  const socketDir = mkdtempSync(join(tmpdir(), "trk-sock-"));
  const runDir = mkdtempSync(join(tmpdir(), "trk-runs-"));
  // System sampling is off unless a test turns it on: it is tested on its own, and the suite's
  // many short runs need not each prime systeminformation on a 2-core machine.
  // TMPDIR: the run's temporary root (test/helpers/temp-root.ts), for whatever the processes make.
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, TMPDIR: process.env.TMPDIR, TRACKSIDE_SOCKET_DIR: socketDir, TRACKSIDE_DIR: runDir, TRACKSIDE_STATS_INTERVAL: "0", ...extra };
  const made = { home, socketDir, runDir, env };
  madeEnvs.push(made);
  return made;
}

/**
 * Stops the daemons spawned in an environment. A daemon whose server is gone keeps its data and
 * retries for days, as it should; a test that is over must not leave it running. SIGTERM is the
 * daemon's graceful stop (WALs synced, nothing marked).
 */
export async function stopDaemons(socketDir: string): Promise<void> {
  const pids = spawnedDaemonPids(socketDir).filter((pid) => {
    try {
      // Only that daemon: a pid can be reused by an unrelated process once its owner is gone.
      return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(socketDir);
    } catch {
      return false; // gone
    }
  });
  for (const pid of pids) process.kill(pid, "SIGTERM");
  await eventually("the test's daemons have stopped", () => (pids.some(isAlive) ? undefined : true), 10_000);
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves when `pattern` shows up on stdout or stderr; rejects at the deadline or on exit. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<Finished>;
}

/** Starts `program` (Node.js unless given) with `args`; its output is collected. */
export function start(args: string[], env: NodeJS.ProcessEnv, opts: { detached?: boolean; cwd?: string; program?: string } = {}): Running {
  const child = spawn(opts.program ?? process.execPath, args, { env, cwd: opts.cwd ?? ROOT, stdio: ["ignore", "pipe", "pipe"], detached: opts.detached });
  let out = "";
  let err = "";
  const listeners = new Set<() => void>();
  child.stdout!.on("data", (d: Buffer) => {
    out += d;
    listeners.forEach((l) => l());
  });
  child.stderr!.on("data", (d: Buffer) => {
    err += d;
    listeners.forEach((l) => l());
  });
  const exited = new Promise<Finished>((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout: out, stderr: err })));
  const waitFor = (pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const m = (out + "\n" + err).match(pattern);
        if (m) {
          cleanup();
          resolve(m);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern}\nstdout:\n${out}\nstderr:\n${err}`));
      }, timeoutMs);
      const onExit = (): void => {
        check();
        cleanup();
        reject(new Error(`process exited before ${pattern} appeared\nstdout:\n${out}\nstderr:\n${err}`));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        listeners.delete(check);
        child.off("close", onExit);
      };
      listeners.add(check);
      child.on("close", onExit);
      check();
    });
  return { child, stdout: () => out, stderr: () => err, waitFor, exited };
}

/** Runs test/fixtures/<name>.mjs to its end (deadline 60 s). */
export async function runFixture(name: string, env: NodeJS.ProcessEnv, args: string[] = []): Promise<Finished> {
  const p = start([join(FIXTURES, `${name}.mjs`), ...args], env);
  const timer = setTimeout(() => p.child.kill("SIGKILL"), 60_000);
  const result = await p.exited;
  clearTimeout(timer);
  return result;
}

/** Runs the CLI to its end. */
export async function cli(args: string[], env: NodeJS.ProcessEnv): Promise<Finished> {
  return start([CLI, ...args], env).exited;
}

/** `trackside runs show --json` for a path. */
export async function showRun(path: string, env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  const r = await cli(["runs", "show", path, "--json"], env);
  if (r.code !== 0) throw new Error(`runs show ${path} failed (${r.code}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

export interface TestServer {
  url: string;
  port: number;
  dataDir: string;
  /** The PostgreSQL URL it serves from (`--database`), or undefined: SQLite in dataDir. */
  database: string | undefined;
  running: Running;
  stop(): Promise<void>;
}

export interface ServerOptions {
  port?: number;
  dataDir?: string;
  /** A PostgreSQL URL for `--database`; without it the store is SQLite in dataDir. */
  database?: string;
  /** More options of `trackside server` (`--artifact-store s3://...`). */
  args?: string[];
}

/** A loopback port that nothing listens on: a tracking server that is down. */
export async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/**
 * `trackside server` on a loopback port (a free one by default) with its own data dir, on
 * SQLite or, given `database`, on that PostgreSQL database. The same port, data dir and
 * database start it again on the same store.
 */
export async function startServer(env: NodeJS.ProcessEnv, opts: ServerOptions = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "trk-data-"));
  const database = opts.database === undefined ? [] : ["--database", opts.database];
  const running = start([CLI, "server", "--port", String(opts.port ?? 0), "--data-dir", dataDir, ...database, ...(opts.args ?? [])], env);
  const m = await running.waitFor(/listening on (http:\/\/\S+)/);
  return {
    url: m[1],
    port: Number(new URL(m[1]).port),
    dataDir,
    database: opts.database,
    running,
    async stop() {
      if (running.child.exitCode === null) running.child.kill("SIGTERM");
      await running.exited;
    },
  };
}

/** A fresh environment with its own server (SQLite, or PostgreSQL given `database`), the environment pointing at it: one per test file. */
export async function serverWithEnv(opts: { database?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ t: TestEnv; server: TestServer }> {
  const t = makeEnv();
  Object.assign(t.env, opts.env);
  const server = await startServer(t.env, { database: opts.database });
  t.env.TRACKSIDE_BASE_URL = server.url;
  return { t, server };
}

/** Polls `probe` until it returns a value other than undefined; fails at the deadline with `what`. */
export async function eventually<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not true within ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ""}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const isAlive = isProcessAlive;

/** Sockets of daemons in a socket directory. */
export function daemonSockets(socketDir: string): string[] {
  return readdirSync(socketDir).filter((f) => f.endsWith(".sock"));
}

/** Rows of history the run directory's WAL holds: what the daemon acknowledged. */
export function walHistorySteps(runDir: string): number[] {
  const wal = readdirSync(runDir).find((f) => /^run-.+\.wal$/.test(f));
  if (!wal) return [];
  const buf = readFileSync(join(runDir, wal));
  const steps: number[] = [];
  for (const frame of scanFrames(buf.subarray(WAL_MAGIC.length), WAL_MAGIC.length).frames) {
    for (const r of decode<RunRecord[]>(frame.payload)) if (r.k === "history") for (const row of historyRows(r)) steps.push(row._step);
  }
  return steps;
}

/** The pid of the daemon serving at an ipc address now, from the info file beside its socket. */
export function daemonPid(address: string): number {
  const info = address.slice("ipc://".length).replace(/\.sock$/, ".json");
  return (JSON.parse(readFileSync(info, "utf8")) as { pid: number }).pid;
}

/** Every daemon ever spawned in a socket directory, alive or not: each one's log starts with its pid. */
export function spawnedDaemonPids(socketDir: string): number[] {
  let logs: string[];
  try {
    logs = readdirSync(socketDir).filter((f) => /^d-.+\.log$/.test(f));
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const f of logs) {
    try {
      pids.push((JSON.parse(readFileSync(join(socketDir, f), "utf8").split("\n")[0]) as { pid: number }).pid);
    } catch {
      // nothing logged yet
    }
  }
  return pids;
}
