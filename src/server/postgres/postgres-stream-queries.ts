/**
 * Read queries over a run's side streams in PostgreSQL: system metrics samples, console lines,
 * records of unknown kinds and the daemon's refusal reports (as sqlite-stream-queries.ts). All
 * are served by their primary keys, (run, ...).
 */
import type { Sql } from "postgres";
import { decodeSample } from "../store/history-codec.js";
import type { ConsoleQuery, StoredConsoleLine, StoredRefusals, StoredSystemSample, StoredUnknownKind, SystemMetricsQuery } from "../store/store.js";
import { likePattern } from "./postgres-run-queries.js";

/** Distinct refusal errors shown for a run (as in SQLite). */
const MAX_REASONS = 10;

export class PostgresStreamQueries {
  constructor(private readonly sql: Sql) {}

  async readSystemMetrics(runPk: number, q: SystemMetricsQuery): Promise<StoredSystemSample[]> {
    const rows = await this.sql<{ at: number; data: Buffer }[]>`
      SELECT at, data FROM system_metrics
      WHERE run_pk = ${runPk} AND at >= ${q.from ?? Number.MIN_SAFE_INTEGER} AND at <= ${q.to ?? Number.MAX_SAFE_INTEGER}
      ORDER BY at LIMIT ${q.limit}`;
    return rows.map((r) => ({ at: r.at, values: decodeSample(r.data) }));
  }

  async systemMetricKeys(runPk: number): Promise<string[]> {
    const rows = await this.sql<{ key: string }[]>`SELECT key FROM system_metric_keys WHERE run_pk = ${runPk} ORDER BY key COLLATE "C"`;
    return rows.map((r) => r.key);
  }

  async countConsole(runPk: number): Promise<number> {
    const [{ n }] = await this.sql<{ n: number }[]>`SELECT COUNT(*) AS n FROM console_lines WHERE run_pk = ${runPk}`;
    return n;
  }

  async readConsole(runPk: number, q: ConsoleQuery): Promise<StoredConsoleLine[]> {
    const rows = q.contains
      ? // ASCII letters in either case, nothing else folded (the contract's rule; see containsSql).
        await this.sql`SELECT seq, at, stream, text FROM console_lines
                       WHERE run_pk = ${runPk} AND seq > ${q.after} AND lower(text COLLATE "C") LIKE lower(${likePattern(q.contains)} COLLATE "C")
                       ORDER BY seq LIMIT ${q.limit}`
      : await this.sql`SELECT seq, at, stream, text FROM console_lines WHERE run_pk = ${runPk} AND seq > ${q.after} ORDER BY seq LIMIT ${q.limit}`;
    return [...rows] as unknown as StoredConsoleLine[];
  }

  async tailConsole(runPk: number, count: number): Promise<StoredConsoleLine[]> {
    const rows = await this.sql`SELECT seq, at, stream, text FROM console_lines WHERE run_pk = ${runPk} ORDER BY seq DESC LIMIT ${count}`;
    return ([...rows] as unknown as StoredConsoleLine[]).reverse();
  }

  async unknownRecordCounts(runPk: number): Promise<StoredUnknownKind[]> {
    const rows = await this.sql`SELECT kind, COUNT(*) AS count FROM unknown_records WHERE run_pk = ${runPk} GROUP BY kind ORDER BY kind COLLATE "C"`;
    return [...rows] as unknown as StoredUnknownKind[];
  }

  async refusals(runPk: number): Promise<StoredRefusals> {
    const [totals] = await this.sql<{ reports: number; records: number; bytes: number }[]>`
      SELECT COUNT(*) AS reports, COALESCE(SUM(records), 0)::bigint AS records, COALESCE(SUM(bytes), 0)::bigint AS bytes
      FROM refused_reports WHERE run_pk = ${runPk}`;
    const reasons =
      totals.reports === 0
        ? []
        : ([
            ...(await this.sql`SELECT error, SUM(records)::bigint AS records, MAX(at) AS at FROM refused_reports WHERE run_pk = ${runPk}
                              GROUP BY error ORDER BY MAX(at) DESC LIMIT ${MAX_REASONS}`),
          ] as unknown as StoredRefusals["reasons"]);
    return { ...totals, reasons };
  }
}
