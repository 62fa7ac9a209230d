/**
 * Read queries over a run's side streams in SQLite: system metrics samples and console lines.
 * Both are served by their primary keys, (run, time) and (run, seq), so no index slows ingest.
 */
import type Database from "better-sqlite3";
import { decodeSample } from "./history-codec.js";
import type { ConsoleQuery, StoredConsoleLine, StoredSystemSample, SystemMetricsQuery } from "./store.js";

const LINE_COLUMNS = "seq, at, stream, text";

/** `%`, `_` and the escape character itself taken literally in a LIKE pattern. */
function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Prepared read statements over one database (synchronous; SqliteStore wraps them in Promises). */
export class SqliteStreamQueries {
  private readonly s;

  constructor(db: Database.Database) {
    const p = (sql: string) => db.prepare(sql);
    this.s = {
      samples: p("SELECT at, data FROM system_metrics WHERE run_pk = ? AND at >= ? AND at <= ? ORDER BY at LIMIT ?"),
      keys: p("SELECT key FROM system_metric_keys WHERE run_pk = ? ORDER BY key").pluck(),
      countConsole: p("SELECT COUNT(*) FROM console_lines WHERE run_pk = ?").pluck(),
      console: p(`SELECT ${LINE_COLUMNS} FROM console_lines WHERE run_pk = ? AND seq > ? ORDER BY seq LIMIT ?`),
      // LIKE: case-insensitive for ASCII letters, which is what a search box is expected to do.
      consoleContaining: p(
        `SELECT ${LINE_COLUMNS} FROM console_lines WHERE run_pk = ? AND seq > ? AND text LIKE ? ESCAPE '\\' ORDER BY seq LIMIT ?`,
      ),
      tail: p(`SELECT ${LINE_COLUMNS} FROM console_lines WHERE run_pk = ? ORDER BY seq DESC LIMIT ?`),
    };
  }

  readSystemMetrics(runPk: number, q: SystemMetricsQuery): StoredSystemSample[] {
    const rows = this.s.samples.all(
      runPk,
      q.from ?? Number.MIN_SAFE_INTEGER,
      q.to ?? Number.MAX_SAFE_INTEGER,
      q.limit,
    ) as { at: number; data: Buffer }[];
    return rows.map((r) => ({ at: r.at, values: decodeSample(r.data) }));
  }

  systemMetricKeys(runPk: number): string[] {
    return this.s.keys.all(runPk) as string[];
  }

  countConsole(runPk: number): number {
    return this.s.countConsole.get(runPk) as number;
  }

  readConsole(runPk: number, q: ConsoleQuery): StoredConsoleLine[] {
    if (q.contains) return this.s.consoleContaining.all(runPk, q.after, likePattern(q.contains), q.limit) as StoredConsoleLine[];
    return this.s.console.all(runPk, q.after, q.limit) as StoredConsoleLine[];
  }

  tailConsole(runPk: number, count: number): StoredConsoleLine[] {
    return (this.s.tail.all(runPk, count) as StoredConsoleLine[]).reverse();
  }
}
