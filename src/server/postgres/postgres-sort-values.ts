/**
 * The runs table sorted by a config or summary value, served by an index (PostgreSQL migration 3),
 * as SQLite's migration 10 serves it (sqlite-sort-values.ts): the first page sorted by a path
 * registers it for its project (`run_sort_paths`) and copies every run's value at that path into
 * `run_sort_values`; triggers on `runs` keep the copies current, so ingest code is unchanged. A
 * page is then a range of the index instead of a sort of every run's JSON: measured at 100,000
 * runs, the page at offset 50,000 went from 1.2 s to a few ms (docs/BENCHMARKS.md).
 *
 * The order is the plain query's (postgres-run-queries.ts): numbers by value, then strings by
 * their bytes, then other values in jsonb's order, then runs without the value, each part by
 * value and then pk in the page's direction. Each value is kept as that order's parts
 * (run_sort_key: kind, number, string, other), and a page reads one kind at a time, so that each
 * kind's order is a range of the index (path, kind, number, string's first 200 characters, run).
 *
 * Several replicas share the database: registering takes the project's advisory lock, exclusive,
 * while the triggers take it shared, so a write under way while the values are copied is either
 * in the copy or applied on top of it (migration 3). The copy ends with ANALYZE, so that the
 * planner knows the path's rows are many and reads a far page from the index rather than sorting.
 */
import type { Sql } from "postgres";
import { MAX_SORT_PATHS_PER_PROJECT } from "../store/sort-paths.js";
import type { ListRunsQuery } from "../store/store.js";

/** The advisory lock of a project's sort paths ("trks"); the triggers of migration 3 use the same key. */
const SORT_LOCK_KEY = 0x74726b73;

/** SQL: the project id folded into the lock's second, 32-bit key, as the triggers fold it. */
const LOCK_SLOT = (p: string) => `mod(${p}::bigint, 2147483648)::int`;

/**
 * A page's conditions on `r` (the runs row) beyond its project, in SQL; `param` binds a value
 * and returns its placeholder. Called once per query, since each query numbers its own.
 */
export type RunFilters = (param: (value: unknown) => string) => string[];

/** One kind of value: which rows, and what orders them after (kind, num, str_key) and before the run. */
interface Part {
  where: string;
  within: (dir: string) => string;
}

/** In the order of an ascending page. Numbers and runs without the value come from the index alone. */
const KINDS: readonly Part[] = [
  { where: "v.kind = 0", within: () => "" },
  // Strings of one str_key (a shared 200-character prefix): by the whole string.
  { where: "v.kind = 1", within: (dir) => `v.str ${dir}, ` },
  { where: "v.kind = 2", within: (dir) => `v.other ${dir}, ` },
];
/** Runs without the value: last in either direction. */
const MISSING: Part = { where: "v.kind IS NULL", within: () => "" };

export class PostgresSortValues {
  constructor(private readonly sql: Sql) {}

  /** The id of the project's copy of the path, registering and filling it on first use; null past the cap. */
  async pathId(projectId: number, column: "config" | "summary", path: string[]): Promise<number | null> {
    const found = await this.find(this.sql, projectId, column, path);
    if (found !== null) return found;
    const made = (await this.sql.begin(async (tx) => {
      const t = tx as unknown as Sql;
      await t.unsafe(`SELECT pg_advisory_xact_lock($1, ${LOCK_SLOT("$2")})`, [SORT_LOCK_KEY, projectId]);
      // Another replica may have registered it while this one waited for the lock.
      const again = await this.find(t, projectId, column, path);
      if (again !== null) return { id: again, filled: false };
      const [{ n }] = await t<{ n: number }[]>`SELECT count(*) AS n FROM run_sort_paths WHERE project_id = ${projectId}`;
      if (n >= MAX_SORT_PATHS_PER_PROJECT) return null;
      const [{ id }] = await t<{ id: number }[]>`
        INSERT INTO run_sort_paths (project_id, source, path) VALUES (${projectId}, ${column}, ${path}::text[]) RETURNING id`;
      // The column is chosen here from the two names, never taken from the request's text.
      // OFFSET 0 keeps the value extracted once per run (inlined, run_sort_key would extract it
      // once per column it fills: 314 ms against 185 ms for 100,000 runs). Inserted in the
      // index's order, so that until VACUUM marks the pages all-visible, reading a range of the
      // index visits each heap page once, not once per entry: measured at 100,000 runs, the page
      // at offset 50,000 read 731 buffers in 8 ms instead of 50,612 in 30 ms.
      await t.unsafe(
        `INSERT INTO run_sort_values (path_id, run_pk, kind, num, str_key, str, other)
         SELECT $1, s.pk, k.kind, k.num, k.str_key, k.str, k.other
         FROM (SELECT r.pk, r.${column === "config" ? "config" : "summary"} #> $2::text[] AS value FROM runs r WHERE r.project_id = $3 OFFSET 0) s,
              run_sort_key(s.value) k
         ORDER BY k.kind, k.num, k.str_key, s.pk`,
        [id, path, projectId] as never[],
      );
      return { id, filled: true };
    })) as { id: number; filled: boolean } | null;
    // Outside the transaction, so that it holds no lock the writers wait for.
    if (made?.filled) await this.sql`ANALYZE run_sort_values`;
    return made?.id ?? null;
  }

  /**
   * The pks of one page, in order: kind by kind (numbers, strings, other values; the other way
   * round descending), then the runs without the value. A part is counted only when the page
   * starts past its end, so that the page knows where the next part begins.
   *
   * Without filters the queries read the index only, by design: the planner is told so (no
   * sequential or bitmap scan, no sort where the index gives the order), since its statistics of
   * run_sort_values lag behind a project that grew since the last ANALYZE. Measured: 90,000
   * runs added after the path was registered, the page at offset 50,000 was estimated at 9,499
   * rows and planned as a scan and a sort of the path's rows, 150 ms instead of 8 ms. With
   * filters the planner chooses (a rare match is found faster from the runs than along the index).
   */
  async pagePks(pathId: number, q: ListRunsQuery, filters: RunFilters): Promise<number[]> {
    // A dry run of the filters: only whether there are any matters here.
    if (filters(() => "NULL").length > 0) return this.readPage(this.sql, pathId, q, filters);
    return (await this.sql.begin(async (tx) => {
      const t = tx as unknown as Sql;
      await t.unsafe("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off");
      return this.readPage(t, pathId, q, filters);
    })) as number[];
  }

  private async readPage(t: Sql, pathId: number, q: ListRunsQuery, filters: RunFilters): Promise<number[]> {
    const dir = q.descending ? "DESC" : "ASC";
    const parts = [...(q.descending ? [...KINDS].reverse() : KINDS), MISSING];
    const pks: number[] = [];
    let offset = q.offset;
    for (const part of parts) {
      if (pks.length >= q.limit) break;
      const params: unknown[] = [pathId];
      const param = (v: unknown) => (params.push(v), `$${params.length}`);
      const conditions = filters(param);
      const from = conditions.length > 0 ? "run_sort_values v JOIN runs r ON r.pk = v.run_pk" : "run_sort_values v";
      const where = ["v.path_id = $1", part.where, ...conditions].join(" AND ");
      const countParams = [...params];
      // kind and the columns after it as the index holds them, so a range of it is the order.
      const order = `v.kind ${dir}, v.num ${dir}, v.str_key ${dir}, ${part.within(dir)}v.run_pk ${dir}`;
      const rows = await t.unsafe<{ run_pk: number }[]>(
        `SELECT v.run_pk FROM ${from} WHERE ${where} ORDER BY ${order} LIMIT ${param(q.limit - pks.length)} OFFSET ${param(offset)}`,
        params as never[],
      );
      for (const r of rows) pks.push(r.run_pk);
      if (rows.length > 0) offset = 0;
      else if (offset > 0) {
        const [{ n }] = await t.unsafe<{ n: number }[]>(`SELECT count(*) AS n FROM ${from} WHERE ${where}`, countParams as never[]);
        offset = Math.max(0, offset - n);
      }
    }
    return pks;
  }

  private async find(t: Sql, projectId: number, column: string, path: string[]): Promise<number | null> {
    const [row] = await t<{ id: number }[]>`
      SELECT id FROM run_sort_paths WHERE project_id = ${projectId} AND source = ${column} AND path = ${path}::text[]`;
    return row?.id ?? null;
  }
}
