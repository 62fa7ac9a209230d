/**
 * Read queries over runs and history in SQLite, and the one write a person makes to a run (PATCH).
 * Kept apart from ingest: these run on the read path and may change shape with the web app.
 */
import type Database from "better-sqlite3";
import type { HistoryRow, JsonObject, RunState } from "../protocol/records.js";
import { decodeHistoryRow } from "./history-codec.js";
import type { HistoryQuery, ListRunsQuery, Privacy, RunPatch, RunSortField, StoredRun } from "./store.js";

const RUN_COLUMNS = `
  r.pk, r.run_id, r.name, r.notes, r.tags, r.run_group, r.job_type, r.privacy, r.state, r.exit_code,
  r.signal, r.error, r.created_at, r.heartbeat_at, r.finished_at, r.config, r.summary, r.metadata,
  r.program, r.last_seq, r.sweeper_crashed_at, e.name AS entity, e.owner_user_id, p.name AS project, u.name AS author`;
const RUN_FROM = `
  runs r JOIN projects p ON p.id = r.project_id JOIN entities e ON e.id = p.entity_id
  JOIN users u ON u.id = r.author_user_id`;

const SORT_COLUMNS: Record<RunSortField, string> = {
  createdAt: "r.created_at",
  name: "r.name",
  state: "r.state",
  heartbeatAt: "r.heartbeat_at",
};

interface RunRow {
  pk: number;
  run_id: string;
  name: string;
  notes: string | null;
  tags: string;
  run_group: string | null;
  job_type: string | null;
  privacy: Privacy;
  state: RunState;
  exit_code: number | null;
  signal: string | null;
  error: string | null;
  created_at: number;
  heartbeat_at: number | null;
  finished_at: number | null;
  config: string;
  summary: string;
  metadata: string;
  program: string | null;
  last_seq: number;
  sweeper_crashed_at: number | null;
  entity: string;
  owner_user_id: number;
  project: string;
  author: string;
}

function toStoredRun(row: RunRow): StoredRun {
  return {
    pk: row.pk,
    entity: row.entity,
    entityOwnerUserId: row.owner_user_id,
    project: row.project,
    id: row.run_id,
    name: row.name,
    notes: row.notes,
    tags: JSON.parse(row.tags) as string[],
    group: row.run_group,
    jobType: row.job_type,
    privacy: row.privacy,
    author: row.author,
    state: row.state,
    exitCode: row.exit_code,
    signal: row.signal,
    error: row.error,
    createdAt: row.created_at,
    heartbeatAt: row.heartbeat_at,
    finishedAt: row.finished_at,
    config: JSON.parse(row.config) as JsonObject,
    summary: JSON.parse(row.summary) as JsonObject,
    metadata: JSON.parse(row.metadata) as JsonObject,
    program: row.program === null ? null : (JSON.parse(row.program) as JsonObject),
    lastSeq: row.last_seq,
    sweeperCrashedAt: row.sweeper_crashed_at,
  };
}

/** Prepared read statements over one database (synchronous; SqliteStore wraps them in Promises). */
export class SqliteRunQueries {
  private readonly db: Database.Database;
  private readonly listCache = new Map<string, { page: Database.Statement; count: Database.Statement }>();
  private readonly s;

  constructor(db: Database.Database) {
    this.db = db;
    this.s = {
      getRun: db.prepare(`SELECT ${RUN_COLUMNS} FROM ${RUN_FROM} WHERE e.name = ? AND p.name = ? AND r.run_id = ?`),
      projectId: db
        .prepare("SELECT p.id FROM projects p JOIN entities e ON e.id = p.entity_id WHERE e.name = ? AND p.name = ?")
        .pluck(),
      countHistory: db.prepare("SELECT COUNT(*) FROM history WHERE run_pk = ?").pluck(),
      // Rows come in seq order, which is step order: the client refuses steps that go backwards.
      // That lets the primary key serve the query with no index on step to slow ingest down.
      history: db.prepare("SELECT data FROM history WHERE run_pk = ? AND step >= ? AND step <= ? ORDER BY seq LIMIT ?").pluck(),
    };
  }

  getRun(entity: string, project: string, runId: string): StoredRun | null {
    const row = this.s.getRun.get(entity, project, runId) as RunRow | undefined;
    return row ? toStoredRun(row) : null;
  }

  listRuns(entity: string, project: string, q: ListRunsQuery): { runs: StoredRun[]; total: number } | null {
    const projectId = this.s.projectId.get(entity, project) as number | undefined;
    if (projectId === undefined) return null;
    const { page, count } = this.listStatements(q);
    const params = q.state === undefined ? [projectId] : [projectId, q.state];
    const rows = page.all(...params, q.limit, q.offset) as RunRow[];
    return { runs: rows.map(toStoredRun), total: count.get(...params) as number };
  }

  /** One pair of statements per filter and sort shape; the shapes are few and fixed. */
  private listStatements(q: ListRunsQuery) {
    const key = `${q.sort}:${q.descending}:${q.state !== undefined}:${q.publicOnly}`;
    let st = this.listCache.get(key);
    if (!st) {
      const where = [
        "r.project_id = ?",
        ...(q.state !== undefined ? ["r.state = ?"] : []),
        ...(q.publicOnly ? ["r.privacy = 'public'"] : []),
      ].join(" AND ");
      const dir = q.descending ? "DESC" : "ASC";
      st = {
        page: this.db.prepare(
          `SELECT ${RUN_COLUMNS} FROM ${RUN_FROM} WHERE ${where} ORDER BY ${SORT_COLUMNS[q.sort]} ${dir}, r.pk ${dir} LIMIT ? OFFSET ?`,
        ),
        count: this.db.prepare(`SELECT COUNT(*) FROM runs r WHERE ${where}`).pluck(),
      };
      this.listCache.set(key, st);
    }
    return st;
  }

  countHistory(runPk: number): number {
    return this.s.countHistory.get(runPk) as number;
  }

  readHistory(runPk: number, q: HistoryQuery): HistoryRow[] {
    const blobs = this.s.history.all(
      runPk,
      q.minStep ?? Number.MIN_SAFE_INTEGER,
      q.maxStep ?? Number.MAX_SAFE_INTEGER,
      q.limit,
    ) as Buffer[];
    return blobs.map(decodeHistoryRow);
  }

  /**
   * A person's edit wins over every record applied so far: each edited field's seq moves up to
   * the run's last_seq, so a replayed older record cannot undo it, while a newer record (sent
   * after the edit) still applies, as the latest word should.
   */
  patchRun(runPk: number, patch: RunPatch): void {
    const sets: string[] = [];
    const values: unknown[] = [];
    const field = (col: string, seqCol: string | null, value: unknown) => {
      sets.push(`${col} = ?`);
      values.push(value);
      if (seqCol) sets.push(`${seqCol} = MAX(${seqCol}, last_seq)`);
    };
    if (patch.name !== undefined) field("name", "name_seq", patch.name);
    if (patch.notes !== undefined) field("notes", "notes_seq", patch.notes);
    if (patch.tags !== undefined) field("tags", "tags_seq", JSON.stringify(patch.tags));
    if (patch.privacy !== undefined) field("privacy", null, patch.privacy);
    if (sets.length === 0) return;
    this.db.prepare(`UPDATE runs SET ${sets.join(", ")} WHERE pk = ?`).run(...values, runPk);
  }
}
