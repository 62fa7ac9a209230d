/**
 * Read queries over runs and history in SQLite, and the one write a person makes to a run (PATCH).
 * Kept apart from ingest: these run on the read path and may change shape with the web app.
 */
import type Database from "better-sqlite3";
import type { HistoryRow } from "../../protocol/records.js";
import { readStoredRow } from "../store/history-codec.js";
import { CHUNKS_ONLY, HistoryRowCollector, recordKeys, type StoredChunk } from "../store/history-rows.js";
import { storedRunOf, type RunRow as RunRowOf } from "../store/run-row.js";
import type { HistoryQuery, ListRunsQuery, RecentRunRevision, RunPatch, RunSortField, StoredRun } from "../store/store.js";
import { DB_NOW_MS, MARK_CHANGED } from "./sqlite-liveness.js";
import { SqliteSortValues } from "./sqlite-sort-values.js";

const RUN_COLUMNS = `
  r.pk, r.run_id, r.name, r.notes, r.tags, r.run_group, r.job_type, r.privacy, r.state, r.exit_code,
  r.signal, r.error, r.created_at, r.heartbeat_at, r.finished_at, r.config, r.summary, r.metadata,
  r.program, r.last_seq, r.sweeper_crashed_at, r.revision, e.name AS entity, e.id AS entity_id, p.name AS project, u.name AS author`;
const RUN_FROM = `
  runs r JOIN projects p ON p.id = r.project_id JOIN entities e ON e.id = p.entity_id
  JOIN users u ON u.id = r.author_user_id`;

/** SQL of each sort field; NULLs sort last either way (see listStatements). */
const SORT_COLUMNS: Record<RunSortField, string> = {
  createdAt: "r.created_at",
  name: "r.name",
  state: "r.state",
  heartbeatAt: "r.heartbeat_at",
  // As views.ts computes it: to the end, to now while running, else to the last heartbeat.
  duration: "(COALESCE(r.finished_at, CASE WHEN r.state = 'running' THEN @now ELSE r.heartbeat_at END) - r.created_at)",
  author: "u.name",
  jobType: "r.job_type",
  group: "r.run_group",
  notes: "r.notes",
  id: "r.run_id",
  // Tag by tag, each by its UTF-8 bytes, a list before the longer lists it begins (so untagged
  // runs first): each tag as the hex of its bytes (which keeps their order), joined by a space
  // (which sorts below every hex digit). The JSON text would not do: `[]` sorts after `["a"]`.
  tags: "COALESCE((SELECT group_concat(hex(value), ' ') FROM (SELECT value FROM json_each(r.tags) ORDER BY key)), '')",
};

/** Index rows read per query of a chunked history read; a read of a few rows needs one page. */
const RECORDS_PER_PAGE = 64;

const NOT_NULL_SORTS = new Set<RunSortField>(["createdAt", "name", "state", "author", "id", "tags"]);

/** A JSON path for SQLite's json_extract: each segment quoted, so dots and spaces in keys are safe. */
export function jsonPath(path: string[]): string {
  return "$" + path.map((seg) => `."${seg}"`).join("");
}

/** A run row as SQLite gives it: the JSON columns as text. */
type RunRow = RunRowOf<string>;

const toStoredRun = (row: RunRow): StoredRun => storedRunOf(row, (text) => JSON.parse(text));

/** The conditions of a runs page's filters on `r`, beyond its project (bound as @state, @tag, @text). */
function runFilters(q: ListRunsQuery): string[] {
  return [
    ...(q.state !== undefined ? ["r.state = @state"] : []),
    ...(q.publicOnly ? ["r.privacy = 'public'"] : []),
    ...(q.tag !== undefined ? ["EXISTS (SELECT 1 FROM json_each(r.tags) WHERE json_each.value = @tag)"] : []),
    ...(q.text !== undefined
      ? [
          `(r.name LIKE @text ESCAPE '\\' OR r.run_id LIKE @text ESCAPE '\\' OR r.notes LIKE @text ESCAPE '\\'
            OR EXISTS (SELECT 1 FROM json_each(r.tags) WHERE json_each.value LIKE @text ESCAPE '\\')
            OR r.run_group LIKE @text ESCAPE '\\' OR r.job_type LIKE @text ESCAPE '\\')`,
        ]
      : []),
  ];
}

/** Prepared read statements over one database, and run edits (synchronous; SqliteStore wraps them in Promises). */
export class SqliteRunQueries {
  private readonly db: Database.Database;
  private readonly listCache = new Map<string, { page: Database.Statement; count: Database.Statement; usesNow: boolean }>();
  private readonly s;
  private readonly sortValues: SqliteSortValues;

  /** `write`: runs a write of the main connection in its turn (SqliteStore's, writer-gate.ts): registering a sort path. */
  constructor(db: Database.Database, write?: <T>(fn: () => T) => T) {
    this.db = db;
    this.sortValues = new SqliteSortValues(db, write);
    this.s = {
      getRun: db.prepare(`SELECT ${RUN_COLUMNS} FROM ${RUN_FROM} WHERE e.name = ? AND p.name = ? AND r.run_id = ?`),
      projectId: db
        .prepare("SELECT p.id FROM projects p JOIN entities e ON e.id = p.entity_id WHERE e.name = ? AND p.name = ?")
        .pluck(),
      historyLayout: db.prepare("SELECT history_chunks FROM runs WHERE pk = ?").pluck(),
      // Runs from before migration 9: the wide rows, one per step.
      countRows: db.prepare("SELECT COUNT(*) FROM history WHERE run_pk = ?").pluck(),
      // Rows come in seq order, which is step order: the client refuses steps that go backwards.
      // That lets the primary key serve the query with no index on step to slow ingest down.
      history: db.prepare("SELECT step, data FROM history WHERE run_pk = ? AND step >= ? AND step <= ? ORDER BY seq LIMIT ?").raw(),
      // Runs since: the steps of their records, which never overlap (history-rows.ts).
      countSteps: db.prepare("SELECT coalesce(sum(n), 0) FROM history_records WHERE run_pk = ?").pluck(),
      // A page of the records whose step range meets the query's, in seq order (the primary key).
      records: db
        .prepare(
          `SELECT first_seq, n, keys FROM history_records
           WHERE run_pk = ? AND first_seq > ? AND max_step >= ? AND min_step <= ? ORDER BY first_seq LIMIT ${RECORDS_PER_PAGE}`,
        )
        .raw(),
      chunk: db.prepare("SELECT n, m, data, extra FROM history_chunks WHERE run_pk = ? AND key = ? AND first_seq = ?"),
      revisionOf: db.prepare("SELECT revision FROM runs WHERE pk = ?").pluck(),
      // One range of runs_by_change (migration 13).
      recentRevisions: db.prepare(
        `SELECT r.pk, r.run_id AS id, r.revision FROM runs r
         WHERE r.project_id = (SELECT id FROM projects WHERE entity_id = ? AND name = ?) AND r.changed_at >= ${DB_NOW_MS} - ?`,
      ),
      runsByPk: db.prepare(`SELECT ${RUN_COLUMNS} FROM ${RUN_FROM} WHERE r.pk IN (SELECT value FROM json_each(?))`),
    };
  }

  getRun(entity: string, project: string, runId: string): StoredRun | null {
    const row = this.s.getRun.get(entity, project, runId) as RunRow | undefined;
    return row ? toStoredRun(row) : null;
  }

  listRuns(entity: string, project: string, q: ListRunsQuery): { runs: StoredRun[]; total: number } | null {
    const projectId = this.s.projectId.get(entity, project) as number | undefined;
    if (projectId === undefined) return null;
    const { page, count, usesNow } = this.listStatements(q);
    const params: Record<string, unknown> = { projectId };
    if (q.state !== undefined) params.state = q.state;
    if (q.tag !== undefined) params.tag = q.tag;
    if (q.text !== undefined) params.text = `%${q.text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const filters = { ...params };
    const total = count.get(filters) as number;
    if (q.sortJson) {
      const path = jsonPath(q.sortJson.path);
      const pathId = this.sortValues.pathId(projectId, q.sortJson.column, path);
      if (pathId !== null) {
        const { projectId: _, ...rest } = filters;
        const pks = this.sortValues.pagePks(pathId, q, runFilters(q), rest);
        const byPk = new Map((this.s.runsByPk.all(JSON.stringify(pks)) as RunRow[]).map((r) => [r.pk, r]));
        return { runs: pks.map((pk) => toStoredRun(byPk.get(pk)!)), total };
      }
      params.jsonPath = path;
    }
    if (usesNow) params.now = q.now ?? Date.now();
    const rows = page.all({ ...params, limit: q.limit, offset: q.offset }) as RunRow[];
    return { runs: rows.map(toStoredRun), total };
  }

  /**
   * One pair of statements per filter and sort shape; the shapes are few (values are bound), so
   * the cache stays small. Filters run on the project's rows only (the index on project_id);
   * a page sorted by creation time reads the index in order and stops at the page's end.
   */
  private listStatements(q: ListRunsQuery) {
    const key = [q.sort, q.sortJson?.column, q.descending, q.state !== undefined, q.tag !== undefined, q.text !== undefined, q.publicOnly].join(":");
    let st = this.listCache.get(key);
    if (!st) {
      const where = ["r.project_id = @projectId", ...runFilters(q)].join(" AND ");
      const dir = q.descending ? "DESC" : "ASC";
      const sortExpr = q.sortJson ? `json_extract(r.${q.sortJson.column}, @jsonPath)` : SORT_COLUMNS[q.sort];
      // Runs without the value (no such config key, no end yet) go last whichever the direction;
      // columns that are never NULL skip that term, so an index can serve the order.
      const nullable = q.sortJson !== undefined || !NOT_NULL_SORTS.has(q.sort);
      const order = `${nullable ? `(${sortExpr}) IS NULL, ` : ""}${sortExpr} ${dir}, r.pk ${dir}`;
      st = {
        page: this.db.prepare(`SELECT ${RUN_COLUMNS} FROM ${RUN_FROM} WHERE ${where} ORDER BY ${order} LIMIT @limit OFFSET @offset`),
        count: this.db.prepare(`SELECT COUNT(*) FROM runs r WHERE ${where}`).pluck(),
        usesNow: !q.sortJson && q.sort === "duration",
      };
      this.listCache.set(key, st);
    }
    return st;
  }

  countHistory(runPk: number): number {
    if (this.s.historyLayout.get(runPk) === CHUNKS_ONLY) return this.s.countSteps.get(runPk) as number;
    return this.s.countRows.get(runPk) as number;
  }

  readHistory(runPk: number, q: HistoryQuery): HistoryRow[] {
    if (this.s.historyLayout.get(runPk) === CHUNKS_ONLY) return this.readChunkedHistory(runPk, q);
    const rows = this.s.history.all(
      runPk,
      q.minStep ?? Number.MIN_SAFE_INTEGER,
      q.maxStep ?? Number.MAX_SAFE_INTEGER,
      q.limit,
    ) as [number, Buffer][];
    // A row that cannot be read (stored before uploads were checked) keeps its step, no values.
    return rows.map(([step, data]) => readStoredRow(data) ?? ({ _step: step } as HistoryRow));
  }

  /** Rows built back from the column chunks (history-rows.ts), record by record until the limit. */
  private readChunkedHistory(runPk: number, q: HistoryQuery): HistoryRow[] {
    const out = new HistoryRowCollector(q);
    const min = q.minStep ?? -Number.MAX_VALUE;
    const max = q.maxStep ?? Number.MAX_VALUE;
    let after = -1;
    // Paged rather than iterated: other statements (the chunk lookups) run between pages.
    while (!out.full) {
      const page = this.s.records.all(runPk, after, min, max) as [number, number, string][];
      for (const [firstSeq, n, keysJson] of page) {
        after = firstSeq;
        const stepChunk = this.s.chunk.get(runPk, "_step", firstSeq) as StoredChunk | undefined;
        if (!stepChunk) continue;
        const picked = out.pick(stepChunk);
        if (picked.length === 0) continue;
        const keys = recordKeys(keysJson);
        const chunks = keys.map((key) => (key === "_step" ? stepChunk : (this.s.chunk.get(runPk, key, firstSeq) as StoredChunk | undefined)));
        out.add(n, keys, chunks, picked);
        if (out.full) break;
      }
      if (page.length < RECORDS_PER_PAGE) break;
    }
    return out.rows;
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
    this.db.prepare(`UPDATE runs SET ${sets.join(", ")}, ${MARK_CHANGED} WHERE pk = ?`).run(...values, runPk);
  }

  /** Each existing run's revision, by pk; one lookup per run by its primary key. */
  runRevisions(runPks: number[]): Map<number, number> {
    const out = new Map<number, number>();
    for (const pk of runPks) {
      const revision = this.s.revisionOf.get(pk) as number | undefined;
      if (revision !== undefined) out.set(pk, revision);
    }
    return out;
  }

  /** The revisions of the project's runs that changed in the last `windowMs` (database clock), by pk. */
  recentRunRevisions(entityId: number, project: string, windowMs: number): RecentRunRevision[] {
    return this.s.recentRevisions.all(entityId, project, windowMs) as RecentRunRevision[];
  }
}
