/**
 * The daemon's process entry. Clients spawn its bundle as `node dist/daemon/main.cjs --listen
 * ipc://... --ready-file F --spawned --log-file L`; `trackside daemon` runs it standalone
 * through `runDaemon()`.
 * Kept free of heavy imports: its start-up time is part of every cold `init()`.
 */
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
  token?: string;
  logFile?: string;
}

/** Starts a daemon and resolves with it once it listens; SIGTERM closes it gracefully. */
export async function runDaemon(opts: RunDaemonOptions): Promise<{ daemon: Daemon; address: string; token: string | undefined }> {
  const listen = opts.listen;
  let token = opts.token;
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
      token: { type: "string" },
      "log-file": { type: "string" },
    },
  });
  if (!values.listen) {
    process.stderr.write("usage: main.js --listen ipc:///PATH [--ready-file F] [--spawned] [--token T] [--log-file F]\n");
    process.exit(2);
  }
  runDaemon({
    listen: values.listen,
    readyFile: values["ready-file"],
    spawned: values.spawned,
    token: values.token ?? process.env.TRACKSIDE_DAEMON_TOKEN,
    logFile: values["log-file"],
  }).catch((err: unknown) => {
    process.stderr.write(`trackside daemon: ${isTracksideError(err) ? `${err.code}: ` : ""}${(err as Error).message}\n`);
    process.exit(isTracksideError(err, "TRK_ERR_DAEMON_RUNNING") ? ALREADY_RUNNING_EXIT : 1);
  });
}
