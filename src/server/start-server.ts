/**
 * The server as `trackside server` runs it: a store (by default the SQLite file under the data
 * directory), a pino log, the sweeper, the app on a socket, and the local user's key in the
 * credentials file. Everything here goes through the `Store` interface, so any backend serves.
 */
import { chmodSync, mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { pino, type LevelWithSilent } from "pino";
import { DEFAULT_HOST, DEFAULT_PORT, defaultServerDataDir } from "../protocol/local-config.js";
import { PACKAGE_VERSION } from "../protocol/version.js";
import { errors } from "../protocol/errors.js";
import { buildApp } from "./http/app.js";
import { bootstrapLocalUser, withoutCredentialsNotice, type BootstrapResult } from "./bootstrap.js";
import { resolveLimits, type ServerLimits } from "./http/limits.js";
import { Sweeper } from "./liveness.js";
import { allowedHosts } from "./http/origin.js";
import type { IngestThreadMode } from "./sqlite/ingest-writer.js";
import { SqliteStore } from "./sqlite/sqlite-store.js";
import { PostgresStore } from "./postgres/postgres-store.js";
import { parseDatabaseUrl, redactDatabaseUrl } from "./postgres/database-url.js";
import type { Store } from "./store/store.js";
import type { BlobStore } from "./blobs/blob-store.js";
import { describeArtifactStore, openBlobStore, parseArtifactStore } from "./blobs/open-blob-store.js";

export interface StartServerOptions {
  /** Interface to listen on; default 127.0.0.1 (this machine only). */
  host?: string;
  /** Port; default 8421; 0 picks a free one (the real one is in `url`). */
  port?: number;
  /** Where trackside.db and logs/ live; default ~/.trackside/server. Made mode 0700. */
  dataDir?: string;
  /**
   * A PostgreSQL URL (postgresql://user:password@host/db): the store is that database, shared
   * with any other server process started on it, instead of <dataDir>/trackside.db (the logs
   * stay under dataDir). `trackside server --database`, or TRACKSIDE_DATABASE_URL.
   */
  database?: string;
  /**
   * SQLite only: when uploads are stored on a writer thread beside the HTTP one
   * (sqlite/ingest-writer.ts): "auto" (default: once the server has taken 16,384 rows), "always"
   * (from the first upload), "never". `TRACKSIDE_INGEST_THREAD` (auto, on, off).
   */
  ingestThread?: IngestThreadMode;
  /**
   * The store to serve from, already open (any backend); it wins over `database`; default: the
   * SQLite file `<dataDir>/trackside.db`. The server takes it over: close() closes it, and so does a start
   * that fails. (The data directory still holds the log.)
   */
  store?: Store;
  /**
   * Where artifact bytes live: an absolute directory, or `s3://bucket[/prefix]` (an S3-compatible
   * bucket configured by the standard AWS environment variables; open-blob-store.ts); default
   * `<dataDir>/artifacts`. Or a blob store already open, which the server takes over as it does
   * a store. `trackside server --artifact-store`, or TRACKSIDE_ARTIFACT_STORE.
   */
  artifactStore?: string | BlobStore;
  /**
   * Part size of multipart artifact uploads; default ARTIFACT_PART_BYTES (64 MiB). For tests: S3
   * refuses parts under 5 MiB (but the last), s3rver does not.
   */
  artifactPartBytes?: number;
  /** Log level and file; default info, to <dataDir>/logs/server.log (never stdout). */
  log?: { level?: LevelWithSilent; file?: string };
  /**
   * The URL people open, when it differs from the listening address (a proxy, a DNS name): an
   * http(s) origin with no path. Links are built from it, cookies are `Secure` when it is https,
   * and a request whose Host is neither it nor a loopback name of the port is refused
   * (TRK_ERR_BAD_ORIGIN). `trackside server --public-url`.
   */
  publicBaseUrl?: string;
  /** Timeouts and caps of connections and live-event streams; see limits.ts for the defaults. */
  limits?: Partial<ServerLimits>;
  /** Seconds without a heartbeat after which a running run is marked crashed; default 120, at most a day. */
  heartbeatTimeoutS?: number;
  /** How often the sweeper looks for such runs, in ms; default 10,000. */
  sweepIntervalMs?: number;
}

export interface RunningServer {
  /** The listening address as a base URL, e.g. http://127.0.0.1:8421. */
  url: string;
  /** The URL people open: the public URL when given, else `url`. */
  publicUrl: string;
  /** Stops listening, then closes the database and flushes the log; idempotent. */
  close(): Promise<void>;
  app: FastifyInstance;
  store: Store;
  /** Where artifact bytes live; close() closes it. */
  blobs: BlobStore;
  /** Marks runs crashed when their heartbeats stop; close() stops it. */
  sweeper: Sweeper;
  dataDir: string;
  logFile: string;
  /** What the start did about the local user and its key (`withoutCredentials`: URLs left without one). */
  bootstrap: BootstrapResult;
}

/**
 * A public URL as the server uses it: an http or https origin (a path other than "/", a query,
 * a fragment or credentials are refused: the routes live at the root), without a trailing slash.
 *
 * @example
 * parsePublicUrl("https://trackside.example.com/") // "https://trackside.example.com"
 */
export function parsePublicUrl(value: string, option = "publicBaseUrl"): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw errors.invalidOption(option, value, "an absolute URL such as https://trackside.example.com");
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.username || url.password || url.search || url.hash || url.pathname !== "/") {
    throw errors.invalidOption(option, value, "an http:// or https:// origin with no path, query or credentials (the server's routes live at its root)");
  }
  return url.origin;
}

/** `http://host:port`, with IPv6 addresses in brackets. */
function baseUrlOf(host: string, port: number): string {
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** Opens (and migrates) the PostgreSQL store; a database that cannot be reached is a coded error naming it. */
async function openPostgres(url: string): Promise<PostgresStore> {
  try {
    return await PostgresStore.open(url);
  } catch (err) {
    const e = err as { code?: string; message?: string };
    // Socket errors and PostgreSQL's own (a wrong password, no such database: classes 08, 28, 3D).
    if (e.code && /^(E[A-Z]+|08...|28...|3D...)$/.test(e.code)) {
      throw errors.invalidOption("--database", redactDatabaseUrl(url), `a PostgreSQL database this server can open (${e.code}: ${e.message ?? "no message"})`);
    }
    throw err;
  }
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
  let publicUrl: string | undefined;
  let closeGraceMs: number;
  try {
    ({ closeGraceMs } = resolveLimits(options.limits));
    publicUrl = options.publicBaseUrl === undefined ? undefined : parsePublicUrl(options.publicBaseUrl);
    // The database holds key hashes and private runs: only its owner may open the directory.
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    chmodSync(dataDir, 0o700);
  } catch (err) {
    await options.store?.close(); // taken over, as on any failed start
    if (typeof options.artifactStore === "object") await options.artifactStore.close();
    throw err;
  }
  const logFile = options.log?.file ?? join(dataDir, "logs", "server.log");
  const destination = pino.destination({ dest: logFile, mkdir: true, sync: false });
  const root = pino({ level: options.log?.level ?? "info" }, destination);
  const logger = root.child({ component: "server" });

  let store: Store | null = options.store ?? null;
  let blobs: BlobStore | null = typeof options.artifactStore === "object" ? options.artifactStore : null;
  let app: FastifyInstance | null = null;
  let sweeper: Sweeper | null = null;
  let url = "";
  let boot: BootstrapResult | null = null;
  const shutdown = async () => {
    // First the sweeper (waiting for a sweep under way), so nothing writes to a closed store.
    await sweeper?.stop();
    // Requests in flight get a grace period; then their connections are cut (limits.ts).
    const cut = app && setTimeout(() => app?.server.closeAllConnections(), closeGraceMs);
    await app?.close();
    clearTimeout(cut ?? undefined);
    await store?.close();
    await blobs?.close();
    // end() flushes what is buffered (waiting for the file to open if need be), then closes it.
    await new Promise<void>((resolve) => {
      destination.once("close", resolve);
      destination.once("error", () => resolve());
      destination.end();
    });
  };

  try {
    // Inside the try: a bad URL closes a given store and the log, as any failed start does.
    const database = options.database === undefined ? undefined : parseDatabaseUrl(options.database);
    const artifactSpec = typeof options.artifactStore === "object" ? null : parseArtifactStore(options.artifactStore, dataDir);
    blobs ??= await openBlobStore(options.artifactStore as string | undefined, { dataDir, partBytes: options.artifactPartBytes });
    store ??= database === undefined ? SqliteStore.open(join(dataDir, "trackside.db"), { ingestThread: options.ingestThread }) : await openPostgres(database);
    // Started before listen, so a bad timeout or interval fails the start, not a later sweep.
    sweeper = Sweeper.start({
      store,
      heartbeatTimeoutS: options.heartbeatTimeoutS,
      sweepIntervalMs: options.sweepIntervalMs,
      logger: root.child({ component: "sweeper" }),
    });
    // Until listen has picked the port, no request can arrive: the hosts are known by then.
    let hosts: URL[] | null = null;
    app = buildApp({
      store,
      blobs,
      logger: root.child({ component: "http" }),
      publicBaseUrl: () => publicUrl ?? url,
      limits: options.limits,
      allowedHosts: () => hosts,
    });
    await app.listen({ host, port });
    const actualPort = (app.server.address() as AddressInfo).port;
    url = baseUrlOf(host, actualPort);
    hosts = allowedHosts(host, actualPort, publicUrl);
    if (!hosts) logger.warn({ host }, "not on a loopback address and no --public-url: the Host header is not checked (DNS rebinding); pass --public-url");
    // The default client base URL is 127.0.0.1; the address actually used and the public one are written as well.
    boot = await bootstrapLocalUser(store, [baseUrlOf(DEFAULT_HOST, actualPort), url, ...(publicUrl ? [publicUrl] : [])]);
    logger.info(
      {
        url,
        publicUrl,
        dataDir,
        ...(database === undefined ? {} : { database: redactDatabaseUrl(database) }),
        artifacts: artifactSpec ? describeArtifactStore(artifactSpec) : blobs.kind,
        version: PACKAGE_VERSION,
        // Node.js's own flags (bin/trackside adds --single-threaded-gc on a machine of two cores).
        nodeFlags: process.execArgv,
        user: boot.user.name,
        createdUser: boot.createdUser,
        wroteCredentials: boot.wroteCredentials,
        heartbeatTimeoutS: sweeper.heartbeatTimeoutS,
        sweepIntervalMs: sweeper.sweepIntervalMs,
      },
      "trackside server listening",
    );
    if (boot.withoutCredentials.length > 0) {
      logger.info({ urls: boot.withoutCredentials, user: boot.user.name }, withoutCredentialsNotice(boot.withoutCredentials, boot.user.name));
    }
  } catch (err) {
    logger.error({ err }, "trackside server failed to start");
    await shutdown().catch(() => undefined);
    throw err;
  }

  let closing: Promise<void> | null = null;
  return {
    url,
    publicUrl: publicUrl ?? url,
    app,
    store,
    blobs,
    sweeper,
    dataDir,
    logFile,
    bootstrap: boot,
    close: () => {
      closing ??= (async () => {
        logger.info("trackside server closing");
        await shutdown();
      })();
      return closing;
    },
  };
}
