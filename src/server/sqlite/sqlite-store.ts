/**
 * The embedded store: one SQLite file through better-sqlite3. better-sqlite3 answers
 * synchronously; every method still returns a Promise so that the routes are written against
 * the asynchronous Store contract that a PostgreSQL backend will also meet.
 */
import { randomBytes } from "node:crypto";
import Database from "better-sqlite3";
import type { HistoryRow, JsonObject, RunRecord } from "../../protocol/records.js";
import type { ArtifactManifest, ArtifactFileEntry, ArtifactReferenceEntry } from "../../protocol/artifacts.js";
import type { ArtifactScope, StoredArtifactCollection, StoredArtifactRunLink, StoredArtifactVersion } from "../store/artifact-store.js";
import { SqliteAccounts } from "./sqlite-accounts.js";
import { SqliteArtifacts } from "./sqlite-artifacts.js";
import { migrate } from "./sqlite-migrations.js";
import { configureConnection } from "./sqlite-connection.js";
import { SqliteHistoryBuckets } from "./sqlite-history-buckets.js";
import { SqliteIngest } from "./sqlite-ingest.js";
import { SqliteMedia } from "./sqlite-media.js";
import type { MediaRange, StoredMediaPage } from "../store/media-store.js";
import type { MediaKeyView } from "../../protocol/media.js";
import { SqliteLiveness } from "./sqlite-liveness.js";
import { SqliteRunQueries } from "./sqlite-run-queries.js";
import { SqliteStreamQueries } from "./sqlite-stream-queries.js";
import { checkIngestThreadMode, IngestWriter, type IngestThreadMode } from "./ingest-writer.js";
import { SAFETY_NET_PAGES, WalCheckpointer } from "./wal-checkpointer.js";
import type {
  ConsoleQuery,
  EntityRole,
  NewUser,
  Privacy,
  StoredApiKey,
  StoredMembership,
  StoredProjectSettings,
  StoredTeamMember,
  TeamRole,
  HistoryBuckets,
  HistoryBucketsQuery,
  HistoryQuery,
  IngestOutcome,
  IngestTarget,
  ListRunsQuery,
  RunPatch,
  SessionKind,
  Store,
  StoredEntity,
  StoredConsoleLine,
  StoredProject,
  RecentRunRevision,
  StoredRefusals,
  StoredRun,
  StoredSystemSample,
  StoredUnknownKind,
  StoredUser,
  StoredView,
  ViewChange,
  ViewScope,
  SystemMetricsQuery,
} from "../store/store.js";
import { SqliteViews } from "./sqlite-views.js";

/**
 * Store on a SQLite file, in WAL journal mode with synchronous=NORMAL: readers never block the
 * writer, and a commit costs no fsync (WAL checkpoints do), so a power cut can lose the last
 * commits but never corrupts the file. The daemon keeps its own WAL until the server has
 * acknowledged an upload, so such a loss is re-sent. Once ingest has grown the WAL, checkpoints
 * run on a worker thread (wal-checkpointer.ts) rather than inside the commits of uploads.
 *
 * @example
 * const store = SqliteStore.open(join(dataDir, "trackside.db"));
 * const alice = await store.createUser("alice");
 * await store.close();
 */
export class SqliteStore implements Store {
  /** One server process per file: a start heals the local user's credentials (bootstrap.ts). */
  readonly shared = false;
  readonly db: Database.Database;
  private readonly ingester: SqliteIngest;
  private readonly media: SqliteMedia;
  private readonly runs: SqliteRunQueries;
  private readonly streams: SqliteStreamQueries;
  private readonly liveness: SqliteLiveness;
  private readonly buckets: SqliteHistoryBuckets;
  private readonly checkpointer: WalCheckpointer;
  private readonly writer: IngestWriter;
  private readonly accounts: SqliteAccounts;
  private readonly views: SqliteViews;
  private readonly artifacts: SqliteArtifacts;
  private readonly s;
  private closed = false;

  private constructor(db: Database.Database, file: string, ingestThread: IngestThreadMode) {
    this.db = db;
    this.checkpointer = new WalCheckpointer(db, file);
    this.writer = new IngestWriter(file, ingestThread, SAFETY_NET_PAGES);
    this.media = new SqliteMedia(db);
    this.ingester = new SqliteIngest(db, this.media);
    this.runs = new SqliteRunQueries(db, (fn) => this.write(fn));
    this.streams = new SqliteStreamQueries(db);
    this.liveness = new SqliteLiveness(db);
    this.buckets = new SqliteHistoryBuckets(db);
    this.accounts = new SqliteAccounts(db);
    this.views = new SqliteViews(db);
    this.artifacts = new SqliteArtifacts(db);
    this.s = {
      // Without publicOnly every project is listed; with it, only those holding a public run,
      // so that a project of private runs stays invisible to other people.
      projects: db.prepare(`
        SELECT e.name AS entity, p.name AS name, COUNT(r.pk) AS runCount, MAX(r.created_at) AS lastRunAt
        FROM projects p JOIN entities e ON e.id = p.entity_id
        LEFT JOIN runs r ON r.project_id = p.id AND (@publicOnly = 0 OR r.privacy = 'public')
        WHERE e.name = @entity
        GROUP BY p.id
        HAVING @publicOnly = 0 OR COUNT(r.pk) > 0
        ORDER BY lastRunAt DESC, p.name`),
      // W&B's resume asks (wandb/wandb-runs.ts): few rows, each gone within minutes.
      forgetResumeAsks: db.prepare("DELETE FROM wandb_resume_asks WHERE asked_at < ?"),
      addResumeAsk: db.prepare("INSERT OR REPLACE INTO wandb_resume_asks (run_pk, asked_at) VALUES (?, ?)"),
      takeResumeAsk: db.prepare("DELETE FROM wandb_resume_asks WHERE run_pk = ? RETURNING asked_at").pluck(),
    };
  }

  /**
   * Opens (or creates) the database file and migrates it to the newest schema.
   * `ingestThread`: when uploads are stored on a writer thread (ingest-writer.ts); default "auto".
   */
  static open(file: string, options: { ingestThread?: IngestThreadMode } = {}): SqliteStore {
    const ingestThread = checkIngestThreadMode(options.ingestThread ?? "auto");
    const db = new Database(file);
    // Wide history rows fill pages fast: 16 KiB pages took ingest from ~230k to ~290k rows/s
    // against 4 KiB here (fewer page writes per row). Takes effect only on a new file, before WAL.
    db.pragma("page_size = 16384");
    db.pragma("journal_mode = WAL");
    configureConnection(db);
    migrate(db);
    return new SqliteStore(db, file, ingestThread);
  }

  async countUsers(): Promise<number> {
    return this.accounts.countUsers();
  }

  async createUser(name: string, now = Date.now(), details?: NewUser): Promise<StoredUser> {
    return this.write(() => this.accounts.createUser(name, now, details));
  }

  async getUserByName(name: string): Promise<StoredUser | null> {
    return this.accounts.userByName(name);
  }

  async listUsers(): Promise<StoredUser[]> {
    return this.accounts.listUsers();
  }

  async firstUser(): Promise<StoredUser | null> {
    return this.accounts.firstUser();
  }

  async updateUser(userId: number, change: { disabledAt?: number | null; admin?: boolean }): Promise<StoredUser> {
    return this.write(() => this.accounts.updateUser(userId, change));
  }

  async addApiKey(userId: number, keyHash: string, prefix: string, now = Date.now(), label: string | null = null): Promise<StoredApiKey> {
    return this.write(() => this.accounts.addApiKey(userId, keyHash, prefix, now, label));
  }

  async userByApiKeyHash(keyHash: string, now = Date.now()): Promise<StoredUser | null> {
    const found = this.accounts.userByApiKeyHash(keyHash, now);
    // A write at most once a minute per key: only then does a key's use wait for its turn.
    if (found?.stale) this.write(() => this.accounts.touchKey(keyHash, now));
    return found?.user ?? null;
  }

  async listApiKeys(userId: number): Promise<StoredApiKey[]> {
    return this.accounts.listApiKeys(userId);
  }

  async revokeApiKey(userId: number, keyId: number): Promise<string | null> {
    return this.write(() => this.accounts.revokeApiKey(userId, keyId));
  }

  async addSession(tokenHash: string, userId: number, kind: SessionKind, expiresAt: number, now = Date.now(), apiKeyId: number | null = null): Promise<void> {
    this.write(() => this.accounts.addSession(tokenHash, userId, kind, expiresAt, now, apiKeyId));
  }

  async credentialKeyId(kind: "key" | "session", hash: string): Promise<number | null> {
    return this.accounts.credentialKeyId(kind, hash);
  }

  async userBySession(tokenHash: string, kind: SessionKind, now: number): Promise<StoredUser | null> {
    return this.accounts.userBySession(tokenHash, kind, now);
  }

  async consumeSession(tokenHash: string, kind: SessionKind, now: number): Promise<StoredUser | null> {
    return this.write(() => this.accounts.consumeSession(tokenHash, kind, now));
  }

  async deleteSession(tokenHash: string): Promise<void> {
    this.write(() => this.accounts.deleteSession(tokenHash));
  }

  async getEntity(name: string): Promise<StoredEntity | null> {
    return this.accounts.getEntity(name);
  }

  async ensureEntity(name: string, ownerUserId: number): Promise<StoredEntity> {
    return this.write(() => this.accounts.ensureEntity(name, ownerUserId, Date.now()));
  }

  async entitiesOf(userId: number): Promise<StoredEntity[]> {
    return this.accounts.entitiesOf(userId);
  }

  async roleIn(entity: StoredEntity, userId: number): Promise<EntityRole | null> {
    return this.accounts.roleIn(entity, userId);
  }

  async createTeam(name: string, creatorUserId: number, now = Date.now()): Promise<StoredEntity> {
    return this.write(() => this.accounts.createTeam(name, creatorUserId, now));
  }

  async teamsOf(userId: number): Promise<StoredMembership[]> {
    return this.accounts.teamsOf(userId);
  }

  async teamMembers(teamId: number): Promise<StoredTeamMember[]> {
    return this.accounts.teamMembers(teamId);
  }

  async setTeamMember(teamId: number, userId: number, role: TeamRole, now = Date.now()): Promise<void> {
    this.write(() => this.accounts.setTeamMember(teamId, userId, role, now));
  }

  async removeTeamMember(teamId: number, userId: number): Promise<boolean> {
    return this.write(() => this.accounts.removeTeamMember(teamId, userId));
  }

  async getProject(entity: string, project: string): Promise<StoredProjectSettings | null> {
    return this.accounts.getProject(entity, project);
  }

  async setProjectDefaultPrivacy(entityId: number, project: string, privacy: Privacy, now = Date.now()): Promise<void> {
    this.write(() => this.accounts.setProjectDefaultPrivacy(entityId, project, privacy, now));
  }

  async listProjects(entity: string, publicOnly: boolean): Promise<StoredProject[]> {
    return this.s.projects.all({ entity, publicOnly: publicOnly ? 1 : 0 }) as StoredProject[];
  }

  async ingest(target: IngestTarget, records: RunRecord[], now: number): Promise<IngestOutcome> {
    // Big uploads are stored on the writer thread while this one takes in the next (ingest-writer.ts).
    const outcome = this.writer.carries(records) ? await this.writer.ingest(target, records, now) : this.ingester.apply(target, records, now);
    // The upload's pages are in the WAL; copying them into the file is the worker's job.
    this.checkpointer.afterWrite();
    return outcome;
  }

  async heartbeat(entity: string, project: string, runId: string, now: number): Promise<boolean> {
    // Behind the writer's uploads, rather than this thread waiting its turn (writer-gate.ts) at each.
    if (this.writer.running) return this.writer.heartbeat(entity, project, runId, now);
    return this.liveness.heartbeat(entity, project, runId, now);
  }

  /** One file, one server: it always sweeps (a second process on the file would sweep atomically too). */
  async holdsSweepLock(): Promise<boolean> {
    return true;
  }

  /** INSERT OR IGNORE: of two processes on the file asking first, the second keeps the first's bytes. */
  async serverSecret(name: string): Promise<Buffer> {
    this.write(() => this.db.prepare("INSERT OR IGNORE INTO server_secrets (name, secret, created_at) VALUES (?, ?, ?)").run(name, randomBytes(32), Date.now()));
    const row = this.db.prepare("SELECT secret FROM server_secrets WHERE name = ?").get(name) as { secret: Buffer };
    return Buffer.from(row.secret);
  }

  async sweepStaleRuns(cutoff: number, now: number, error: string): Promise<number> {
    return this.write(() => this.liveness.sweep(cutoff, now, error));
  }

  async addResumeAsk(runPk: number, now: number, forgetBefore: number): Promise<void> {
    this.write(() => {
      this.s.forgetResumeAsks.run(forgetBefore);
      this.s.addResumeAsk.run(runPk, now);
    });
  }

  /** One statement, so one caller takes the row; the connection's statements run one at a time anyway. */
  async takeResumeAsk(runPk: number, since: number): Promise<boolean> {
    const askedAt = this.write(() => this.s.takeResumeAsk.get(runPk) as number | undefined);
    return askedAt !== undefined && askedAt >= since;
  }

  async getRun(entity: string, project: string, runId: string): Promise<StoredRun | null> {
    return this.runs.getRun(entity, project, runId);
  }

  async listRuns(entity: string, project: string, query: ListRunsQuery): Promise<{ runs: StoredRun[]; total: number } | null> {
    return this.runs.listRuns(entity, project, query);
  }

  async countHistory(runPk: number): Promise<number> {
    return this.runs.countHistory(runPk);
  }

  async readHistory(runPk: number, query: HistoryQuery): Promise<HistoryRow[]> {
    return this.runs.readHistory(runPk, query);
  }

  async readSystemMetrics(runPk: number, query: SystemMetricsQuery): Promise<StoredSystemSample[]> {
    return this.streams.readSystemMetrics(runPk, query);
  }

  async systemMetricKeys(runPk: number): Promise<string[]> {
    return this.streams.systemMetricKeys(runPk);
  }

  async countConsole(runPk: number): Promise<number> {
    return this.streams.countConsole(runPk);
  }

  async readConsole(runPk: number, query: ConsoleQuery): Promise<StoredConsoleLine[]> {
    return this.streams.readConsole(runPk, query);
  }

  async tailConsole(runPk: number, count: number): Promise<StoredConsoleLine[]> {
    return this.streams.tailConsole(runPk, count);
  }

  async unknownRecordCounts(runPk: number): Promise<StoredUnknownKind[]> {
    return this.streams.unknownRecordCounts(runPk);
  }

  async refusals(runPk: number): Promise<StoredRefusals> {
    return this.streams.refusals(runPk);
  }

  async runRevisions(runPks: number[]): Promise<Map<number, number>> {
    return this.runs.runRevisions(runPks);
  }

  async recentRunRevisions(entityId: number, project: string, windowMs: number): Promise<RecentRunRevision[]> {
    return this.runs.recentRunRevisions(entityId, project, windowMs);
  }

  async patchRun(runPk: number, patch: RunPatch): Promise<void> {
    this.write(() => this.runs.patchRun(runPk, patch));
  }

  async historyBuckets(runPk: number, query: HistoryBucketsQuery): Promise<HistoryBuckets> {
    return this.buckets.buckets(runPk, query);
  }

  /** Resolves once no WAL checkpoint is running in the background (benchmarks time reads at rest). */
  idle(): Promise<void> {
    return this.checkpointer.idle();
  }

  /** Closes the database; idempotent. */
  async listViews(scope: ViewScope): Promise<StoredView[]> {
    return this.views.list(scope);
  }

  async createView(scope: ViewScope, view: { name: string; state: JsonObject; isDefault: boolean }, now = Date.now()): Promise<StoredView> {
    return this.write(() => this.views.create(scope, view, now));
  }

  async updateView(scope: ViewScope, id: number, change: ViewChange, now = Date.now()): Promise<StoredView | null> {
    return this.write(() => this.views.update(scope, id, change, now));
  }

  async deleteView(scope: ViewScope, id: number): Promise<boolean> {
    return this.write(() => this.views.delete(scope, id));
  }

  async logArtifactVersion(scope: ArtifactScope, runPk: number, manifest: ArtifactManifest, digest: string, aliases: string[], now: number): Promise<StoredArtifactVersion> {
    return this.write(() => this.artifacts.log(scope, runPk, manifest, digest, aliases, now));
  }

  async useArtifactVersion(versionId: number, runPk: number, now: number): Promise<void> {
    this.write(() => this.artifacts.use(versionId, runPk, now));
  }

  async getArtifactVersion(scope: ArtifactScope, name: string, alias: string, publicOnly: boolean): Promise<StoredArtifactVersion | null> {
    return this.artifacts.version(scope, name, alias, publicOnly);
  }

  async artifactEntries(versionId: number): Promise<{ files: ArtifactFileEntry[]; references: ArtifactReferenceEntry[] }> {
    return this.artifacts.entries(versionId);
  }

  async listArtifactCollections(scope: ArtifactScope, type: string | null, publicOnly: boolean): Promise<StoredArtifactCollection[]> {
    return this.artifacts.collections(scope, type, publicOnly);
  }

  async listArtifactVersions(scope: ArtifactScope, name: string, publicOnly: boolean): Promise<StoredArtifactVersion[] | null> {
    return this.artifacts.versions(scope, name, publicOnly);
  }

  async artifactLineage(versionId: number): Promise<{ producedBy: StoredArtifactRunLink[]; usedBy: StoredArtifactRunLink[] }> {
    return this.artifacts.lineage(versionId);
  }

  async runArtifacts(runPk: number): Promise<{ outputs: StoredArtifactVersion[]; inputs: StoredArtifactVersion[] }> {
    return this.artifacts.runArtifacts(runPk);
  }

  async blobInVisibleVersion(scope: ArtifactScope, digest: string, publicOnly: boolean): Promise<boolean> {
    return this.artifacts.blobInVisibleVersion(scope, digest, publicOnly);
  }

  async runMediaKeys(runPk: number): Promise<MediaKeyView[]> {
    return this.media.keys(runPk);
  }

  async runMediaValues(runPk: number, key: string, range: MediaRange): Promise<StoredMediaPage> {
    return this.media.values(runPk, key, range);
  }

  async blobInVisibleMedia(scope: ArtifactScope, digest: string, publicOnly: boolean): Promise<boolean> {
    return this.media.blobVisible(scope, digest, publicOnly);
  }

  /**
   * Runs `fn`, a write on this (the main) connection, in its turn with the writer thread's
   * uploads (writer-gate.ts). Every write method goes through it; a read needs no turn.
   */
  private write<T>(fn: () => T): T {
    return this.writer.hold(fn);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writer.close();
    await this.checkpointer.close();
    this.db.close();
  }
}
