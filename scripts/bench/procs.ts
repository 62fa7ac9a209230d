/**
 * Processes for the end-to-end benchmarks: a `trackside server` child on a loopback port with its
 * own HOME and data directory, an environment for client processes that points at it (own socket
 * and run directories, so each probe spawns its own daemon), and the clean-up of the daemons those
 * probes spawned. Nothing is left running: every process started here is waited for or killed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readCredential } from "../../src/protocol/local-config.js";
import { isProcessAlive } from "../../src/protocol/process-alive.js";

const CLI = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
/** The `trackside` command, which starts servers as users get them: with V8's GC mode for the machine's cores. */
const COMMAND = fileURLToPath(new URL("../../../bin/trackside", import.meta.url));
/**
 * Node.js options for the server processes only, from BENCH_SERVER_NODE_ARGS (split on spaces):
 * `--cpu-prof --cpu-prof-dir=/tmp/prof` profiles the servers of a benchmark, which NODE_OPTIONS
 * cannot (Node refuses --cpu-prof there), without profiling the benchmark's own process.
 * BENCH_SERVER_STDOUT names a file that gets the servers' stdout (`--trace-gc` writes there).
 * Given options, the servers are Node.js with exactly those (not bin/trackside's choice: add
 * --single-threaded-gc to them to compare); without, they are started by bin/trackside.
 */
const SERVER_NODE_ARGS = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(" ").filter((a) => a !== "");

export interface BenchServer {
  url: string;
  apiKey: string;
  user: string;
  home: string;
  pid: number;
  /** SIGTERM, then waits for the process to exit (SIGKILL after 10 s). */
  close(): Promise<void>;
}

/** Resolves when the child has exited; kills it with `signal` first if it is still running. */
export function stop(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM", graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

/**
 * `trackside server --port 0` in a child process; its bootstrap writes the key under `home`.
 * `database`: a PostgreSQL URL (`--database`); `home`: share one with another replica of the
 * same database (the second finds the local user there and its key works on both); `env`: more
 * environment for the server (TRACKSIDE_INGEST_THREAD, TRACKSIDE_SINGLE_THREADED_GC).
 */
export async function startServerProcess(root: string, opts: { database?: string; home?: string; env?: NodeJS.ProcessEnv } = {}): Promise<BenchServer> {
  const home = opts.home ?? mkdtempSync(join(root, "home-"));
  const dataDir = mkdtempSync(join(home, "server-"));
  const env = { ...process.env, ...opts.env, HOME: home };
  const args = ["server", "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir, ...(opts.database ? ["--database", opts.database] : [])];
  const [program, argv] = SERVER_NODE_ARGS.length > 0 ? [process.execPath, [...SERVER_NODE_ARGS, CLI, ...args]] : [COMMAND, args];
  const child = spawn(program, argv, { env, stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        child.stdout!.off("data", onData);
        resolve(m[1]);
      }
    };
    child.stdout!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`trackside server exited with ${code}: ${err}`)));
  });
  if (process.env.BENCH_SERVER_STDOUT) child.stdout!.pipe(createWriteStream(process.env.BENCH_SERVER_STDOUT));
  else child.stdout!.resume();
  const cred = readCredential(url, { HOME: home }) ?? (opts.home ? readAnyCredential(home) : undefined);
  if (!cred) {
    await stop(child);
    throw new Error(`no credential for ${url} under ${home}`);
  }
  return { url, apiKey: cred.apiKey, user: cred.user, home, pid: child.pid!, close: () => stop(child) };
}

/** The first credential under `home` (a replica started after another reuses its key). */
function readAnyCredential(home: string): { apiKey: string; user: string } | undefined {
  const file = join(home, ".trackside", "credentials");
  try {
    const all = JSON.parse(readFileSync(file, "utf8")) as Record<string, { apiKey: string; user: string }>;
    return Object.values(all)[0];
  } catch {
    return undefined;
  }
}

/**
 * The environment of a client process of `server`: its own socket directory (so the probe's first
 * init() spawns a fresh daemon there) and run directory, online against the server, silent.
 */
export function clientEnv(server: BenchServer, root: string, extra: NodeJS.ProcessEnv = {}): { env: NodeJS.ProcessEnv; socketDir: string } {
  const socketDir = mkdtempSync(join(root, "sock-"));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: server.home,
    TRACKSIDE_SOCKET_DIR: socketDir,
    TRACKSIDE_DIR: mkdtempSync(join(root, "runs-")),
    TRACKSIDE_BASE_URL: server.url,
    TRACKSIDE_API_KEY: server.apiKey,
    TRACKSIDE_MODE: "online",
    TRACKSIDE_SILENT: "1",
    ...extra,
  };
  // This process's own daemon (from the in-process benchmarks) is not the probes'.
  delete env.TRACKSIDE_DAEMON;
  delete env.TRACKSIDE_DAEMON_SPAWNED;
  delete env.NODE_OPTIONS;
  return { env, socketDir };
}

/** Pids of the daemons spawned with this socket directory: the `pid` of each `d-*.log`'s first line, else /proc. */
export function daemonPids(socketDir: string): number[] {
  const pids = new Set<number>();
  for (const f of readdirSync(socketDir)) {
    if (!/^d-.*\.log$/.test(f)) continue;
    const first = readFileSync(join(socketDir, f), "utf8").split("\n", 1)[0];
    try {
      const pid = (JSON.parse(first) as { pid?: number }).pid;
      if (typeof pid === "number") pids.add(pid);
    } catch {
      // not written yet: /proc below
    }
  }
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8");
      if (cmd.includes("daemon/main.cjs") && cmd.includes(`ipc://${socketDir}/`)) pids.add(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return [...pids];
}

/** The one daemon of this socket directory, waiting up to `timeoutMs` for it to appear. */
export async function daemonPid(socketDir: string, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = daemonPids(socketDir).filter(isProcessAlive);
    if (pids.length === 1) return pids[0];
    if (pids.length > 1) throw new Error(`several daemons in ${socketDir}: ${pids.join(", ")}`);
    if (Date.now() > deadline) throw new Error(`no daemon in ${socketDir}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Sends `sig` to `pid`, which may have exited since it was found alive. */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

/**
 * Waits for the daemons of these socket directories to leave by themselves (a spawned daemon
 * exits once its clients are gone and its runs uploaded), then terminates any still there. With
 * `timeoutMs` 0 they are terminated at once, as expected (the daemon of this very process).
 */
export async function reapDaemons(socketDirs: string[], timeoutMs = 10_000): Promise<void> {
  const pids = socketDirs.flatMap(daemonPids);
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isProcessAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const left = pids.filter(isProcessAlive);
  if (left.length === 0) return;
  if (timeoutMs > 0) process.stderr.write(`bench: terminating daemons still running: ${left.join(", ")}\n`);
  for (const pid of left) signal(pid, "SIGTERM");
  const hard = Date.now() + 5000;
  while (left.some(isProcessAlive) && Date.now() < hard) await new Promise((r) => setTimeout(r, 20));
  for (const pid of left.filter(isProcessAlive)) signal(pid, "SIGKILL");
}

/** A field of /proc/<pid>/status (VmRSS, VmHWM) in MB (10^6 bytes), or NaN if the process is gone. */
export function procStatusMb(pid: number, field: "VmRSS" | "VmHWM"): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? (Number(m[1]) * 1024) / 1e6 : NaN;
  } catch {
    return NaN;
  }
}

/** A child process's stdout, split into lines as they come. */
export function lines(child: ChildProcess): AsyncIterator<string> {
  const queue: string[] = [];
  const waiting: ((r: IteratorResult<string>) => void)[] = [];
  let buf = "";
  let done = false;
  child.stdout!.on("data", (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiting.shift();
      if (w) w({ value: line, done: false });
      else queue.push(line);
    }
  });
  child.once("exit", () => {
    done = true;
    for (const w of waiting.splice(0)) w({ value: undefined, done: true });
  });
  return {
    next: () =>
      new Promise((resolve) => {
        if (queue.length) resolve({ value: queue.shift()!, done: false });
        else if (done) resolve({ value: undefined, done: true });
        else waiting.push(resolve);
      }),
  };
}

/** Runs `node script args` to completion and returns its last stdout line, parsed as JSON. */
export async function runProbe<T>(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<T> {
  const child = spawn(process.execPath, [script, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  if (code !== 0) throw new Error(`${script} exited with ${code}: ${err}`);
  return JSON.parse(out.trim().split("\n").pop()!) as T;
}

/**
 * The raw-transport baseline's receiving end (raw-sink.ts), bound at `address`, once it has said
 * so; rejects if it exits first. The caller kills it.
 */
export async function startRawSink(address: string): Promise<ChildProcess> {
  const sink = spawn(process.execPath, [fileURLToPath(new URL("./raw-sink.js", import.meta.url)), address], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    sink.stdout!.once("data", () => resolve());
    sink.once("error", reject);
    sink.once("exit", (code, sig) => reject(new Error(`the raw sink exited before it was ready (${code ?? sig})`)));
  });
  return sink;
}

export function benchRoot(name: string): string {
  return mkdtempSync(join(tmpdir(), `trk-bench-${name}-`));
}
