/**
 * The daemon's process entry. Clients spawn its bundle as `node dist/daemon/main.cjs --listen
 * ipc://... --ready-file F --spawned --log-file L`; `trackside daemon` runs it standalone
 * through `runDaemon()`. A TCP daemon's token never comes on the command line, which every user
 * of the machine can read (/proc/PID/cmdline): it comes from TRACKSIDE_DAEMON_TOKEN or a file
 * only its owner can read (--token-file), or is made at random.
 * Kept free of heavy imports: its start-up time is part of every cold `init()`.
 */
import { readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import pino from "pino";
import { ALREADY_RUNNING_EXIT, ensurePrivateDir, errors, isTracksideError, tracksideHome } from "../protocol/index.js";
import { Daemon } from "./daemon.js";


export interface RunDaemonOptions {
  listen: string;
  readyFile?: string;
  spawned?: boolean;
  /** The TCP daemon's token (from TRACKSIDE_DAEMON_TOKEN); tokenFile wins over it. */
  token?: string;
  /** A file (mode 0600, the user's own) that holds the TCP daemon's token. */
  tokenFile?: string;
  logFile?: string;
}

/** A shorter token is guessable in the time a daemon runs; the random one is 24 characters. */
const MIN_TOKEN_LENGTH = 16;

/**
 * The token in `file`: a regular file of this user that no one else may read (it would be as
 * readable as a command line otherwise), its first line.
 */
export function readTokenFile(file: string): string {
  const bad = (why: string) => errors.invalidOption("--token-file", file, `a file of yours that only you can read (chmod 600), holding the token: ${why}`);
  let st;
  try {
    st = statSync(file);
  } catch (err) {
    throw bad((err as NodeJS.ErrnoException).code ?? (err as Error).message);
  }
  if (!st.isFile()) throw bad("it is not a regular file");
  if (typeof process.getuid === "function" && st.uid !== process.getuid()) throw bad("it belongs to another user");
  if ((st.mode & 0o077) !== 0) throw bad(`its mode is ${(st.mode & 0o777).toString(8)}, so others may read it`);
  return readFileSync(file, "utf8").split("\n")[0].trim();
}

/** Starts a daemon and resolves with it once it listens; SIGTERM closes it gracefully. */
export async function runDaemon(opts: RunDaemonOptions): Promise<{ daemon: Daemon; address: string; token: string | undefined }> {
  const listen = opts.listen;
  let token = opts.tokenFile ? readTokenFile(opts.tokenFile) : opts.token || undefined;
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
    throw errors.invalidOption(opts.tokenFile ? "--token-file" : "TRACKSIDE_DAEMON_TOKEN", "(not shown)", `a token of at least ${MIN_TOKEN_LENGTH} characters`);
  }
  if (listen.startsWith("ipc://")) {
    ensurePrivateDir(dirname(listen.slice("ipc://".length)));
  } else if (listen.startsWith("tcp://")) {
    // Anyone who can reach a TCP port could write into runs: a token is not optional there.
    // node:crypto is loaded only here, not at every start of a spawned daemon.
    token ??= (await import("node:crypto")).randomBytes(18).toString("base64url");
  } else {
    throw errors.invalidOption("--listen", listen, "ipc:///PATH or tcp://HOST:PORT");
  }
  const logFile = opts.logFile ?? join(tracksideHome(), "logs", "daemon.log");
  const destination = pino.destination({ dest: logFile, mkdir: true, sync: false });
  const opened = new Promise<void>((resolve) => destination.once("ready", () => resolve()).once("error", () => resolve()));
  const log = pino({ base: { pid: process.pid } }, destination);
  const daemon = new Daemon({ listen, log, readyFile: opts.readyFile, spawned: opts.spawned, token });
  // Ctrl-C in the user's terminal must never take the daemon down with the runs it holds.
  process.on("SIGINT", () => log.info("SIGINT ignored"));
  process.on("SIGTERM", () => void daemon.close("SIGTERM"));
  process.on("SIGHUP", () => log.info("SIGHUP ignored"));
  let address: string;
  try {
    address = await daemon.start();
  } catch (err) {
    // pino writes its file out synchronously at exit, which throws while the file is still being
    // opened ("sonic boom is not ready yet"): a daemon that fails at once (another one listens
    // at its address) lets the opening finish before its caller exits.
    await opened;
    throw err;
  }
  void daemon.closed.then(() => {
    log.flush();
    // Leave once pending I/O (log flush) is done; nothing else should hold the loop.
    setTimeout(() => process.exit(0), 50).unref();
  });
  return { daemon, address, token };
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const { values } = parseArgs({
    options: {
      listen: { type: "string" },
      "ready-file": { type: "string" },
      spawned: { type: "boolean", default: false },
      "token-file": { type: "string" },
      "log-file": { type: "string" },
    },
  });
  if (!values.listen) {
    process.stderr.write("usage: main.js --listen ipc:///PATH [--ready-file F] [--spawned] [--token-file F] [--log-file F] (a TCP token also from TRACKSIDE_DAEMON_TOKEN)\n");
    process.exit(2);
  }
  runDaemon({
    listen: values.listen,
    readyFile: values["ready-file"],
    spawned: values.spawned,
    token: process.env.TRACKSIDE_DAEMON_TOKEN,
    tokenFile: values["token-file"],
    logFile: values["log-file"],
  }).catch((err: unknown) => {
    process.stderr.write(`trackside daemon: ${isTracksideError(err) ? `${err.code}: ` : ""}${(err as Error).message}\n`);
    process.exit(isTracksideError(err, "TRK_ERR_DAEMON_RUNNING") ? ALREADY_RUNNING_EXIT : 1);
  });
}
