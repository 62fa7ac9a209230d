/**
 * Turns stored runs into the API shapes of protocol/api.ts: ISO times, derived durations, the
 * run's path and URL. One place, so the JSON API, the HTML pages and the CLI agree.
 */
import {
  runUrl,
  type ApiKeyView,
  type HistoryBucketsView,
  type ProjectView,
  type RefusedView,
  type RunListItem,
  type RunView,
  type TeamMemberView,
  type UserView,
} from "../../protocol/api.js";
import { MAX_TIME_MS } from "../../protocol/limits.js";
import type { JsonObject } from "../../protocol/records.js";
import type { HistoryBuckets, StoredApiKey, StoredProject, StoredRefusals, StoredRun, StoredTeamMember, StoredUnknownKind, StoredUser } from "../store/store.js";

/** What a run's page shows beside its fields: records of unknown kinds, and refused records. */
export interface RunNotices {
  unknownRecords: StoredUnknownKind[];
  refusals: StoredRefusals | null;
}

/** A stored time as ISO 8601; null for none, and for one no Date holds (stored before ingest bounded times). */
const EPOCH = new Date(0).toISOString();
const iso = (ms: number | null): string | null => (ms === null || !(Math.abs(ms) <= MAX_TIME_MS) ? null : new Date(ms).toISOString());

/**
 * Seconds from start to end: to finished_at once the run ended, to `now` while it runs, and to
 * the last heartbeat for a run that ended without saying when (a crash found by the server).
 */
export function durationSeconds(run: StoredRun, now: number): number | null {
  const end = run.finishedAt ?? (run.state === "running" ? now : run.heartbeatAt);
  if (end === null) return null;
  return Math.max(0, end - run.createdAt) / 1000;
}

/**
 * The run's metadata as shown: the daemon's metadata plus `program` (the command that started
 * the run, from its run record). Kept apart in storage so a later metadata record cannot drop it.
 */
export function shownMetadata(run: StoredRun): JsonObject {
  return run.program ? { program: run.program, ...run.metadata } : run.metadata;
}

export function toRunListItem(run: StoredRun, now: number): RunListItem {
  return {
    id: run.id,
    name: run.name,
    entity: run.entity,
    project: run.project,
    state: run.state,
    createdAt: iso(run.createdAt) ?? EPOCH,
    durationSeconds: durationSeconds(run, now),
    tags: run.tags,
    notes: run.notes,
    author: run.author,
    jobType: run.jobType,
    group: run.group,
    config: run.config,
    summary: run.summary,
  };
}

/**
 * Every overview field of a run.
 *
 * @example
 * const view = toRunView(run, await store.countHistory(run.pk), "http://127.0.0.1:8421", Date.now(), await store.countConsole(run.pk));
 * view.path; // "alice/mnist/a1b2c3d4"
 */
export function toRunView(
  run: StoredRun,
  historySteps: number,
  publicBaseUrl: string,
  now: number,
  consoleLines = 0,
  notices?: RunNotices,
  canEdit = false,
): RunView {
  return {
    ...toRunListItem(run, now),
    canEdit,
    path: `${run.entity}/${run.project}/${run.id}`,
    url: runUrl(publicBaseUrl, run.entity, run.project, run.id),
    exitCode: run.exitCode,
    signal: run.signal,
    error: run.error,
    privacy: run.privacy,
    heartbeatAt: iso(run.heartbeatAt),
    finishedAt: iso(run.finishedAt),
    config: run.config,
    metadata: shownMetadata(run),
    historySteps,
    consoleLines,
    lastSeq: run.lastSeq,
    unknownRecords: notices?.unknownRecords ?? [],
    refused: toRefusedView(notices?.refusals ?? null),
  };
}

function toRefusedView(r: StoredRefusals | null): RefusedView | null {
  if (r === null || r.reports === 0) return null;
  return {
    records: r.records,
    bytes: r.bytes,
    reports: r.reports,
    reasons: r.reasons.map((x) => ({ error: x.error, records: x.records, at: iso(x.at) ?? EPOCH })),
  };
}

export function toProjectView(p: StoredProject): ProjectView {
  return { entity: p.entity, name: p.name, runCount: p.runCount, lastRunAt: iso(p.lastRunAt) };
}

export function toUserView(u: StoredUser): UserView {
  return { name: u.name, email: u.email, admin: u.admin, disabled: u.disabledAt !== null, createdAt: iso(u.createdAt) ?? EPOCH };
}

export function toApiKeyView(k: StoredApiKey): ApiKeyView {
  return { id: k.id, label: k.label, prefix: k.prefix, createdAt: iso(k.createdAt) ?? EPOCH, lastUsedAt: iso(k.lastUsedAt) };
}

/** JSON has no NaN or infinities: a bucket value that is not a finite number is null. */
const finiteOrNull = (values: number[]) => values.map((v) => (Number.isFinite(v) ? v : null));

export function toHistoryBucketsView(b: HistoryBuckets): HistoryBucketsView {
  return {
    key: b.key,
    x: b.x,
    ...(b.xKey === undefined ? {} : { xKey: b.xKey }),
    points: b.points,
    x0: b.x0,
    x1: b.x1,
    xLast: b.xLast,
    min: finiteOrNull(b.min),
    max: finiteOrNull(b.max),
    mean: finiteOrNull(b.mean),
    last: finiteOrNull(b.last),
    count: b.count,
    nonFinite: b.nonFinite,
  };
}

export function toTeamMemberView(m: StoredTeamMember): TeamMemberView {
  return { user: m.user, role: m.role, addedAt: iso(m.addedAt) ?? EPOCH };
}
