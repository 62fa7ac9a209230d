/**
 * `trackside server`: the embedded tracking server in the foreground. It logs to
 * <data-dir>/logs/server.log; the terminal gets one line saying where it listens (and one more
 * when, on a shared database, no key was written to the credentials file), and the
 * process ends cleanly on Ctrl-C or SIGTERM (the database is closed, the log flushed); one that
 * comes while the server is still starting ends it at once, by that signal.
 */
import { writeSync } from "node:fs";
import type { Command } from "commander";
import { errors } from "../protocol/errors.js";
import { DEFAULT_HOST, DEFAULT_PORT, defaultServerDataDir } from "../protocol/local-config.js";
import {
  DEFAULT_HEARTBEAT_TIMEOUT_S,
  describeArtifactStore,
  MAX_HEARTBEAT_TIMEOUT_S,
  parseArtifactStore,
  parseDatabaseUrl,
  parsePublicUrl,
  redactDatabaseUrl,
  startServer,
  type IngestThreadMode,
  type RunningServer,
  type StartServerOptions,
  withoutCredentialsNotice,
} from "../server/index.js";
import { stdoutIo, type CommandIo } from "./output.js";

interface ServerOptions {
  host: string;
  port: string;
  dataDir?: string;
  database?: string;
  artifactStore?: string;
  heartbeatTimeout: string;
  publicUrl?: string;
  maxConnectionsPerClient?: string;
  maxStreamsPerClient?: string;
}

/** A cap given on the command line: a whole number from 1. */
function parseCap(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw errors.invalidOption(flag, value, "a whole number from 1");
  return n;
}

/**
 * An environment variable that takes auto (unset or empty too), on or off: TRACKSIDE_INGEST_THREAD,
 * and TRACKSIDE_SINGLE_THREADED_GC (bin/trackside acts on it before Node.js starts, a V8 flag
 * counting only on Node.js's command line; here it is checked, so that a typo is not silently auto).
 */
function autoOnOff(variable: string): "auto" | "on" | "off" {
  const value = process.env[variable] ?? "";
  if (value === "") return "auto";
  if (value !== "auto" && value !== "on" && value !== "off") throw errors.invalidOption(variable, value, "auto, on or off");
  return value;
}

/** TRACKSIDE_INGEST_THREAD's values as the store's modes. */
const INGEST_THREAD_MODES: Record<"auto" | "on" | "off", IngestThreadMode> = { auto: "auto", on: "always", off: "never" };

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw errors.invalidOption("--port", value, "a port number from 0 to 65535");
  return port;
}

/** Seconds, above 0: a fraction is allowed (tests use short timeouts), a day is the most. */
function parseHeartbeatTimeout(value: string): number {
  const seconds = Number(value);
  if (value.trim() === "" || !Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_HEARTBEAT_TIMEOUT_S) {
    throw errors.invalidOption("--heartbeat-timeout", value, `seconds above 0, at most ${MAX_HEARTBEAT_TIMEOUT_S}`);
  }
  return seconds;
}

/** Starts the server, turning the usual socket failures into coded errors that say what to do. */
async function start(options: StartServerOptions & { host: string; port: number }): Promise<RunningServer> {
  const { host, port } = options;
  try {
    return await startServer(options);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") {
      throw errors.invalidOption("--port", port, `a free port (${host}:${port} is in use: is a trackside server already running?)`);
    }
    if (code === "EACCES") throw errors.invalidOption("--port", port, "a port this user may open (above 1023)");
    if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND") throw errors.invalidOption("--host", host, "an address of this machine");
    throw err;
  }
}

/**
 * Ctrl-C and SIGTERM, listened for from before the start: a signal that came between the start
 * and its listener (a service manager stopping a server that just printed its address) killed
 * the process as it stood, without closing the database or the log. Until `started()` a signal
 * ends the process at once, by that same signal (a service manager counts that as a clean stop,
 * an exit status of 143 as a failure): nothing is served yet, and a start that waits on a
 * database that does not answer must not hold it. After, `stop` resolves on the first signal,
 * and a second Ctrl-C while closing exits at once.
 */
function stopSignals(): { started(): void; stop: Promise<NodeJS.Signals> } {
  let running = false;
  let resolveStop: (signal: NodeJS.Signals) => void = () => undefined;
  const stop = new Promise<NodeJS.Signals>((resolve) => (resolveStop = resolve));
  const onSignal = (signal: "SIGINT" | "SIGTERM") => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    if (!running) {
      // Written at once (stderr may be asynchronous, and this process ends on the next line).
      writeSync(2, `trackside: ${signal} before the server had started: stopped\n`);
      process.kill(process.pid, signal);
      return;
    }
    // Closing waits for in-flight requests; a second Ctrl-C means "now".
    process.once("SIGINT", () => process.exit(130));
    resolveStop(signal);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return { started: () => (running = true), stop };
}

/**
 * TRACKSIDE_SINGLE_THREADED_GC asked for V8's --single-threaded-gc, which only Node.js's command
 * line can give (bin/trackside does): say so when this process was started without it.
 */
function singleThreadedGcNotice(value: "auto" | "on" | "off"): string | null {
  if (value !== "on" || process.execArgv.some((a) => a === "--single-threaded-gc" || a === "--single_threaded_gc")) return null;
  return "trackside server: TRACKSIDE_SINGLE_THREADED_GC=on has no effect here: Node.js was started without --single-threaded-gc (start the server with the `trackside` command, or run `node --single-threaded-gc .../main.js server`)";
}

/**
 * Adds `trackside server [--host] [--port] [--data-dir] [--database] [--artifact-store] [--heartbeat-timeout] [--public-url]` to a commander program.
 *
 * @example
 * registerServerCommand(program); // trackside server --port 0 --data-dir /tmp/ts
 */
export function registerServerCommand(program: Command, io: CommandIo = stdoutIo): void {
  program
    .command("server")
    .description("run the tracking server in the foreground (SQLite, or PostgreSQL with --database; logs under <data-dir>/logs)")
    .option("--host <host>", "interface to listen on (0.0.0.0 for every interface)", DEFAULT_HOST)
    .option("--port <port>", "port to listen on (0 picks a free one)", String(DEFAULT_PORT))
    .option("--data-dir <dir>", "database and logs (default: ~/.trackside/server)")
    .option(
      "--database <url>",
      "a PostgreSQL database (postgresql://user:password@host:5432/db) instead of SQLite in the data dir; any number of servers may share it (default: TRACKSIDE_DATABASE_URL)",
    )
    .option(
      "--artifact-store <store>",
      "where artifact files live: s3://bucket/prefix (an S3-compatible bucket; endpoint and keys from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION) or an absolute directory (default: TRACKSIDE_ARTIFACT_STORE, else <data-dir>/artifacts)",
    )
    .option(
      "--heartbeat-timeout <seconds>",
      "mark a running run crashed after this long without a heartbeat (undone if it turns up again)",
      String(DEFAULT_HEARTBEAT_TIMEOUT_S),
    )
    .option(
      "--public-url <url>",
      "the address people open (https://trackside.example.com): links use it, cookies are Secure when it is https, and other Host headers are refused",
    )
    .option(
      "--max-connections-per-client <n>",
      "open connections from one IP address (default 256; behind a reverse proxy every connection comes from the proxy: raise it to 1024)",
    )
    .option("--max-streams-per-client <n>", "live-event streams of one user, or of one IP address when anonymous (default 16)")
    .action(async (opts: ServerOptions) => {
      const singleThreadedGc = autoOnOff("TRACKSIDE_SINGLE_THREADED_GC");
      const dataDir = opts.dataDir ?? defaultServerDataDir();
      const perClient = parseCap(opts.maxConnectionsPerClient, "--max-connections-per-client");
      const streamsPerClient = parseCap(opts.maxStreamsPerClient, "--max-streams-per-client");
      // An empty TRACKSIDE_DATABASE_URL means unset: SQLite, as without it.
      const database = opts.database ?? (process.env.TRACKSIDE_DATABASE_URL || undefined);
      const artifactOption = opts.artifactStore === undefined ? "TRACKSIDE_ARTIFACT_STORE" : "--artifact-store";
      const artifactStore = opts.artifactStore ?? (process.env.TRACKSIDE_ARTIFACT_STORE || undefined);
      // Checked here, so that a bad value is named by the flag or variable it came from.
      const artifacts = describeArtifactStore(parseArtifactStore(artifactStore, dataDir, artifactOption));
      // The default (<data-dir>/artifacts) goes without saying; another store is named.
      const artifactPart = artifactStore === undefined ? "" : `, artifacts: ${artifacts}`;
      const signals = stopSignals();
      const server = await start({
        host: opts.host,
        port: parsePort(opts.port),
        dataDir,
        ...(database === undefined ? {} : { database: parseDatabaseUrl(database, opts.database === undefined ? "TRACKSIDE_DATABASE_URL" : "--database") }),
        ...(artifactStore === undefined ? {} : { artifactStore }),
        heartbeatTimeoutS: parseHeartbeatTimeout(opts.heartbeatTimeout),
        ingestThread: INGEST_THREAD_MODES[autoOnOff("TRACKSIDE_INGEST_THREAD")],
        ...(opts.publicUrl === undefined ? {} : { publicBaseUrl: parsePublicUrl(opts.publicUrl, "--public-url") }),
        limits: {
          ...(perClient === undefined ? {} : { maxConnectionsPerClient: perClient }),
          ...(streamsPerClient === undefined ? {} : { maxStreamsPerClient: streamsPerClient }),
        },
      });
      signals.started();
      const publicPart = server.publicUrl === server.url ? "" : `, public URL ${server.publicUrl}`;
      const where = database === undefined ? `data: ${server.dataDir}` : `database: ${redactDatabaseUrl(database)}, logs: ${server.dataDir}`;
      io.out(`trackside server listening on ${server.url}${publicPart} (${where}${artifactPart})\n`);
      // A replica on a shared database mints no key for an empty HOME: say so where it is seen.
      const { withoutCredentials, user } = server.bootstrap;
      if (withoutCredentials.length > 0) io.out(`${withoutCredentialsNotice(withoutCredentials, user.name)}\n`);
      const gcNotice = singleThreadedGcNotice(singleThreadedGc);
      if (gcNotice) process.stderr.write(`${gcNotice}\n`);
      await signals.stop;
      await server.close();
    });
}
