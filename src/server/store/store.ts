/**
 * The storage contract of the tracking server. Every method returns a Promise, even in the
 * SQLite backend that could answer at once: a PostgreSQL backend (whose driver is asynchronous)
 * must slot in without a rewrite of the routes (DESIGN.md, "Where it scales").
 *
 * The store speaks in domain rows (times in ms since epoch, parsed JSON); the HTTP layer turns
 * them into the API shapes of protocol/api.ts. Authorization is the HTTP layer's job: the store
 * answers what it is asked.
 *
 * Rules every backend keeps, whatever its engine does by habit (test/server/store-contract.ts
 * checks each of them):
 * - Every number in an answer is a JS `number`: ids, primary keys, times, counts, seqs. A driver
 *   that returns a bigint column or a COUNT as a string or a BigInt must convert it (all of
 *   them stay below 2^53).
 * - Text compares by its UTF-8 bytes (upper case before lower case, "é" after "z"), as SQLite's
 *   BINARY collation and PostgreSQL's `COLLATE "C"` do; never by a locale.
 * - A text search (`ListRunsQuery.text`, `ConsoleQuery.contains`) matches where the searched
 *   text holds the query as a substring, comparing character by character, with the 26 ASCII
 *   letters matching in either case and every other character (letters outside ASCII, `%`, `_`,
 *   `\`) matching only itself: SQLite's `LIKE` with its wildcards escaped. (PostgreSQL's `ILIKE`
 *   folds letters outside ASCII as well; a backend must not.)
 */
import type { EntityRole, Privacy, TeamRole } from "../../protocol/api.js";
import type { HistoryRow, JsonObject, RunRecord, RunState } from "../../protocol/records.js";
import type { ArtifactStore } from "./artifact-store.js";
import type { MediaStore } from "./media-store.js";

export type { EntityRole, Privacy, TeamRole };

export interface StoredUser {
  id: number;
  name: string;
  createdAt: number;
  email: string | null;
  /** A site admin: manages accounts. */
  admin: boolean;
  /** ms since epoch when an admin disabled the account, else null. */
  disabledAt: number | null;
}

export interface StoredEntity {
  id: number;
  name: string;
  kind: "user" | "team";
  /** A user's entity: that user. A team: the user who created it (access goes by membership). */
  ownerUserId: number;
}

/** An API key as stored: never the key, only its hash (kept out of this shape) and prefix. */
export interface StoredApiKey {
  id: number;
  userId: number;
  label: string | null;
  prefix: string;
  createdAt: number;
  lastUsedAt: number | null;
}

export interface StoredTeamMember {
  userId: number;
  user: string;
  role: TeamRole;
  addedAt: number;
}

/** A team the user belongs to, with the user's role and how many members it has. */
export interface StoredMembership {
  team: StoredEntity;
  role: TeamRole;
  members: number;
}

/** A project's own row: it exists once it has a run, or settings. */
export interface StoredProjectSettings {
  entity: string;
  name: string;
  defaultPrivacy: Privacy;
  /** Whether any run of it is public (a project is visible to anyone then). */
  hasPublicRun: boolean;
}

export interface NewUser {
  email?: string | null;
  admin?: boolean;
}

export interface StoredProject {
  entity: string;
  name: string;
  /** Runs counted (all of them, or only public ones: see `listProjects`). */
  runCount: number;
  /** ms since epoch of the newest counted run, or null when none. */
  lastRunAt: number | null;
}

/** The command that started a run (RunInfo.program), kept apart from the daemon's metadata. */
export type StoredProgram = JsonObject;

/** One run with every stored field. */
/** A run of a project that changed lately, and its revision now (Store.recentRunRevisions). */
export interface RecentRunRevision {
  pk: number;
  /** The run's id in its project, to read it. */
  id: string;
  revision: number;
}

export interface StoredRun {
  /** The store's own key (a JS number, whatever the column type); stable for the life of the run, growing with creation. */
  pk: number;
  entity: string;
  entityId: number;
  project: string;
  id: string;
  name: string;
  notes: string | null;
  tags: string[];
  group: string | null;
  jobType: string | null;
  privacy: Privacy;
  author: string;
  state: RunState;
  exitCode: number | null;
  signal: string | null;
  error: string | null;
  createdAt: number;
  heartbeatAt: number | null;
  finishedAt: number | null;
  config: JsonObject;
  summary: JsonObject;
  metadata: JsonObject;
  program: StoredProgram | null;
  lastSeq: number;
  /**
   * Goes up with every change a run page shows: an applied upload, an edit (patchRun), a sweep
   * that marks it crashed, a heartbeat that revives it. Servers poll it (runRevisions) to tell
   * their live-event streams of changes that other servers applied.
   */
  revision: number;
  /**
   * When the server's sweeper marked the run crashed for want of heartbeats, else null. Such a
   * crash is undone by anything the run sends later (a heartbeat, records, its exit record).
   */
  sweeperCrashedAt: number | null;
}

/** Where a batch of records goes, and who sends it (checked by the caller). */
export interface IngestTarget {
  entityId: number;
  project: string;
  runId: string;
  authorUserId: number;
}

export interface IngestOutcome {
  records: number;
  lastSeq: number;
}

export type RunSortField =
  | "createdAt"
  | "name"
  | "state"
  | "heartbeatAt"
  | "duration"
  | "author"
  | "jobType"
  | "group"
  | "notes"
  | "id"
  | "tags";

/**
 * A page of a project's runs. The order: by the sort value in the chosen direction; runs without
 * a value (a NULL field, no such config or summary key, a JSON null) last in either direction;
 * ties in the order the runs were created (the store's key), in the same direction. Text fields
 * compare by UTF-8 bytes; `tags` compares the lists tag by tag, a list before the longer lists it
 * begins (so untagged runs come first); `duration` is as views.ts computes it (to the end, to
 * `now` while running, else to the last heartbeat).
 */
export interface ListRunsQuery {
  limit: number;
  offset: number;
  state?: RunState;
  sort: RunSortField;
  /**
   * Sort by a config or summary value instead of `sort`: `path` holds the keys from the top down
   * (a key may itself hold a dot). Numbers compare by value and come before strings (by UTF-8
   * bytes); the order of booleans, objects and arrays among them is not part of the contract.
   */
  sortJson?: { column: "config" | "summary"; path: string[] };
  descending: boolean;
  /** Only runs carrying this tag (exactly). */
  tag?: string;
  /**
   * Only runs whose name, id, notes, group, job type or one of whose tags contains this text,
   * ASCII letters in either case (see "text search" above). Within one tag only: the brackets,
   * quotes and commas of however a backend keeps the list never match.
   */
  text?: string;
  /** The clock for sorting by duration (a running run's duration grows with it). */
  now?: number;
  /** Only public runs (the viewer has no role in the entity). */
  publicOnly: boolean;
}

/** `x` of a downsampled history query: the step, the wall time (ms) or the runtime (s). */
export type HistoryAxis = "step" | "time" | "runtime";

export interface HistoryBucketsQuery {
  key: string;
  x: HistoryAxis;
  /** Another logged metric as x (overrides `x`): `key` paired with it at equal steps (store/history-join.ts). */
  xKey?: string;
  buckets: number;
  /** Inclusive x range (a zoom); the whole run when left out. */
  from?: number;
  to?: number;
}

/**
 * A metric downsampled along x into equal-width buckets (store/history-buckets.ts): per
 * non-empty bucket, in x order, its range [x0, x1], how many points it holds, the min, max and
 * mean of their finite values (NaN when it holds none), and its last point (x and y as logged).
 * The HTTP layer answers it as the API's HistoryBucketsView (non-finite values as null).
 */
export interface HistoryBuckets {
  key: string;
  x: HistoryAxis;
  /** The metric used as x, when one was asked for (x and the x ranges are its values then). */
  xKey?: string;
  /** Points of the metric in the range, before bucketing. */
  points: number;
  x0: number[];
  x1: number[];
  xLast: number[];
  min: number[];
  max: number[];
  mean: number[];
  last: number[];
  count: number[];
  /** Points whose value is NaN or infinite (counted, left out of min, max and mean). */
  nonFinite: number;
}

export interface HistoryQuery {
  minStep?: number;
  maxStep?: number;
  limit: number;
}

export interface SystemMetricsQuery {
  /** Inclusive time range, ms since epoch. */
  from?: number;
  to?: number;
  limit: number;
}

/** One sample of system metrics: its time (ms since epoch) and its values (NaN kept). */
export interface StoredSystemSample {
  at: number;
  values: { [key: string]: number };
}

export interface ConsoleQuery {
  /** Lines with a seq above this one; -1 for the first line on. */
  after: number;
  limit: number;
  /** Only lines holding this text: the 26 ASCII letters match in either case, every other character only itself (see "text search" above). */
  contains?: string;
}

export interface StoredConsoleLine {
  seq: number;
  /** ms since epoch */
  at: number;
  stream: "stdout" | "stderr";
  text: string;
}

/** How many records of one unknown kind (a newer daemon's) a run holds, kept opaque. */
export interface StoredUnknownKind {
  kind: string;
  count: number;
}

/** What the daemon reported that the server refused of a run's uploads (records of kind "refused"). */
export interface StoredRefusals {
  /** Records and bytes refused in all, over every report. */
  records: number;
  bytes: number;
  reports: number;
  /** Each distinct error, newest first (at most 10): records refused with it, and when last (ms). */
  reasons: { error: string; records: number; at: number }[];
}

/** Fields a person may change on a run through the API (PATCH). */
export interface RunPatch {
  name?: string;
  notes?: string | null;
  tags?: string[];
  privacy?: Privacy;
}

/** Whose saved views, of which project: a user's own, in an entity's project. */
export interface ViewScope {
  userId: number;
  entityId: number;
  project: string;
}

/** A saved view of a project's workspace (protocol/api.ts SavedView). */
export interface StoredView {
  id: number;
  name: string;
  state: JsonObject;
  isDefault: boolean;
  createdAt: number;
  updatedAt: number;
}

/** What a change of a saved view sets; fields left out keep their value. */
export interface ViewChange {
  name?: string;
  state?: JsonObject;
  isDefault?: boolean;
}

/** What a session or login-link token is for. */
export type SessionKind = "session" | "login_link";

/**
 * The tracking server's storage. Implementations: `SqliteStore` (sqlite/sqlite-store.ts). Every
 * backend passes the same contract suite, `runStoreContract` in test/server/store-contract.ts.
 *
 * @example
 * const store = await SqliteStore.open("/tmp/trackside.db");
 * const user = await store.createUser("alice"); // also creates entity "alice"
 * await store.close();
 */
export interface Store extends ArtifactStore, MediaStore {
  /**
   * Whether other server processes may serve from this store at the same time: true for
   * PostgreSQL (replicas behind a load balancer); false for a store one process owns (SQLite's
   * file). A start on a shared store writes the local user's key only when the database
   * needs one (bootstrap.ts), so that replicas restarted often do not pile up keys.
   */
  readonly shared: boolean;

  // users and credentials
  countUsers(): Promise<number>;
  /**
   * Creates a user and the entity of the same name that it owns.
   * @throws TRK_ERR_CONFLICT when a user or a team has the name already, in any letter case.
   */
  createUser(name: string, now?: number, details?: NewUser): Promise<StoredUser>;
  getUserByName(name: string): Promise<StoredUser | null>;
  /** Every user, oldest first. */
  listUsers(): Promise<StoredUser[]>;
  /** The oldest user: the local user of an embedded server. */
  firstUser(): Promise<StoredUser | null>;
  /**
   * Disables (`disabledAt` a time; their sessions and login links are deleted) or enables (null)
   * a user, or makes them a site admin or not.
   * @throws TRK_ERR_CONFLICT, changing nothing, when the server would be left with no enabled admin.
   */
  updateUser(userId: number, change: { disabledAt?: number | null; admin?: boolean }): Promise<StoredUser>;
  /** Stores an API key by its hash; the key itself is never stored. */
  addApiKey(userId: number, keyHash: string, prefix: string, now?: number, label?: string | null): Promise<StoredApiKey>;
  /**
   * The enabled user of a key, or null; notes the key's use (`lastUsedAt`, at most once a
   * minute, so that a busy upload does not write per request).
   */
  userByApiKeyHash(keyHash: string, now?: number): Promise<StoredUser | null>;
  /** A user's keys, oldest first. */
  listApiKeys(userId: number): Promise<StoredApiKey[]>;
  /**
   * Deletes one of the user's keys, and the sessions and login links made with it; the key's
   * hash, or null when the user has no such key.
   */
  revokeApiKey(userId: number, keyId: number): Promise<string | null>;
  /**
   * Stores a session or login link by its token's hash, with the API key it was made with (or
   * null): revoking that key deletes it (revokeApiKey), as disabling its user does (updateUser).
   */
  addSession(tokenHash: string, userId: number, kind: SessionKind, expiresAt: number, now?: number, apiKeyId?: number | null): Promise<void>;
  /** The id of the API key a credential is, or was made with (a session's, a login link's); null for none. */
  credentialKeyId(kind: "key" | "session", hash: string): Promise<number | null>;
  /** The enabled user of a live session token of that kind, or null (expired, unknown, disabled). */
  userBySession(tokenHash: string, kind: SessionKind, now: number): Promise<StoredUser | null>;
  /** Deletes the token and returns its user if it was live: one use only. */
  consumeSession(tokenHash: string, kind: SessionKind, now: number): Promise<StoredUser | null>;
  deleteSession(tokenHash: string): Promise<void>;

  // entities, teams and projects
  getEntity(name: string): Promise<StoredEntity | null>;
  /** Creates the user entity if it does not exist; returns it either way. */
  ensureEntity(name: string, ownerUserId: number): Promise<StoredEntity>;
  /** The user's own entity first, then their teams', by name. */
  entitiesOf(userId: number): Promise<StoredEntity[]>;
  /** What the user is to the entity: "owner" of their own, their role in a team, else null. */
  roleIn(entity: StoredEntity, userId: number): Promise<EntityRole | null>;
  /**
   * Creates a team entity with its creator as its admin.
   * @throws TRK_ERR_CONFLICT when a user or a team has the name already, in any letter case.
   */
  createTeam(name: string, creatorUserId: number, now?: number): Promise<StoredEntity>;
  /** The teams a user belongs to, by name. */
  teamsOf(userId: number): Promise<StoredMembership[]>;
  /** A team's members, admins first, then by name. */
  teamMembers(teamId: number): Promise<StoredTeamMember[]>;
  /**
   * Adds a member or changes their role.
   * @throws TRK_ERR_CONFLICT, changing nothing, when that would leave the team without an admin.
   */
  setTeamMember(teamId: number, userId: number, role: TeamRole, now?: number): Promise<void>;
  /**
   * Removes a member; false when they were none.
   * @throws TRK_ERR_CONFLICT, changing nothing, when they are the team's last admin.
   */
  removeTeamMember(teamId: number, userId: number): Promise<boolean>;
  /** A project's settings, or null when the project does not exist. */
  getProject(entity: string, project: string): Promise<StoredProjectSettings | null>;
  /** Sets the privacy of a project's new runs, creating the project if it has no run yet. */
  setProjectDefaultPrivacy(entityId: number, project: string, privacy: Privacy, now?: number): Promise<void>;
  /** Projects of an entity that hold at least one counted run (all runs, or public ones only). */
  listProjects(entity: string, publicOnly: boolean): Promise<StoredProject[]>;

  // runs
  /**
   * Applies a batch of records in one transaction (see records.ts for the semantics). Sets
   * heartbeat_at to `now`, and revives a run the sweeper marked crashed (state `running`, its
   * error cleared) unless the batch's exit record set a final state. The records are the
   * store's from the call on: SQLite moves their typed arrays to its writer thread
   * (sqlite/ingest-writer.ts), where they read as empty.
   */
  ingest(target: IngestTarget, records: RunRecord[], now: number): Promise<IngestOutcome>;
  /**
   * Sets heartbeat_at to `now`, and revives a run the sweeper marked crashed (state `running`,
   * its error cleared); a crash reported by an exit record stays. False when the run does not exist.
   */
  heartbeat(entity: string, project: string, runId: string, now: number): Promise<boolean>;
  /**
   * Marks `crashed`, with `error` as the error text and `sweeperCrashedAt = now`, every run that
   * is `running` with heartbeat_at before `cutoff`; returns how many runs this call marked.
   * Changes no per-field seq, so a later exit record still applies. Must be one atomic
   * conditional update: several server processes may sweep the same database at once, and each
   * run must be marked by one of them only.
   */
  sweepStaleRuns(cutoff: number, now: number, error: string): Promise<number>;
  /**
   * Whether this server is the one that sweeps now: it holds, or has just taken, the database's
   * one sweeper lock, which the holder's death (its connection gone) releases for another to
   * take at its next try. Sweeps stay correct without it (sweepStaleRuns is atomic); the lock
   * keeps N replicas from doing the same work N times. A one-process store answers true.
   */
  holdsSweepLock(): Promise<boolean>;
  /**
   * The server's secret of that name (one per use, e.g. "wandb-upload-urls"): 32 random bytes,
   * made by the first server that asks and kept in the database, so that every replica on the
   * database gets the same bytes (a URL one signed, another accepts). Two servers asking first at
   * once both get the one that was stored.
   */
  serverSecret(name: string): Promise<Buffer>;
  /**
   * Notes that a W&B client asked to resume the run (RunResumeStatus) at `now`, replacing the
   * run's earlier ask, and forgets every ask of any run made before `forgetBefore` (expired). Kept
   * in the database, not in the asking server's memory: behind a load balancer the upsert that
   * follows may reach another replica (wandb/wandb-runs.ts).
   */
  addResumeAsk(runPk: number, now: number, forgetBefore: number): Promise<void>;
  /**
   * Whether the run has an ask made at or after `since`; its ask, if any, is used up either way.
   * Atomic: of callers taking the same ask at once (on any replica), one only gets true.
   */
  takeResumeAsk(runPk: number, since: number): Promise<boolean>;
  getRun(entity: string, project: string, runId: string): Promise<StoredRun | null>;
  /** A page of a project's runs and how many match in all; null when the project does not exist. */
  listRuns(entity: string, project: string, query: ListRunsQuery): Promise<{ runs: StoredRun[]; total: number } | null>;
  countHistory(runPk: number): Promise<number>;
  /** History rows in step order, decoded exactly (NaN and the infinities included). */
  readHistory(runPk: number, query: HistoryQuery): Promise<HistoryRow[]>;
  /** System metrics samples in time order, decoded exactly (NaN included). */
  readSystemMetrics(runPk: number, query: SystemMetricsQuery): Promise<StoredSystemSample[]>;
  /** Every key the run's system metrics samples held, sorted. */
  systemMetricKeys(runPk: number): Promise<string[]>;
  countConsole(runPk: number): Promise<number>;
  /** Console lines in seq order. */
  readConsole(runPk: number, query: ConsoleQuery): Promise<StoredConsoleLine[]>;
  /** The run's last `count` console lines, in seq order. */
  tailConsole(runPk: number, count: number): Promise<StoredConsoleLine[]>;
  /** Records of unknown kinds the run holds, counted by kind (sorted by kind). */
  unknownRecordCounts(runPk: number): Promise<StoredUnknownKind[]>;
  /** The daemon's refusal reports of the run, summed; `reports` 0 when there were none. */
  refusals(runPk: number): Promise<StoredRefusals>;
  /** Each run's revision (StoredRun.revision) by pk; runs that do not exist are left out. */
  runRevisions(runPks: number[]): Promise<Map<number, number>>;
  /**
   * The revisions, by pk, of the project's runs whose last change (an applied upload, an edit, a
   * sweep, a revival) was at most `windowMs` ago by the database's clock: what a server holding
   * a project's live-event stream polls, at the cost of the runs that changed lately, not of
   * every run of the project. Empty when the project does not exist.
   */
  recentRunRevisions(entityId: number, project: string, windowMs: number): Promise<RecentRunRevision[]>;
  /** Applies a person's edit; it wins over every record already applied. */
  patchRun(runPk: number, patch: RunPatch): Promise<void>;
  /** One numeric history metric downsampled into buckets along x (see HistoryBuckets). */
  historyBuckets(runPk: number, query: HistoryBucketsQuery): Promise<HistoryBuckets>;

  // saved views (a user's own, per project)
  /** The scope's views, by name. */
  listViews(scope: ViewScope): Promise<StoredView[]>;
  /**
   * Saves a new view; a default one clears the scope's other default.
   * @throws TRK_ERR_CONFLICT when the user already has a view of that name there.
   */
  createView(scope: ViewScope, view: { name: string; state: JsonObject; isDefault: boolean }, now?: number): Promise<StoredView>;
  /**
   * Changes a view of the scope (null: it has none of that id); setting it default clears the
   * scope's other default.
   * @throws TRK_ERR_CONFLICT when renamed to a name the user already has there.
   */
  updateView(scope: ViewScope, id: number, change: ViewChange, now?: number): Promise<StoredView | null>;
  /** Deletes a view of the scope; false when it has none of that id. */
  deleteView(scope: ViewScope, id: number): Promise<boolean>;
  close(): Promise<void>;
}
