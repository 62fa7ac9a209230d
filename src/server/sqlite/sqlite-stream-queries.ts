/**
 * Read queries over a run's side streams in SQLite: system metrics samples, console lines, and
 * what the run's page says besides (records of unknown kinds, the daemon's refusal reports).
 * All are served by their primary keys, (run, ...), so no index slows ingest.
 */
import type Database from "better-sqlite3";
import { decodeSample } from "../store/history-codec.js";
import type { ConsoleQuery, StoredConsoleLine, StoredRefusals, StoredSystemSample, StoredUnknownKind, SystemMetricsQuery } from "../store/store.js";

/** Distinct refusal errors shown for a run: the page and `runs show` say "and N more". */
const MAX_REASONS = 10;

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
      unknownCounts: p("SELECT kind, COUNT(*) AS count FROM unknown_records WHERE run_pk = ? GROUP BY kind ORDER BY kind"),
      refusedTotals: p("SELECT COUNT(*) AS reports, COALESCE(SUM(records), 0) AS records, COALESCE(SUM(bytes), 0) AS bytes FROM refused_reports WHERE run_pk = ?"),
      refusedReasons: p(
        `SELECT error, SUM(records) AS records, MAX(at) AS at FROM refused_reports WHERE run_pk = ? GROUP BY error ORDER BY MAX(at) DESC LIMIT ${MAX_REASONS}`,
      ),
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

  unknownRecordCounts(runPk: number): StoredUnknownKind[] {
    return this.s.unknownCounts.all(runPk) as StoredUnknownKind[];
  }

  refusals(runPk: number): StoredRefusals {
    const totals = this.s.refusedTotals.get(runPk) as { reports: number; records: number; bytes: number };
    const reasons = totals.reports === 0 ? [] : (this.s.refusedReasons.all(runPk) as StoredRefusals["reasons"]);
    return { ...totals, reasons };
  }

  tailConsole(runPk: number, count: number): StoredConsoleLine[] {
    return (this.s.tail.all(runPk, count) as StoredConsoleLine[]).reverse();
  }
}
