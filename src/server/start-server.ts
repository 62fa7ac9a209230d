/**
 * The embedded server as `trackside server` runs it: a SQLite file and a pino log under the
 * data directory, the app on a socket, and the local user's key in the credentials file.
 */
import { chmodSync, mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { pino, type LevelWithSilent } from "pino";
import { DEFAULT_HOST, DEFAULT_PORT, defaultServerDataDir } from "../protocol/local-config.js";
import { PACKAGE_VERSION } from "../protocol/version.js";
import { buildApp } from "./app.js";
import { bootstrapLocalUser } from "./bootstrap.js";
import { Sweeper } from "./liveness.js";
import { SqliteStore } from "./sqlite-store.js";

export interface StartServerOptions {
  /** Interface to listen on; default 127.0.0.1 (this machine only). */
  host?: string;
  /** Port; default 8421; 0 picks a free one (the real one is in `url`). */
  port?: number;
  /** Where trackside.db and logs/ live; default ~/.trackside/server. Made mode 0700. */
  dataDir?: string;
  /** Log level and file; default info, to <dataDir>/logs/server.log (never stdout). */
  log?: { level?: LevelWithSilent; file?: string };
  /** The URL people open, when it differs from the listening address (a proxy, a DNS name). */
  publicBaseUrl?: string;
  /** Seconds without a heartbeat after which a running run is marked crashed; default 120, at most a day. */
  heartbeatTimeoutS?: number;
  /** How often the sweeper looks for such runs, in ms; default 10,000. */
  sweepIntervalMs?: number;
}

export interface RunningServer {
  /** The listening address as a base URL, e.g. http://127.0.0.1:8421. */
  url: string;
  /** Stops listening, then closes the database and flushes the log; idempotent. */
  close(): Promise<void>;
  app: FastifyInstance;
  store: SqliteStore;
  /** Marks runs crashed when their heartbeats stop; close() stops it. */
  sweeper: Sweeper;
  dataDir: string;
  logFile: string;
}

/** `http://host:port`, with IPv6 addresses in brackets. */
function baseUrlOf(host: string, port: number): string {
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/**
 * Starts the embedded tracking server.
 *
 * @example
 * const server = await startServer({ port: 0, dataDir: "/tmp/ts" });
 * console.log(server.url); // http://127.0.0.1:39127
 * await server.close();
 */
export async function startServer(options: StartServerOptions = {}): Promise<RunningServer> {
  const host = options.host ?? DEFAULT_HOST;
  const port = options.port ?? DEFAULT_PORT;
  const dataDir = options.dataDir ?? defaultServerDataDir();
  // The database holds key hashes and private runs: only its owner may open the directory.
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  const logFile = options.log?.file ?? join(dataDir, "logs", "server.log");
  const destination = pino.destination({ dest: logFile, mkdir: true, sync: false });
  const root = pino({ level: options.log?.level ?? "info" }, destination);
  const logger = root.child({ component: "server" });

  let store: SqliteStore | null = null;
  let app: FastifyInstance | null = null;
  let sweeper: Sweeper | null = null;
  let url = "";
  const shutdown = async () => {
    // First the sweeper (waiting for a sweep under way), so nothing writes to a closed store.
    await sweeper?.stop();
    await app?.close();
    await store?.close();
    // end() flushes what is buffered (waiting for the file to open if need be), then closes it.
    await new Promise<void>((resolve) => {
      destination.once("close", resolve);
      destination.once("error", () => resolve());
      destination.end();
    });
  };

  try {
    store = SqliteStore.open(join(dataDir, "trackside.db"));
    // Started before listen, so a bad timeout or interval fails the start, not a later sweep.
    sweeper = Sweeper.start({
      store,
      heartbeatTimeoutS: options.heartbeatTimeoutS,
      sweepIntervalMs: options.sweepIntervalMs,
      logger: root.child({ component: "sweeper" }),
    });
    app = buildApp({ store, logger: root.child({ component: "http" }), publicBaseUrl: () => options.publicBaseUrl ?? url });
    await app.listen({ host, port });
    const actualPort = (app.server.address() as AddressInfo).port;
    url = baseUrlOf(host, actualPort);
    // The default client base URL is 127.0.0.1; the address actually used is written as well.
    const boot = await bootstrapLocalUser(store, [baseUrlOf(DEFAULT_HOST, actualPort), url]);
    logger.info(
      {
        url,
        dataDir,
        version: PACKAGE_VERSION,
        user: boot.user.name,
        createdUser: boot.createdUser,
        wroteCredentials: boot.wroteCredentials,
        heartbeatTimeoutS: sweeper.heartbeatTimeoutS,
        sweepIntervalMs: sweeper.sweepIntervalMs,
      },
      "trackside server listening",
    );
  } catch (err) {
    logger.error({ err }, "trackside server failed to start");
    await shutdown().catch(() => undefined);
    throw err;
  }

  let closing: Promise<void> | null = null;
  return {
    url,
    app,
    store,
    sweeper,
    dataDir,
    logFile,
    close: () => {
      closing ??= (async () => {
        logger.info("trackside server closing");
        await shutdown();
      })();
      return closing;
    },
  };
}
