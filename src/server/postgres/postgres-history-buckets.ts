/**
 * Downsampled history in PostgreSQL, from the column chunks only (every PostgreSQL run is
 * ingested with them). As in SQLite (sqlite-history-buckets.ts), the x and y columns of one
 * metric are kept in memory per (run, key, axis) and extended with only the chunks uploaded
 * since; the cache is checked against the run's `last_seq` in the database on every request,
 * so a replica never answers from stale memory, whichever replica took the upload.
 *
 * A zoom of a chart this replica has not cached reads only the records whose x range meets the
 * zoom, not the whole metric: on the step axis the step range kept beside each chunk, on the time
 * and runtime axes the min and max kept beside the record's `_timestamp` or `_runtime` chunk. A
 * cold zoom into a long run costs the chunks it shows (PostgreSQL keeps large `bytea` values out
 * of line, so a skipped chunk's data is never read). It is not cached; the whole-run view that
 * usually comes first fills the cache, and zooms after it are answered from memory.
 */
import type { Sql } from "postgres";
import { bucketize } from "../store/history-buckets.js";
import { appendChunk, ColumnCache, columnsId, emptyColumns, reserve, X_KEYS, type Columns } from "../store/history-columns.js";
import { joinOnStep } from "../store/history-join.js";
import type { HistoryAxis, HistoryBuckets, HistoryBucketsQuery } from "../store/store.js";

export class PostgresHistoryBuckets {
  private readonly cache = new ColumnCache();

  constructor(private readonly sql: Sql) {}

  async buckets(runPk: number, q: HistoryBucketsQuery): Promise<HistoryBuckets> {
    if (q.xKey !== undefined) {
      const x = await this.columns(runPk, q.xKey, "step");
      const j = joinOnStep(x, await this.columns(runPk, q.key, "step"));
      return { ...bucketize(q.key, "step", j.xs, j.ys, j.n, q.buckets, q.from, q.to), xKey: q.xKey };
    }
    const zoomed = q.from !== undefined || q.to !== undefined;
    if (zoomed && !this.cache.has(columnsId(runPk, q.key, q.x))) return this.zoomedBuckets(runPk, q);
    const cols = await this.columns(runPk, q.key, q.x);
    return bucketize(q.key, q.x, cols.xs, cols.ys, cols.n, q.buckets, q.from, q.to);
  }

  /**
   * A zoom from the records whose x range meets it only. Steps are whole numbers: a step range
   * rounds outward. The x chunk's min and max are of its finite numbers, and times are always
   * finite, so a record whose times all lie outside the zoom has nothing to show in it.
   */
  private async zoomedBuckets(runPk: number, q: HistoryBucketsQuery): Promise<HistoryBuckets> {
    const whole = q.x === "step";
    const lo = q.from === undefined ? Number.MIN_SAFE_INTEGER : Math.max(Number.MIN_SAFE_INTEGER, whole ? Math.floor(q.from) : q.from);
    const hi = q.to === undefined ? Number.MAX_SAFE_INTEGER : Math.min(Number.MAX_SAFE_INTEGER, whole ? Math.ceil(q.to) : q.to);
    const meets = whole
      ? this.sql`y.last_step >= ${lo} AND y.first_step <= ${hi}`
      : this.sql`x.max_value >= ${lo} AND x.min_value <= ${hi}`;
    const rows = await this.sql<ChunkPair[]>`
      SELECT y.first_seq, y.n, y.m AS ym, y.data AS ydata, x.m AS xm, x.data AS xdata FROM history_chunks y
      JOIN history_chunks x ON x.run_pk = y.run_pk AND x.key = ${X_KEYS[q.x]} AND x.first_seq = y.first_seq
      WHERE y.run_pk = ${runPk} AND y.key = ${q.key} AND ${meets}
      ORDER BY y.first_seq`;
    const cols = emptyColumns();
    appendChunks(cols, rows);
    return bucketize(q.key, q.x, cols.xs, cols.ys, cols.n, q.buckets, q.from, q.to);
  }

  private async columns(runPk: number, key: string, axis: HistoryAxis): Promise<Columns> {
    const id = columnsId(runPk, key, axis);
    const [run] = await this.sql<{ last_seq: number }[]>`SELECT last_seq FROM runs WHERE pk = ${runPk}`;
    const lastSeq = run?.last_seq ?? -1;
    let cols = this.cache.take(id) ?? emptyColumns();
    if (lastSeq > cols.seq) {
      // Another request of the same chart may be extending the same entry: work on a copy, keep the longer.
      const fresh = { ...cols };
      await this.extendFromChunks(runPk, key, axis, fresh);
      fresh.seq = lastSeq; // read before the chunks: a later upload is picked up next time
      cols = fresh;
    }
    this.cache.put(id, cols);
    return cols;
  }

  private async extendFromChunks(runPk: number, key: string, axis: HistoryAxis, cols: Columns): Promise<void> {
    const rows = await this.sql<ChunkPair[]>`
      SELECT y.first_seq, y.n, y.m AS ym, y.data AS ydata, x.m AS xm, x.data AS xdata FROM history_chunks y
      JOIN history_chunks x ON x.run_pk = y.run_pk AND x.key = ${X_KEYS[axis]} AND x.first_seq = y.first_seq
      WHERE y.run_pk = ${runPk} AND y.key = ${key} AND y.first_seq > ${cols.covered} ORDER BY y.first_seq`;
    appendChunks(cols, rows);
  }
}

/** A metric's chunk with the x chunk of the same record. */
interface ChunkPair {
  first_seq: number;
  n: number;
  ym: number;
  ydata: Buffer;
  xm: number;
  xdata: Buffer;
}

/** Appends the points of chunks in seq order to `cols`, in new arrays: the cached ones may be shared with a request still bucketing them. */
function appendChunks(cols: Columns, rows: readonly ChunkPair[]): void {
  let total = cols.n;
  for (const r of rows) total += r.ym;
  reserve(cols, total, true);
  for (const r of rows) appendChunk(cols, r.first_seq, r.n, r.ym, r.ydata, r.xm, r.xdata);
}
