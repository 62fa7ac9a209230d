/** The tracking server: re-exports only (see app.ts for the composition root). */
export { buildApp, type BuildAppOptions } from "./http/app.js";
export { parsePublicUrl, startServer, type RunningServer, type StartServerOptions } from "./start-server.js";
export { DEFAULT_LIMITS, type ServerLimits } from "./http/limits.js";
export { bootstrapLocalUser, withoutCredentialsNotice, type BootstrapResult } from "./bootstrap.js";
export { SqliteStore } from "./sqlite/sqlite-store.js";
export type { IngestThreadMode } from "./sqlite/ingest-writer.js";
export type { BlobBytes, BlobScope, BlobStore, StoredBytes } from "./blobs/blob-store.js";
export { FilesystemBlobStore, type FilesystemBlobStoreOptions } from "./blobs/filesystem-blob-store.js";
export { describeArtifactStore, openBlobStore, parseArtifactStore, type ArtifactStoreSpec, type OpenBlobStoreOptions } from "./blobs/open-blob-store.js";
export { PostgresStore } from "./postgres/postgres-store.js";
export { parseDatabaseUrl, redactDatabaseUrl } from "./postgres/database-url.js";
export {
  copySqliteToPostgres,
  type CopyOptions,
  type CopyProgress,
  type CopyResult,
  type CopyTableResult,
} from "./db-copy/copy-to-postgres.js";
export {
  DEFAULT_HEARTBEAT_TIMEOUT_S,
  DEFAULT_SWEEP_INTERVAL_MS,
  MAX_HEARTBEAT_TIMEOUT_S,
  intervalSchedule,
  staleRunError,
  Sweeper,
  type Schedule,
  type SweeperOptions,
} from "./liveness.js";
export { MIGRATIONS, migrate, type Migration } from "./sqlite/sqlite-migrations.js";
export { hashSecret, mintApiKey, mintToken, SESSION_COOKIE } from "./http/auth.js";
export { encodeHistoryRow, decodeHistoryRow } from "./store/history-codec.js";
export type * from "./store/store.js";
