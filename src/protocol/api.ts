/**
 * Shapes of the HTTP API (docs/api.md). The server produces them; the CLI and the web app read
 * them. Non-finite numbers travel in JSON as the strings "NaN", "Infinity" and "-Infinity".
 */
import type { ArtifactVersionSummary } from "./artifacts.js";
import type { MediaKeyView } from "./media.js";
import type { JsonObject, RunState } from "./records.js";

export const API_PREFIX = "/api/v1";

/** Content type of an upload body: RunRecord[] batches, msgpack-encoded, back to back. */
export const RECORDS_CONTENT_TYPE = "application/vnd.trackside.records+msgpack";

/**
 * Content type of the daemon's upload body: a slice of the run's WAL, frames as they are on disk
 * (length, CRC-32, msgpack RunRecord[] batch). The daemon sends it without copying, and the
 * server checks every frame's CRC, so the bytes are verified from disk to database.
 */
export const WAL_FRAMES_CONTENT_TYPE = "application/vnd.trackside.wal-frames";

/** A role in a team. */
export type TeamRole = "admin" | "member" | "viewer";
export const TEAM_ROLES: readonly TeamRole[] = ["admin", "member", "viewer"];

/** What someone is to an entity: the user of a user's entity ("owner"), or a team role. */
export type EntityRole = "owner" | TeamRole;

export type Privacy = "private" | "public";

/** `GET /api/v1/viewer`: who a key or session is. */
export interface ViewerView {
  user: string;
  /** Where runs go when none is named: the user's own entity. */
  entity: string;
  email: string | null;
  /** A site admin: manages accounts (and reads nothing private for it). */
  admin: boolean;
  /** The user's teams, by name. */
  teams: { name: string; role: TeamRole }[];
}

/** An account, as site admins see it (`GET /api/v1/users`). */
export interface UserView {
  name: string;
  email: string | null;
  admin: boolean;
  disabled: boolean;
  createdAt: string;
}

/** `POST /api/v1/users`: the new account and its first API key, shown this once. */
export interface NewUserView {
  user: UserView;
  apiKey: string;
}

/** An API key as listed: never the key itself. */
export interface ApiKeyView {
  id: number;
  label: string | null;
  /** The key's first characters, to tell keys apart ("trk_AbCd"). */
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
}

/** `POST /api/v1/keys`: a new key, shown this once. */
export interface NewApiKeyView extends ApiKeyView {
  key: string;
}

export interface TeamMemberView {
  user: string;
  role: TeamRole;
  addedAt: string;
}

/** A team with its members (`GET /api/v1/teams/:team`, for its members). */
export interface TeamView {
  name: string;
  /** The asking user's role in it. */
  role: TeamRole;
  members: TeamMemberView[];
}

/** A row of `GET /api/v1/teams`: the asking user's teams. */
export interface TeamListItem {
  name: string;
  role: TeamRole;
  members: number;
}

/** `GET /api/v1/entities/:entity`: a user's or a team's entity, and what the asker may do in it. */
export interface EntityView {
  name: string;
  kind: "user" | "team";
  /** The asker's role; null for anyone else (anonymous included). */
  role: EntityRole | null;
  /** May log runs to it and edit its runs (owner, team admin or member). */
  canWrite: boolean;
  /** May change its projects' settings and, for a team, its members (owner or team admin). */
  canAdminister: boolean;
}

/** `GET`/`PATCH /api/v1/projects/:entity/:project`: a project's settings. */
export interface ProjectSettingsView {
  entity: string;
  name: string;
  /** The privacy of runs created in it from now on. */
  defaultPrivacy: Privacy;
  canWrite: boolean;
  canAdminister: boolean;
}

/**
 * `/api/v1/views/:entity/:project`: a named, saved state of a project's workspace, one user's
 * own. `state` is the web app's (visible runs, panels, grouping, table sort and filters); the
 * server only keeps it. At most one view per user and project is the default.
 */
export interface SavedView {
  id: string;
  name: string;
  state: Record<string, unknown>;
  isDefault: boolean;
  /** ms since epoch. */
  createdAt: number;
  updatedAt: number;
}

export interface ProjectView {
  entity: string;
  name: string;
  runCount: number;
  lastRunAt: string | null;
}

/** A row of a project's runs table. */
export interface RunListItem {
  id: string;
  name: string;
  entity: string;
  project: string;
  state: RunState;
  createdAt: string;
  durationSeconds: number | null;
  tags: string[];
  notes: string | null;
  author: string;
  jobType: string | null;
  group: string | null;
  /** The run's config (the runs table shows chosen keys of it as columns). */
  config: JsonObject;
  summary: JsonObject;
}

/** One run with every overview field. */
export interface RunView extends RunListItem {
  path: string;
  url: string;
  exitCode: number | null;
  signal: string | null;
  error: string | null;
  privacy: Privacy;
  /** Whether the asker may edit the run (name, notes, tags, privacy); false when anonymous. */
  canEdit: boolean;
  heartbeatAt: string | null;
  finishedAt: string | null;
  config: JsonObject;
  metadata: JsonObject;
  historySteps: number;
  /** Console lines stored. */
  consoleLines: number;
  lastSeq: number;
  /**
   * Records of kinds this server does not know (sent by a newer daemon), kept opaque and
   * counted by kind, so that version skew loses nothing; empty as a rule.
   */
  unknownRecords: { kind: string; count: number }[];
  /** What the server refused of the run's uploads, as the daemon reported it; null when nothing was. */
  refused: RefusedView | null;
  /** The artifact versions this run logged, in the order it first logged them (present once the server keeps artifacts). */
  artifactOutputs?: ArtifactVersionSummary[];
  /** The artifact versions this run used, in the order it first used them. */
  artifactInputs?: ArtifactVersionSummary[];
  /** The run's media keys (images, histograms, tables), by key (present once the server keeps media). */
  mediaKeys?: MediaKeyView[];
}

/**
 * Records the server refused: the daemon set each refused frame aside in its dead-letter file
 * (beside the run's WAL) with the server's error, went on with the next, and reported it.
 */
export interface RefusedView {
  records: number;
  bytes: number;
  /** Frames refused (one report each). */
  reports: number;
  /** Each distinct error, newest first (at most 10): records refused with it, and when last. */
  reasons: { error: string; records: number; at: string }[];
}

/** "12 records were refused by the server: <error>" (and how many other reasons): one line for a page or a terminal. */
export function refusedSentence(refused: RefusedView): string {
  const [first, ...rest] = refused.reasons;
  const records = `${refused.records} record${refused.records === 1 ? " was" : "s were"} refused by the server`;
  if (!first) return `${records}.`;
  return `${records}: ${first.error}${rest.length > 0 ? ` (and ${rest.length} other reason${rest.length === 1 ? "" : "s"})` : ""}`;
}

export interface HistoryView {
  keys: string[];
  /**
   * One object per step, holding `_step` and the chosen keys present at that step; a media key's
   * value (protocol/media.ts, MediaValueView) with each image's `url`.
   */
  rows: JsonObject[];
  /**
   * Media keys whose values were left out past a step, to bound the answer's size (about 16 MB
   * of media values in all): key -> the first step left out. Read on with
   * `GET .../media/values?key=K&fromStep=N`. Absent when nothing was left out.
   */
  mediaLeftOut?: Record<string, number>;
}

/**
 * One numeric history metric downsampled into equal-width x buckets, as columns
 * (`GET .../history/buckets`): bucket i holds the points with x in [x0[i], x1[i]]; `xLast` is
 * the x of its last point and `last` that point's value. min and max keep every spike visible
 * at any zoom. Non-finite values are left out of min, max and mean and counted in `nonFinite`;
 * a bucket of only non-finite values has null there. Buckets without points are left out, so
 * with fewer points than buckets each bucket is one point, exactly as logged.
 */
export interface HistoryBucketsView {
  key: string;
  /** The x axis: `_step`, the wall time `_timestamp` (ms) or `_runtime` (s). */
  x: "step" | "time" | "runtime";
  /** With `?xKey=`: the logged metric used as x (x0, x1 and xLast are its values; pairs by step). */
  xKey?: string;
  /** Points of the metric in the range, before bucketing. */
  points: number;
  x0: number[];
  x1: number[];
  xLast: number[];
  min: (number | null)[];
  max: (number | null)[];
  mean: (number | null)[];
  last: (number | null)[];
  count: number[];
  nonFinite: number;
}

/**
 * One metric of several runs of a project downsampled in one request
 * (`GET /api/v1/runs/:entity/:project/history/buckets?runs=a,b`): each run's buckets as
 * `HistoryBucketsView`, by run id. A requested run that does not exist or that the asker may not
 * read is listed in `notFound` (the two are not told apart).
 */
export interface HistoryBucketsBatchView {
  runs: Record<string, HistoryBucketsView>;
  notFound: string[];
}

/** A page of a project's runs (`GET /api/v1/runs/:entity/:project`). */
export interface RunListPage {
  runs: RunListItem[];
  /** Runs matching the filters, in all. */
  total: number;
}

/** A change to a run, pushed on `GET .../events` (server-sent events) as it happens. */
export interface RunEvent {
  /**
   * `records`: an upload was applied; `patch`: a person edited the run (both through this
   * server); `change`: anything else that changed the run (an upload or edit through another
   * server of the same database, the sweeper marking it crashed).
   */
  kind: "records" | "patch" | "change";
  /** The run's id (a project's stream carries every run's events). */
  id: string;
  lastSeq: number;
  state: RunState;
}

/** A run's system metrics (GET .../system). */
export interface SystemMetricsView {
  /** Every key the run's samples hold, sorted (not only the chosen ones). */
  keys: string[];
  /** One object per sample in time order: `at` (ms since epoch) and the chosen keys it holds. */
  rows: Array<{ at: number; [key: string]: number }>;
}

/** One line of a run's console output. */
export interface ConsoleLineView {
  seq: number;
  /** ms since epoch */
  at: number;
  stream: "stdout" | "stderr";
  text: string;
}

/** A page of a run's console output (GET .../console). */
export interface ConsoleView {
  lines: ConsoleLineView[];
  /** The `after` of the next page when this one is full; null when there was no more. */
  next: number | null;
}

export interface IngestResult {
  /** Records applied (a resent record counts too; applying it again changed nothing). */
  records: number;
  /** The highest sequence number the server holds for the run. */
  lastSeq: number;
}

export interface ErrorBody {
  error: { code: string; message: string };
}

/** `<baseUrl>/<entity>/<project>/runs/<id>`: the page a person opens. */
export function runUrl(baseUrl: string, entity: string, project: string, id: string): string {
  return `${baseUrl.replace(/\/+$/, "")}/${encodeURIComponent(entity)}/${encodeURIComponent(project)}/runs/${encodeURIComponent(id)}`;
}

/**
 * JSON.stringify replacer that keeps NaN and the infinities as strings instead of null, and
 * writes a BigInt (which JSON.stringify refuses with an exception) as its decimal string.
 */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value);
  if (typeof value === "bigint") return value.toString();
  return value;
}
