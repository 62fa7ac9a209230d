/**
 * The shared store: PostgreSQL through the `postgres` driver, for any number of stateless
 * server replicas on one database (issue 15). It meets the same Store contract as SqliteStore,
 * with the same rules (idempotent ingest by (run, seq), per-field newer-wins, atomic sweeps);
 * the query files beside it say how each is kept when several replicas write at once.
 */
import { randomBytes } from "node:crypto";
import type { Sql } from "postgres";
import { errors } from "../../protocol/errors.js";
import type { HistoryRow, JsonObject, RunRecord } from "../../protocol/records.js";
import type {
  ConsoleQuery,
  EntityRole,
  HistoryBuckets,
  HistoryBucketsQuery,
  HistoryQuery,
  IngestOutcome,
  IngestTarget,
  ListRunsQuery,
  NewUser,
  Privacy,
  RunPatch,
  SessionKind,
  Store,
  StoredApiKey,
  StoredConsoleLine,
  StoredEntity,
  StoredMembership,
  StoredProject,
  StoredProjectSettings,
  RecentRunRevision,
  StoredRefusals,
  StoredRun,
  StoredSystemSample,
  StoredTeamMember,
  StoredUnknownKind,
  StoredUser,
  StoredView,
  ViewChange,
  ViewScope,
  SystemMetricsQuery,
  TeamRole,
} from "../store/store.js";
import type { ArtifactFileEntry, ArtifactManifest, ArtifactReferenceEntry } from "../../protocol/artifacts.js";
import type { ArtifactScope, StoredArtifactCollection, StoredArtifactRunLink, StoredArtifactVersion } from "../store/artifact-store.js";
import { PostgresAccounts } from "./postgres-accounts.js";
import { PostgresArtifacts } from "./postgres-artifacts.js";
import { PostgresMedia } from "./postgres-media.js";
import type { MediaRange, StoredMediaPage } from "../store/media-store.js";
import type { MediaKeyView } from "../../protocol/media.js";
import { connectPostgres } from "./postgres-connection.js";
import { PostgresHistoryBuckets } from "./postgres-history-buckets.js";
import { ingestPostgres } from "./postgres-ingest.js";
import { heartbeatPostgres, SWEEP_LOCK_KEY, sweepPostgres } from "./postgres-liveness.js";
import { migratePostgres } from "./postgres-migrations.js";
import { PostgresRunQueries } from "./postgres-run-queries.js";
import { PostgresStreamQueries } from "./postgres-stream-queries.js";
import { PostgresViews } from "./postgres-views.js";

/** How long asking for the sweeper's lock may take before this server is not the sweeper this time. */
const SWEEP_LOCK_TIMEOUT_MS = 5_000;

/**
 * What PostgreSQL's text and jsonb cannot hold and SQLite stores: the character U+0000 (NUL),
 * and a lone UTF-16 surrogate in a JSON string. A body that carries one in a console line or a
 * config, summary, name or tag string is refused whole with a coded 400 (the daemon sets it
 * aside in the run's dead-letter file; the run goes on), never a 500. History values are stored
 * as bytes and keep both. The record checks already refuse numbers a column could not hold
 * (fractional steps and times); a value that still gets past them is refused the same way.
 */
const UNSTORABLE: Record<string, string> = {
  "22021": "PostgreSQL cannot store the character U+0000 (NUL) in text",
  "22P05": "PostgreSQL cannot store the character U+0000 (NUL) in a JSON string",
  "22P02": "PostgreSQL cannot read a value of this body in its column (a lone UTF-16 surrogate in a JSON string, or a number of the wrong kind)",
  "22003": "a number of this body is out of the range of its PostgreSQL column",
};

function refuseUnstorable(err: unknown): never {
  const why = UNSTORABLE[(err as { code?: string } | null)?.code ?? ""];
  if (why) throw errors.badValue("(a value of this body)", `${why}; this server runs on PostgreSQL`);
  throw err;
}

/** `promise`, or a rejection after `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Store on a PostgreSQL database.
 *
 * @example
 * const store = await PostgresStore.open("postgresql://trackside@db.example.com/trackside");
 * const alice = await store.createUser("alice");
 * await store.close();
 */
export class PostgresStore implements Store {
  /** Any number of `trackside server` processes may share the database. */
  readonly shared = true;
  /** The connection pool (backend-specific tests query it directly). */
  readonly sql: Sql;
  private readonly accounts: PostgresAccounts;
  private readonly runs: PostgresRunQueries;
  private readonly streams: PostgresStreamQueries;
  private readonly chart: PostgresHistoryBuckets;
  private readonly views: PostgresViews;
  private readonly artifacts: PostgresArtifacts;
  private readonly media: PostgresMedia;
  private closing: Promise<void> | null = null;
  /** The one connection that holds (or asks for) the sweeper's advisory lock, opened on first use. */
  private lockSql: Sql | null = null;

  private constructor(
    sql: Sql,
    private readonly url: string,
  ) {
    this.sql = sql;
    this.accounts = new PostgresAccounts(sql);
    this.runs = new PostgresRunQueries(sql);
    this.streams = new PostgresStreamQueries(sql);
    this.chart = new PostgresHistoryBuckets(sql);
    this.views = new PostgresViews(sql);
    this.artifacts = new PostgresArtifacts(sql);
    this.media = new PostgresMedia(sql);
  }

  /**
   * Connects and migrates the database to the newest schema (under an advisory lock: replicas
   * starting at once apply each migration once). Fails, with the pool closed, when the
   * database cannot be reached or migrated.
   */
  static async open(url: string, options: { max?: number } = {}): Promise<PostgresStore> {
    const sql = connectPostgres(url, options);
    try {
      await migratePostgres(sql);
    } catch (err) {
      await sql.end({ timeout: 1 }).catch(() => undefined);
      throw err;
    }
    return new PostgresStore(sql, url);
  }

  countUsers(): Promise<number> {
    return this.accounts.countUsers();
  }

  createUser(name: string, now = Date.now(), details?: NewUser): Promise<StoredUser> {
    return this.accounts.createUser(name, now, details);
  }

  getUserByName(name: string): Promise<StoredUser | null> {
    return this.accounts.userByName(name);
  }

  listUsers(): Promise<StoredUser[]> {
    return this.accounts.listUsers();
  }

  firstUser(): Promise<StoredUser | null> {
    return this.accounts.firstUser();
  }

  updateUser(userId: number, change: { disabledAt?: number | null; admin?: boolean }): Promise<StoredUser> {
    return this.accounts.updateUser(userId, change);
  }

  addApiKey(userId: number, keyHash: string, prefix: string, now = Date.now(), label: string | null = null): Promise<StoredApiKey> {
    return this.accounts.addApiKey(userId, keyHash, prefix, now, label);
  }

  userByApiKeyHash(keyHash: string, now = Date.now()): Promise<StoredUser | null> {
    return this.accounts.userByApiKeyHash(keyHash, now);
  }

  listApiKeys(userId: number): Promise<StoredApiKey[]> {
    return this.accounts.listApiKeys(userId);
  }

  revokeApiKey(userId: number, keyId: number): Promise<string | null> {
    return this.accounts.revokeApiKey(userId, keyId);
  }

  addSession(tokenHash: string, userId: number, kind: SessionKind, expiresAt: number, now = Date.now(), apiKeyId: number | null = null): Promise<void> {
    return this.accounts.addSession(tokenHash, userId, kind, expiresAt, now, apiKeyId);
  }

  credentialKeyId(kind: "key" | "session", hash: string): Promise<number | null> {
    return this.accounts.credentialKeyId(kind, hash);
  }

  userBySession(tokenHash: string, kind: SessionKind, now: number): Promise<StoredUser | null> {
    return this.accounts.userBySession(tokenHash, kind, now);
  }

  consumeSession(tokenHash: string, kind: SessionKind, now: number): Promise<StoredUser | null> {
    return this.accounts.consumeSession(tokenHash, kind, now);
  }

  deleteSession(tokenHash: string): Promise<void> {
    return this.accounts.deleteSession(tokenHash);
  }

  getEntity(name: string): Promise<StoredEntity | null> {
    return this.accounts.getEntity(name);
  }

  ensureEntity(name: string, ownerUserId: number): Promise<StoredEntity> {
    return this.accounts.ensureEntity(name, ownerUserId, Date.now());
  }

  entitiesOf(userId: number): Promise<StoredEntity[]> {
    return this.accounts.entitiesOf(userId);
  }

  roleIn(entity: StoredEntity, userId: number): Promise<EntityRole | null> {
    return this.accounts.roleIn(entity, userId);
  }

  createTeam(name: string, creatorUserId: number, now = Date.now()): Promise<StoredEntity> {
    return this.accounts.createTeam(name, creatorUserId, now);
  }

  teamsOf(userId: number): Promise<StoredMembership[]> {
    return this.accounts.teamsOf(userId);
  }

  teamMembers(teamId: number): Promise<StoredTeamMember[]> {
    return this.accounts.teamMembers(teamId);
  }

  setTeamMember(teamId: number, userId: number, role: TeamRole, now = Date.now()): Promise<void> {
    return this.accounts.setTeamMember(teamId, userId, role, now);
  }

  removeTeamMember(teamId: number, userId: number): Promise<boolean> {
    return this.accounts.removeTeamMember(teamId, userId);
  }

  getProject(entity: string, project: string): Promise<StoredProjectSettings | null> {
    return this.accounts.getProject(entity, project);
  }

  setProjectDefaultPrivacy(entityId: number, project: string, privacy: Privacy, now = Date.now()): Promise<void> {
    return this.accounts.setProjectDefaultPrivacy(entityId, project, privacy, now);
  }

  listProjects(entity: string, publicOnly: boolean): Promise<StoredProject[]> {
    return this.accounts.listProjects(entity, publicOnly);
  }

  ingest(target: IngestTarget, records: RunRecord[], now: number): Promise<IngestOutcome> {
    return ingestPostgres(this.sql, target, records, now).catch(refuseUnstorable);
  }

  heartbeat(entity: string, project: string, runId: string, now: number): Promise<boolean> {
    return heartbeatPostgres(this.sql, entity, project, runId, now);
  }

  /**
   * A session-level advisory lock on a connection of its own (a pool of one, apart from the
   * store's): held as long as that connection lives, released by PostgreSQL when it ends (this
   * server closed, died, or lost its network). Each call asks on that connection whether its
   * session holds the lock, taking it if free: after a broken connection the pool opens a new
   * one, which holds nothing until it takes the lock again. A loser tries again at its next
   * sweep, so the sweeping moves to a live replica within one sweep interval.
   */
  async holdsSweepLock(): Promise<boolean> {
    if (this.closing) return false;
    this.lockSql ??= connectPostgres(this.url, { max: 1, holdsLock: true });
    try {
      const [row] = await withTimeout(
        this.lockSql<{ locked: boolean }[]>`
          SELECT CASE WHEN EXISTS (
            SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = ${SWEEP_LOCK_KEY} AND pid = pg_backend_pid() AND granted)
          THEN true ELSE pg_try_advisory_lock(${SWEEP_LOCK_KEY}) END AS locked`,
        SWEEP_LOCK_TIMEOUT_MS,
      );
      return row.locked;
    } catch {
      return false; // the database is away for a moment, or the connection broke: not the sweeper this time
    }
  }

  /**
   * Two statements, not one: of two replicas inserting at once, the second's ON CONFLICT waits for
   * the first to commit and inserts nothing, and its SELECT (a new snapshot) then reads the
   * first's bytes; a single INSERT ... RETURNING would return nothing to the second.
   */
  async serverSecret(name: string): Promise<Buffer> {
    await this.sql`INSERT INTO server_secrets (name, secret, created_at) VALUES (${name}, ${randomBytes(32)}, ${Date.now()}) ON CONFLICT (name) DO NOTHING`;
    const [row] = await this.sql<{ secret: Buffer }[]>`SELECT secret FROM server_secrets WHERE name = ${name}`;
    return Buffer.from(row.secret);
  }

  async addResumeAsk(runPk: number, now: number, forgetBefore: number): Promise<void> {
    await this.sql`DELETE FROM wandb_resume_asks WHERE asked_at < ${forgetBefore}`;
    await this.sql`INSERT INTO wandb_resume_asks (run_pk, asked_at) VALUES (${runPk}, ${now})
                   ON CONFLICT (run_pk) DO UPDATE SET asked_at = excluded.asked_at`;
  }

  /**
   * A DELETE that returns the row: of two replicas taking the ask at once, the second waits for
   * the first's row lock, then finds the row gone and gets nothing.
   */
  async takeResumeAsk(runPk: number, since: number): Promise<boolean> {
    const [row] = await this.sql<{ asked_at: number }[]>`DELETE FROM wandb_resume_asks WHERE run_pk = ${runPk} RETURNING asked_at`;
    return row !== undefined && row.asked_at >= since;
  }

  sweepStaleRuns(cutoff: number, now: number, error: string): Promise<number> {
    return sweepPostgres(this.sql, cutoff, now, error);
  }

  getRun(entity: string, project: string, runId: string): Promise<StoredRun | null> {
    return this.runs.getRun(entity, project, runId);
  }

  listRuns(entity: string, project: string, query: ListRunsQuery): Promise<{ runs: StoredRun[]; total: number } | null> {
    return this.runs.listRuns(entity, project, query);
  }

  countHistory(runPk: number): Promise<number> {
    return this.runs.countHistory(runPk);
  }

  readHistory(runPk: number, query: HistoryQuery): Promise<HistoryRow[]> {
    return this.runs.readHistory(runPk, query);
  }

  readSystemMetrics(runPk: number, query: SystemMetricsQuery): Promise<StoredSystemSample[]> {
    return this.streams.readSystemMetrics(runPk, query);
  }

  systemMetricKeys(runPk: number): Promise<string[]> {
    return this.streams.systemMetricKeys(runPk);
  }

  countConsole(runPk: number): Promise<number> {
    return this.streams.countConsole(runPk);
  }

  readConsole(runPk: number, query: ConsoleQuery): Promise<StoredConsoleLine[]> {
    return this.streams.readConsole(runPk, query);
  }

  tailConsole(runPk: number, count: number): Promise<StoredConsoleLine[]> {
    return this.streams.tailConsole(runPk, count);
  }

  unknownRecordCounts(runPk: number): Promise<StoredUnknownKind[]> {
    return this.streams.unknownRecordCounts(runPk);
  }

  refusals(runPk: number): Promise<StoredRefusals> {
    return this.streams.refusals(runPk);
  }

  runRevisions(runPks: number[]): Promise<Map<number, number>> {
    return this.runs.runRevisions(runPks);
  }

  recentRunRevisions(entityId: number, project: string, windowMs: number): Promise<RecentRunRevision[]> {
    return this.runs.recentRunRevisions(entityId, project, windowMs);
  }

  patchRun(runPk: number, patch: RunPatch): Promise<void> {
    return this.runs.patchRun(runPk, patch).catch(refuseUnstorable);
  }

  historyBuckets(runPk: number, query: HistoryBucketsQuery): Promise<HistoryBuckets> {
    return this.chart.buckets(runPk, query);
  }

  /** Closes the pool, letting queries under way finish (at most 5 s), and so gives up the sweeper's lock; idempotent. */
  listViews(scope: ViewScope): Promise<StoredView[]> {
    return this.views.list(scope);
  }

  createView(scope: ViewScope, view: { name: string; state: JsonObject; isDefault: boolean }, now = Date.now()): Promise<StoredView> {
    return this.views.create(scope, view, now).catch(refuseUnstorable);
  }

  updateView(scope: ViewScope, id: number, change: ViewChange, now = Date.now()): Promise<StoredView | null> {
    return this.views.update(scope, id, change, now).catch(refuseUnstorable);
  }

  deleteView(scope: ViewScope, id: number): Promise<boolean> {
    return this.views.delete(scope, id);
  }

  logArtifactVersion(scope: ArtifactScope, runPk: number, manifest: ArtifactManifest, digest: string, aliases: string[], now: number): Promise<StoredArtifactVersion> {
    return this.artifacts.log(scope, runPk, manifest, digest, aliases, now).catch(refuseUnstorable);
  }

  useArtifactVersion(versionId: number, runPk: number, now: number): Promise<void> {
    return this.artifacts.use(versionId, runPk, now);
  }

  getArtifactVersion(scope: ArtifactScope, name: string, alias: string, publicOnly: boolean): Promise<StoredArtifactVersion | null> {
    return this.artifacts.version(scope, name, alias, publicOnly);
  }

  artifactEntries(versionId: number): Promise<{ files: ArtifactFileEntry[]; references: ArtifactReferenceEntry[] }> {
    return this.artifacts.entries(versionId);
  }

  listArtifactCollections(scope: ArtifactScope, type: string | null, publicOnly: boolean): Promise<StoredArtifactCollection[]> {
    return this.artifacts.collections(scope, type, publicOnly);
  }

  listArtifactVersions(scope: ArtifactScope, name: string, publicOnly: boolean): Promise<StoredArtifactVersion[] | null> {
    return this.artifacts.versions(scope, name, publicOnly);
  }

  artifactLineage(versionId: number): Promise<{ producedBy: StoredArtifactRunLink[]; usedBy: StoredArtifactRunLink[] }> {
    return this.artifacts.lineage(versionId);
  }

  runArtifacts(runPk: number): Promise<{ outputs: StoredArtifactVersion[]; inputs: StoredArtifactVersion[] }> {
    return this.artifacts.runArtifacts(runPk);
  }

  blobInVisibleVersion(scope: ArtifactScope, digest: string, publicOnly: boolean): Promise<boolean> {
    return this.artifacts.blobInVisibleVersion(scope, digest, publicOnly);
  }

  runMediaKeys(runPk: number): Promise<MediaKeyView[]> {
    return this.media.keys(runPk);
  }

  runMediaValues(runPk: number, key: string, range: MediaRange): Promise<StoredMediaPage> {
    return this.media.values(runPk, key, range);
  }

  blobInVisibleMedia(scope: ArtifactScope, digest: string, publicOnly: boolean): Promise<boolean> {
    return this.media.blobVisible(scope, digest, publicOnly);
  }

  close(): Promise<void> {
    this.closing ??= Promise.all([this.sql.end({ timeout: 5 }), this.lockSql?.end({ timeout: 5 })]).then(() => undefined);
    return this.closing;
  }
}
