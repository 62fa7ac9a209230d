/**
 * Finds the daemon to talk to, or starts one. TRACKSIDE_DAEMON names a daemon to use (a
 * standalone `trackside daemon`, or any address the user exports); otherwise every process of a
 * user shares one daemon at a well-known socket in the user's private socket directory, so only
 * the first of many processes pays for starting it, and child processes find it too.
 *
 * The shared daemon is described by its info file (`daemon-pN.json`: address, pid, versions),
 * which it writes once its socket is bound (tmp + rename, never read half-written) and removes
 * when it starts to close. A process that finds no live daemon takes the lock file (O_EXCL, with
 * its pid) and spawns one, detached in its own session so that Ctrl-C in the terminal does not
 * reach it; processes that lose that race wait for the info file. A lock whose owner is gone is
 * stale and removed. The protocol version is part of the names: clients of another protocol
 * version use a daemon of their own.
 */
import { closeSync, existsSync, linkSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { ALREADY_RUNNING_EXIT, PROTOCOL_VERSION, errors, isProcessAlive, packageRoot, socketDir } from "../protocol/index.js";
import { debug } from "./notices.js";

const POLL_MS = 5;
/** No spawn holds the lock this long (the start timeout defaults to 30 s). */
const LOCK_STALE_MS = 120_000;
/** Marks TRACKSIDE_DAEMON as exported by trackside itself (not a daemon the user named). */
const SPAWNED_MARK = "TRACKSIDE_DAEMON_SPAWNED";

/** Eight hex digits that, with the pid beside them, name a file no other process picks. */
function nonce(): string {
  return Math.floor(Math.random() * 2 ** 32).toString(16).padStart(8, "0");
}

export interface DaemonInfo {
  address: string;
  pid: number;
}

/** The daemon the user named in TRACKSIDE_DAEMON, if any (an address trackside exported is not one). */
export function namedDaemon(env: NodeJS.ProcessEnv = process.env): string | null {
  const address = env.TRACKSIDE_DAEMON;
  if (!address || env[SPAWNED_MARK] === address) return null;
  if (!/^(ipc|tcp):\/\//.test(address)) throw errors.invalidOption("TRACKSIDE_DAEMON", address, "ipc:///PATH or tcp://HOST:PORT#TOKEN");
  return address;
}

/** Where the shared daemon of this user (and protocol version) lives, in the socket directory `dir`. */
export function sharedDaemonPaths(dir = socketDir()): { dir: string; sock: string; info: string; lock: string } {
  const base = join(dir, `daemon-p${PROTOCOL_VERSION}`);
  return { dir, sock: `${base}.sock`, info: `${base}.json`, lock: `${base}.lock` };
}

/** The shared daemon, if its info file names a live process that is that daemon. */
export function findSharedDaemon(paths = sharedDaemonPaths()): DaemonInfo | null {
  let info: DaemonInfo;
  try {
    info = JSON.parse(readFileSync(paths.info, "utf8")) as DaemonInfo;
  } catch {
    return null; // none, or one is closing
  }
  // Its socket file must still be there too: a /tmp cleaner may have removed it from under a
  // long-lived daemon, which then serves its own clients on but cannot be reached by new ones.
  return isDaemonProcess(info.pid, info.address) && existsSync(paths.sock) ? info : null;
}

/**
 * Whether `pid` is alive and, for an ipc daemon on Linux, is the process listening at `address`:
 * a daemon that was killed leaves files naming a pid that another process may have been given
 * since (after a reboot, with TRACKSIDE_SOCKET_DIR somewhere that survives it).
 */
export function isDaemonProcess(pid: number, address: string): boolean {
  if (!isProcessAlive(pid)) return false;
  if (process.platform !== "linux" || !address.startsWith("ipc://")) return true;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(address.slice("ipc://".length));
  } catch {
    return false; // gone meanwhile
  }
}

/**
 * The shared daemon: found, or spawned by this process, or by another one that won the race to
 * spawn it. Its address is exported in TRACKSIDE_DAEMON (for the user's child processes and tools).
 */
export async function sharedDaemon(timeoutMs: number): Promise<DaemonInfo> {
  const paths = sharedDaemonPaths();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = findSharedDaemon(paths);
    if (found) return exported(found);
    if (takeLock(paths.lock)) {
      holdingLock = true;
      try {
        // Checked again under the lock: another process may have just finished spawning one.
        const found = findSharedDaemon(paths) ?? (await spawnDaemon(paths, deadline));
        if (found) return exported(found);
        // null: another process's daemon got the socket first; find it on the next round.
      } finally {
        holdingLock = false;
        releaseLock(paths.lock);
      }
    }
    if (Date.now() > deadline) throw errors.daemonStart(`another process held ${paths.lock} for ${timeoutMs} ms without starting it`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function exported(info: DaemonInfo): DaemonInfo {
  process.env.TRACKSIDE_DAEMON = info.address;
  process.env[SPAWNED_MARK] = info.address;
  return info;
}

/** Whether a run of this process holds the lock right now (several may call sharedDaemon at once). */
let holdingLock = false;

/** Removes the lock if it is still ours (a stale-lock breaker may have replaced it meanwhile). */
function releaseLock(lock: string): void {
  try {
    if (Number(readFileSync(lock, "utf8")) === process.pid) rmSync(lock, { force: true });
  } catch {
    // already gone
  }
}

/** O_EXCL create with our pid in it; a lock whose owner has died is removed and taken. */
function takeLock(lock: string): boolean {
  try {
    const fd = openSync(lock, "wx", 0o600);
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  let owner = 0;
  try {
    owner = Number(readFileSync(lock, "utf8")) || 0;
  } catch {
    return false; // just released
  }
  // A lock with no pid yet is one being written right now: give it a second. One older than any
  // spawn may take (its owner killed, its pid given to another process since) is stale too.
  const age = ageMs(lock);
  // Our own pid on a lock we do not hold: a file from before a restart that reused it.
  const stale = owner > 0 ? !isProcessAlive(owner) || age > LOCK_STALE_MS || (owner === process.pid && !holdingLock) : age > 1000;
  if (stale) breakLock(lock, owner);
  return false;
}

/**
 * Removes a stale lock without removing a fresh one: between reading the stale lock and removing
 * it, another process may have broken it and taken a new one. The lock is moved aside (only one
 * process can move a given file) and put back if what was moved is not the lock found stale.
 */
function breakLock(lock: string, staleOwner: number): void {
  const aside = `${lock}.${process.pid}-${nonce()}`;
  try {
    renameSync(lock, aside);
  } catch {
    return; // someone else moved it first
  }
  let moved = 0;
  try {
    moved = Number(readFileSync(aside, "utf8")) || 0;
  } catch {
    // unreadable: treat it as the stale one
  }
  if (moved !== staleOwner) {
    try {
      linkSync(aside, lock); // fails if yet another lock is there: that one stands
    } catch {
      // then the daemon itself refuses to bind over a live one (daemon.ts)
    }
  } else {
    debug("removed stale daemon lock of pid %d", staleOwner);
  }
  rmSync(aside, { force: true });
}

function ageMs(file: string): number {
  try {
    return Date.now() - statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * Spawns the shared daemon (the caller holds the lock) and waits for its info file; null if it
 * found another daemon already listening (the lock can be broken by two processes at once).
 * Files a dead daemon left are not removed here: its info names a dead pid, and the new daemon
 * binds over its socket file only when nothing answers there.
 */
async function spawnDaemon(paths: ReturnType<typeof sharedDaemonPaths>, deadline: number): Promise<DaemonInfo | null> {
  const logFile = join(paths.dir, `d-${process.pid}-${nonce()}.log`);
  // The daemon as one bundle (rolldown.config.mjs): loading ~40 modules one by one cost ~25 ms of
  // every start (spawn-to-ready, 14 interleaved starts each: 136 -> 110 ms median).
  const root = packageRoot();
  if (!root) throw errors.daemonStart("trackside's package directory (with dist/daemon/main.cjs) was not found beside this module");
  const main = join(root, "dist", "daemon", "main.cjs");
  const out = openSync(logFile, "a", 0o600);
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // a debugger or loader meant for the user's program is not for the daemon
  delete env.TRACKSIDE_DAEMON;
  delete env[SPAWNED_MARK];
  // The daemon serves every process of this user, not only this one: nothing of this process's
  // environment that would change how it treats the others. A token is for standalone daemons
  // (the socket directory is private), and GIT_DIR & co. would point every run's git probe here.
  delete env.TRACKSIDE_DAEMON_TOKEN;
  for (const key of Object.keys(env)) if (key.startsWith("GIT_")) delete env[key];
  // Node.js 20 reads and parses NODE_EXTRA_CA_CERTS at start-up, whatever the process does:
  // measured with a 215 KB bundle, 35 -> 110 ms per start. The daemon needs those certificates
  // only for an https:// server, and each run's client sends its own (RunOpenSettings.caFile).
  delete env.NODE_EXTRA_CA_CERTS;
  // node:child_process (with net and dgram) is loaded here, not at import: only the process that
  // starts the daemon needs it, and loading it is ~3 ms of every import. Synchronously: the
  // spawn happens before sharedDaemon() first yields (connectDaemon() relies on that).
  const { spawn } = createRequire(import.meta.url)("node:child_process") as typeof import("node:child_process");
  const child = spawn(
    process.execPath,
    [main, "--listen", `ipc://${paths.sock}`, "--ready-file", paths.info, "--spawned", "--log-file", logFile],
    // cwd: not the first client's working directory, which the daemon would otherwise hold (it
    // outlives that process, and every path it gets is absolute).
    { detached: true, stdio: ["ignore", out, out], env, cwd: paths.dir },
  );
  closeSync(out);
  let exited: string | null = null;
  let lostRace = false;
  child.once("exit", (code, signal) => {
    lostRace = code === ALREADY_RUNNING_EXIT;
    exited = signal ? `it was killed by ${signal}` : `it exited with code ${code}`;
  });
  child.once("error", (err) => (exited = `it could not be started (${err.message})`));
  child.unref();

  for (;;) {
    const info = findSharedDaemon(paths);
    if (info && info.pid === child.pid) {
      debug("daemon %d ready at %s", info.pid, info.address);
      return info;
    }
    if (lostRace) {
      rmSync(logFile, { force: true });
      return null;
    }
    if (exited) throw errors.daemonStart(exited, logFile);
    if (Date.now() > deadline) {
      child.kill("SIGTERM");
      throw errors.daemonStart("no ready signal in time", logFile);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
