/**
 * Finds the daemon to talk to, or starts one. TRACKSIDE_DAEMON names a daemon to use (a parent
 * process's, or a standalone `trackside daemon`); otherwise the first init() of a process tree
 * spawns one, detached in its own session so that Ctrl-C in the terminal does not reach it, and
 * exports its address in TRACKSIDE_DAEMON so that child processes share it.
 *
 * Handshake: the daemon binds its socket, then writes a ready file (tmp + rename, so it is never
 * read half-written). We poll for it, fail at once if the daemon exits, and give up after the
 * timeout with a clear error.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { errors, socketDir } from "../protocol/index.js";
import { debug } from "./notices.js";

const POLL_MS = 5;
/** Marks TRACKSIDE_DAEMON as set by trackside itself (so a vanished daemon may be replaced). */
const SPAWNED_MARK = "TRACKSIDE_DAEMON_SPAWNED";

export interface DaemonAddress {
  address: string;
  spawned: boolean;
}

/** The daemon named by the environment, if it is one we can use. */
export function daemonFromEnv(env: NodeJS.ProcessEnv = process.env): DaemonAddress | null {
  const address = env.TRACKSIDE_DAEMON;
  if (!address) return null;
  if (!/^(ipc|tcp):\/\//.test(address)) throw errors.invalidOption("TRACKSIDE_DAEMON", address, "ipc:///PATH or tcp://HOST:PORT#TOKEN");
  const spawned = env[SPAWNED_MARK] === address;
  // A spawned daemon removes its socket when it leaves: then this tree needs a new one.
  if (spawned && address.startsWith("ipc://") && !existsSync(address.slice("ipc://".length))) return null;
  return { address, spawned };
}

export async function spawnDaemon(timeoutMs: number): Promise<DaemonAddress> {
  const dir = socketDir();
  const name = `d-${process.pid}-${randomBytes(4).toString("hex")}`;
  const readyFile = join(dir, `${name}.ready`);
  const logFile = join(dir, `${name}.log`);
  const main = fileURLToPath(new URL("../daemon/main.js", import.meta.url));
  const out = openSync(logFile, "a", 0o600);
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // a debugger or loader meant for the user's program is not for the daemon
  // msgpackr's native add-on speeds up decoding strings, which the daemon hardly does; not
  // loading it saves ~10 ms of every cold start.
  env.MSGPACKR_NATIVE_ACCELERATION_DISABLED = "true";
  const child = spawn(
    process.execPath,
    [main, "--listen", `ipc://${join(dir, `${name}.sock`)}`, "--ready-file", readyFile, "--spawned", "--log-file", logFile],
    { detached: true, stdio: ["ignore", out, out], env },
  );
  closeSync(out);
  let exited: string | null = null;
  child.once("exit", (code, signal) => (exited = signal ? `it was killed by ${signal}` : `it exited with code ${code}`));
  child.once("error", (err) => (exited = `it could not be started (${err.message})`));
  child.unref();

  const deadline = Date.now() + timeoutMs;
  while (!existsSync(readyFile)) {
    if (exited) throw errors.daemonStart(exited, logFile);
    if (Date.now() > deadline) {
      child.kill("SIGTERM");
      throw errors.daemonStart(`no ready signal within ${timeoutMs} ms`, logFile);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  const ready = JSON.parse(readFileSync(readyFile, "utf8")) as { address: string; pid: number };
  rmSync(readyFile, { force: true });
  debug("daemon %d ready at %s", ready.pid, ready.address);
  process.env.TRACKSIDE_DAEMON = ready.address;
  process.env[SPAWNED_MARK] = ready.address;
  return { address: ready.address, spawned: true };
}
