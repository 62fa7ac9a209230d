/**
 * Read queries over runs and history in PostgreSQL, and a person's edit of a run (the rules of
 * sqlite-run-queries.ts). Text sorts use the "C" collation, so that runs sort by bytes as in
 * SQLite whatever the database's locale; runs without a sort value go last either way. A sort
 * by a config or summary value reads its index (postgres-sort-values.ts) while the project has
 * at most 32 such paths, and is this file's plain query beyond them, with the same answer.
 */
import type { Sql } from "postgres";
import type { HistoryRow } from "../../protocol/records.js";
import { readStoredRow } from "../store/history-codec.js";
import { CHUNKS_ONLY, HistoryRowCollector, recordKeys, type StoredChunk } from "../store/history-rows.js";
import { storedRunOf, type RunRow as RunRowOf } from "../store/run-row.js";
import type { HistoryQuery, ListRunsQuery, RecentRunRevision, RunPatch, RunSortField, StoredRun } from "../store/store.js";
import { DB_NOW_MS, MARK_CHANGED } from "./postgres-liveness.js";
import { PostgresSortValues, type RunFilters } from "./postgres-sort-values.js";

const RUN_COLUMNS = `
  r.pk, r.run_id, r.name, r.notes, r.tags, r.run_group, r.job_type, r.privacy, r.state, r.exit_code,
  r.signal, r.error, r.created_at, r.heartbeat_at, r.finished_at, r.config, r.summary, r.metadata,
  r.program, r.last_seq, r.sweeper_crashed_at, r.revision, e.name AS entity, e.id AS entity_id, p.name AS project, u.name AS author`;
const RUN_FROM = `
  runs r JOIN projects p ON p.id = r.project_id JOIN entities e ON e.id = p.entity_id
  JOIN users u ON u.id = r.author_user_id`;

/** Index rows read per query of a chunked history read (as in SQLite). */
const RECORDS_PER_PAGE = 64;

/** SQL of each sort field; `$now` is replaced by the parameter of the clock. */
const SORT_COLUMNS: Record<RunSortField, string> = {
  createdAt: "r.created_at",
  name: `r.name COLLATE "C"`,
  state: `r.state COLLATE "C"`,
  heartbeatAt: "r.heartbeat_at",
  duration: "(COALESCE(r.finished_at, CASE WHEN r.state = 'running' THEN $now ELSE r.heartbeat_at END) - r.created_at)",
  author: `u.name COLLATE "C"`,
  jobType: `r.job_type COLLATE "C"`,
  group: `r.run_group COLLATE "C"`,
  notes: `r.notes COLLATE "C"`,
  id: `r.run_id COLLATE "C"`,
  // Tag by tag, each by its UTF-8 bytes (hex digits sort as the bytes do), joined by a space,
  // which sorts below every hex digit: a list before the longer lists it begins, [] first.
  tags: `COALESCE((SELECT string_agg(encode(convert_to(t.v, 'UTF8'), 'hex'), ' ' ORDER BY t.i)
                   FROM jsonb_array_elements_text(r.tags) WITH ORDINALITY AS t(v, i)), '') COLLATE "C"`,
};

/** Sort fields whose value is never NULL (no NULLS clause: see listRuns). */
const NOT_NULL_SORTS = new Set<RunSortField>(["createdAt", "name", "state", "author", "id", "tags"]);

/** A run row as PostgreSQL gives it: the jsonb columns parsed by the driver. */
type RunRow = RunRowOf<unknown>;

const toStoredRun = (row: RunRow): StoredRun => storedRunOf(row, (value) => value);

/** `%`, `_` and the escape character itself taken literally in a LIKE pattern. */
export function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * SQL: `column` holds the pattern `p` (a likePattern parameter), only the 26 ASCII letters
 * matching in either case (the contract's rule, store.ts): lower() under the "C" collation folds
 * ASCII only, where ILIKE would fold by the database's locale.
 */
export function containsSql(column: string, p: string): string {
  return `lower(${column} COLLATE "C") LIKE lower(${p} COLLATE "C")`;
}

/** A runs page's conditions on `r` beyond its project, with their values bound through `param`. */
function runFilters(q: ListRunsQuery, param: (value: unknown) => string): string[] {
  const where: string[] = [];
  if (q.state !== undefined) where.push(`r.state = ${param(q.state)}`);
  if (q.publicOnly) where.push("r.privacy = 'public'");
  if (q.tag !== undefined) where.push(`r.tags @> jsonb_build_array(${param(q.tag)}::text)`);
  if (q.text !== undefined) {
    const p = param(likePattern(q.text));
    const has = (column: string) => containsSql(column, p);
    where.push(
      `(${has("r.name")} OR ${has("r.run_id")} OR ${has("r.notes")} OR ${has("r.run_group")} OR ${has("r.job_type")}
        OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(r.tags) AS t(v) WHERE ${has("t.v")}))`,
    );
  }
  return where;
}

export class PostgresRunQueries {
  private readonly sortValues: PostgresSortValues;

  constructor(private readonly sql: Sql) {
    this.sortValues = new PostgresSortValues(sql);
  }

  async getRun(entity: string, project: string, runId: string): Promise<StoredRun | null> {
    const rows = await this.sql.unsafe(`SELECT ${RUN_COLUMNS} FROM ${RUN_FROM} WHERE e.name = $1 AND p.name = $2 AND r.run_id = $3`, [
      entity,
      project,
      runId,
    ]);
    return rows.length > 0 ? toStoredRun(rows[0] as unknown as RunRow) : null;
  }

  async listRuns(entity: string, project: string, q: ListRunsQuery): Promise<{ runs: StoredRun[]; total: number } | null> {
    const [found] = await this.sql<{ id: number; run_count: number }[]>`
      SELECT p.id, p.run_count FROM projects p JOIN entities e ON e.id = p.entity_id WHERE e.name = ${entity} AND p.name = ${project}`;
    if (!found) return null;
    const filters: RunFilters = (param) => runFilters(q, param);
    // Without filters, the count the triggers keep (migration 3); with them, a count of the matches.
    let total = found.run_count;
    const params: unknown[] = [found.id];
    const param = (v: unknown) => (params.push(v), `$${params.length}`);
    const conditions = filters(param);
    const whereSql = ["r.project_id = $1", ...conditions].join(" AND ");
    if (conditions.length > 0) {
      [{ n: total }] = (await this.sql.unsafe(`SELECT COUNT(*) AS n FROM runs r WHERE ${whereSql}`, params as never[])) as unknown as { n: number }[];
    }
    const dir = q.descending ? "DESC" : "ASC";
    let order: string;
    if (q.sortJson) {
      const pathId = await this.sortValues.pathId(found.id, q.sortJson.column, q.sortJson.path);
      if (pathId !== null) {
        const pks = await this.sortValues.pagePks(pathId, q, filters);
        const rows = pks.length === 0 ? [] : ((await this.sql.unsafe(`SELECT ${RUN_COLUMNS} FROM ${RUN_FROM} WHERE r.pk = ANY($1::bigint[])`, [pks] as never[])) as unknown as RunRow[]);
        const byPk = new Map(rows.map((r) => [r.pk, r]));
        return { runs: pks.flatMap((pk) => (byPk.has(pk) ? [toStoredRun(byPk.get(pk)!)] : [])), total };
      }
      // Past the cap of paths: the plain query, sorting the project's runs by their JSON.
      // A JSON null is no value, like a missing key (SQLite's json_extract gives NULL for both).
      const v = `NULLIF(r.${q.sortJson.column === "config" ? "config" : "summary"} #> ${param(q.sortJson.path)}::text[], 'null'::jsonb)`;
      // Numbers (by value) before strings (by UTF-8 bytes), as in SQLite; jsonb's own order
      // would put strings first. Other kinds after, in jsonb's order. (run_sort_key keeps it.)
      const kind = `CASE WHEN ${v} IS NULL THEN NULL WHEN jsonb_typeof(${v}) = 'number' THEN 0 WHEN jsonb_typeof(${v}) = 'string' THEN 1 ELSE 2 END`;
      order = [
        `${kind} ${dir} NULLS LAST`,
        `(CASE WHEN jsonb_typeof(${v}) = 'number' THEN (${v} #>> '{}')::numeric END) ${dir}`,
        `(CASE WHEN jsonb_typeof(${v}) = 'string' THEN (${v} #>> '{}') END) COLLATE "C" ${dir}`,
        `${v} ${dir}`,
        `r.pk ${dir}`,
      ].join(", ");
    } else {
      const sortExpr = SORT_COLUMNS[q.sort].replace("$now", () => `${param(q.now ?? Date.now())}::bigint`);
      // Runs without the value go last either way; columns that are never NULL skip the NULLS
      // clause, so that an index in either direction serves the order: newest first, the page
      // is read from runs_by_project_created (0.3 ms at 100,000 runs) instead of sorting every
      // run (54 ms): PostgreSQL does not see that NULLS LAST changes nothing on a NOT NULL column.
      order = `${sortExpr} ${dir}${NOT_NULL_SORTS.has(q.sort) ? "" : " NULLS LAST"}, r.pk ${dir}`;
    }
    const page = await this.sql.unsafe(
      `SELECT ${RUN_COLUMNS} FROM ${RUN_FROM} WHERE ${whereSql} ORDER BY ${order} LIMIT ${param(q.limit)} OFFSET ${param(q.offset)}`,
      params as never[],
    );
    return { runs: (page as unknown as RunRow[]).map(toStoredRun), total };
  }

  async countHistory(runPk: number): Promise<number> {
    // Runs since migration 2: the steps of their records, which never overlap (history-rows.ts).
    const [{ n }] = await this.sql<{ n: number }[]>`
      SELECT CASE WHEN (SELECT history_chunks FROM runs WHERE pk = ${runPk}) = ${CHUNKS_ONLY}
        THEN (SELECT COALESCE(SUM(n), 0) FROM history_records WHERE run_pk = ${runPk})
        ELSE (SELECT COUNT(*) FROM history WHERE run_pk = ${runPk}) END::bigint AS n`;
    return n;
  }

  async readHistory(runPk: number, q: HistoryQuery): Promise<HistoryRow[]> {
    const [run] = await this.sql<{ history_chunks: number }[]>`SELECT history_chunks FROM runs WHERE pk = ${runPk}`;
    if (run?.history_chunks === CHUNKS_ONLY) return this.readChunkedHistory(runPk, q);
    const rows = await this.sql<{ step: number; data: Buffer }[]>`
      SELECT step, data FROM history
      WHERE run_pk = ${runPk} AND step >= ${q.minStep ?? Number.MIN_SAFE_INTEGER} AND step <= ${q.maxStep ?? Number.MAX_SAFE_INTEGER}
      ORDER BY seq LIMIT ${q.limit}`;
    return rows.map(({ step, data }) => readStoredRow(data) ?? ({ _step: step } as HistoryRow));
  }

  /**
   * Rows built back from the column chunks (history-rows.ts): per page of the records whose step
   * range meets the query's, one query for their `_step` chunks and one for the chunks of those
   * holding steps to return (pairs of key and first seq, each a lookup by primary key).
   */
  private async readChunkedHistory(runPk: number, q: HistoryQuery): Promise<HistoryRow[]> {
    const out = new HistoryRowCollector(q);
    const min = q.minStep ?? -Number.MAX_VALUE;
    const max = q.maxStep ?? Number.MAX_VALUE;
    let after = -1;
    while (!out.full) {
      const page = await this.sql<{ first_seq: number; n: number; keys: string }[]>`
        SELECT first_seq, n, keys FROM history_records
        WHERE run_pk = ${runPk} AND first_seq > ${after} AND max_step >= ${min} AND min_step <= ${max}
        ORDER BY first_seq LIMIT ${RECORDS_PER_PAGE}`;
      if (page.length === 0) break;
      after = page[page.length - 1].first_seq;
      const stepRows = await this.sql<(StoredChunk & { first_seq: number })[]>`
        SELECT first_seq, n, m, data, extra FROM history_chunks
        WHERE run_pk = ${runPk} AND key = '_step' AND first_seq = ANY(${page.map((r) => r.first_seq)}::bigint[])`;
      const stepChunks = new Map(stepRows.map((c) => [c.first_seq, c]));
      const wanted: { first_seq: number; n: number; keys: string[]; picked: number[] }[] = [];
      let room = q.limit - out.rows.length;
      for (const r of page) {
        const stepChunk = stepChunks.get(r.first_seq);
        if (!stepChunk || room <= 0) continue;
        // pick() counts rows already collected; rows picked on this page are added below, so it is told the room left.
        const picked = out.pick(stepChunk).slice(0, room);
        if (picked.length === 0) continue;
        room -= picked.length;
        wanted.push({ first_seq: r.first_seq, n: r.n, keys: recordKeys(r.keys), picked });
      }
      if (wanted.length > 0) {
        const keys = wanted.flatMap((w) => w.keys);
        const seqs = wanted.flatMap((w) => w.keys.map(() => w.first_seq));
        const chunks = await this.sql<(StoredChunk & { key: string; first_seq: number })[]>`
          SELECT c.key, c.first_seq, c.n, c.m, c.data, c.extra
          FROM unnest(${keys}::text[], ${seqs}::bigint[]) AS w(key, first_seq)
          JOIN history_chunks c ON c.run_pk = ${runPk} AND c.key = w.key AND c.first_seq = w.first_seq`;
        const byId = new Map(chunks.map((c) => [`${c.first_seq}\u0000${c.key}`, c]));
        for (const w of wanted) out.add(w.n, w.keys, w.keys.map((k) => byId.get(`${w.first_seq}\u0000${k}`)), w.picked);
      }
      if (page.length < RECORDS_PER_PAGE) break;
    }
    return out.rows;
  }

  /** A person's edit wins over every record applied so far (see sqlite-run-queries.ts). */
  async patchRun(runPk: number, patch: RunPatch): Promise<void> {
    const sets: string[] = [];
    const values: unknown[] = [runPk];
    const field = (col: string, seqCol: string | null, value: unknown, cast = "") => {
      values.push(value);
      sets.push(`${col} = $${values.length}${cast}`);
      if (seqCol) sets.push(`${seqCol} = GREATEST(${seqCol}, last_seq)`);
    };
    if (patch.name !== undefined) field("name", "name_seq", patch.name);
    if (patch.notes !== undefined) field("notes", "notes_seq", patch.notes);
    if (patch.tags !== undefined) field("tags", "tags_seq", JSON.stringify(patch.tags), "::text::jsonb");
    if (patch.privacy !== undefined) field("privacy", null, patch.privacy);
    if (sets.length === 0) return;
    await this.sql.unsafe(`UPDATE runs SET ${sets.join(", ")}, ${MARK_CHANGED} WHERE pk = $1`, values as never[]);
  }

  /** Each existing run's revision, by pk: one query for all of them. */
  async runRevisions(runPks: number[]): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    if (runPks.length === 0) return out;
    const rows = await this.sql<{ pk: number; revision: number }[]>`SELECT pk, revision FROM runs WHERE pk = ANY(${runPks}::bigint[])`;
    for (const r of rows) out.set(r.pk, r.revision);
    return out;
  }

  /** The revisions of the project's runs that changed in the last `windowMs` (database clock), by pk: one range of runs_by_change. */
  async recentRunRevisions(entityId: number, project: string, windowMs: number): Promise<RecentRunRevision[]> {
    const rows = await this.sql.unsafe<RecentRunRevision[]>(
      `SELECT r.pk, r.run_id AS id, r.revision FROM runs r
       WHERE r.project_id = (SELECT id FROM projects WHERE entity_id = $1 AND name = $2) AND r.changed_at >= ${DB_NOW_MS} - $3`,
      [entityId, project, windowMs] as never[],
    );
    return rows.map((r) => ({ pk: r.pk, id: r.id, revision: r.revision }));
  }
}
