/**
 * The runs table sorted by a config or summary value, served by an index (SQLite migration 10).
 *
 * The path is the user's choice, so no index can be declared for it in advance. Instead the
 * first page sorted by a path registers it for its project (`run_sort_paths`) and copies every
 * run's value at that path into `run_sort_values` (one scan, about what that page cost before);
 * triggers on `runs` keep the copies current on every insert and config or summary update, so
 * ingest code is unchanged. A page is then a range of the index (path, value, run): measured at
 * 100,000 runs, a page at offset 50,000 reads ~50,000 index entries instead of parsing 100,000
 * runs' JSON (docs/BENCHMARKS.md). The values are json_extract's, as the plain query sorts by,
 * so the order is the same: values by SQLite's order (numbers before text), then runs without
 * the value, each part by value and then pk in the page's direction.
 */
import type Database from "better-sqlite3";
import { MAX_SORT_PATHS_PER_PROJECT } from "../store/sort-paths.js";
import type { ListRunsQuery } from "../store/store.js";

export class SqliteSortValues {
  private readonly s;
  private readonly pageCache = new Map<string, { present: Database.Statement; countPresent: Database.Statement; missing: Database.Statement }>();

  /** `write`: runs a write of the main connection in its turn (SqliteStore's, writer-gate.ts). */
  constructor(
    private readonly db: Database.Database,
    private readonly write: <T>(fn: () => T) => T = (fn) => fn(),
  ) {
    this.s = {
      find: db.prepare("SELECT id FROM run_sort_paths WHERE project_id = ? AND source = ? AND path = ?").pluck(),
      count: db.prepare("SELECT COUNT(*) FROM run_sort_paths WHERE project_id = ?").pluck(),
      add: db.prepare("INSERT INTO run_sort_paths (project_id, source, path) VALUES (?, ?, ?)"),
      // The column is chosen by the caller (config or summary), never by the request's text.
      fillConfig: db.prepare("INSERT INTO run_sort_values (path_id, run_pk, value) SELECT ?, pk, json_extract(config, ?) FROM runs WHERE project_id = ?"),
      fillSummary: db.prepare("INSERT INTO run_sort_values (path_id, run_pk, value) SELECT ?, pk, json_extract(summary, ?) FROM runs WHERE project_id = ?"),
    };
  }

  /** The id of the project's copy of the path, registering and filling it on first use; null past the cap. */
  pathId(projectId: number, column: "config" | "summary", path: string): number | null {
    const found = this.s.find.get(projectId, column, path) as number | undefined;
    if (found !== undefined) return found;
    return this.write(() =>
      this.db.transaction(() => {
        if ((this.s.count.get(projectId) as number) >= MAX_SORT_PATHS_PER_PROJECT) return null;
        const id = Number(this.s.add.run(projectId, column, path).lastInsertRowid);
        (column === "config" ? this.s.fillConfig : this.s.fillSummary).run(id, path, projectId);
        return id;
      }).immediate(),
    );
  }

  /**
   * The pks of one page, in order. `filters`: SQL conditions on `r` (the runs row) beyond the
   * project, bound from `params`; with none, the page is read from the index alone.
   */
  pagePks(pathId: number, q: ListRunsQuery, filters: string[], params: Record<string, unknown>): number[] {
    const st = this.statements(q.descending, filters);
    const bound = { ...params, pathId, limit: q.limit, offset: q.offset };
    const pks = st.present.all(bound) as number[];
    if (pks.length === q.limit) return pks;
    // Past the runs with a value: those without, after them, by pk.
    const present = st.countPresent.get(bound) as number;
    return pks.concat(st.missing.all({ ...bound, limit: q.limit - pks.length, offset: Math.max(0, q.offset - present) }) as number[]);
  }

  private statements(descending: boolean | undefined, filters: string[]) {
    const key = `${descending ? "d" : "a"}:${filters.join(" AND ")}`;
    let st = this.pageCache.get(key);
    if (!st) {
      const dir = descending ? "DESC" : "ASC";
      const from = filters.length > 0 ? "run_sort_values v JOIN runs r ON r.pk = v.run_pk" : "run_sort_values v";
      const where = ["v.path_id = @pathId", ...filters].join(" AND ");
      st = {
        present: this.db.prepare(`SELECT v.run_pk FROM ${from} WHERE ${where} AND v.value IS NOT NULL ORDER BY v.value ${dir}, v.run_pk ${dir} LIMIT @limit OFFSET @offset`).pluck(),
        countPresent: this.db.prepare(`SELECT COUNT(*) FROM ${from} WHERE ${where} AND v.value IS NOT NULL`).pluck(),
        missing: this.db.prepare(`SELECT v.run_pk FROM ${from} WHERE ${where} AND v.value IS NULL ORDER BY v.run_pk ${dir} LIMIT @limit OFFSET @offset`).pluck(),
      };
      this.pageCache.set(key, st);
    }
    return st;
  }
}
