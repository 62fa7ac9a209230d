/**
 * Downsampled history in SQLite. History is stored by column, one chunk per history record and
 * key (history-chunks.ts): since migration 9 the one copy (`runs.history_chunks = 2`); from
 * migration 5 to 8 beside one msgpack map per step (the wide rows, history-codec.ts,
 * `history_chunks = 1`); before, as wide rows only (`history_chunks = 0`). A chart request:
 *
 * - For a run ingested with chunks (`runs.history_chunks` 1 or 2, every run created since
 *   migration 5), reads only the chunks of the wanted key and of its x key (`_step`,
 *   `_timestamp` or `_runtime`), in seq order: 16 bytes a point instead of a blob a step.
 * - For a run created before migration 5, scans the wide rows' blobs for the key instead (no
 *   backfill: such runs are charted as before). A scanner reads just the wanted key out of each
 *   blob, without decoding the row into an object (decoding every row whole is about 10 times
 *   slower).
 *
 * Either way the columns read (x and y of one metric) are kept in memory, per run and key, and
 * extended with only what was uploaded since (seq above the last one read). A chart that
 * refreshes while its run logs reads only the new chunks or rows; bucketing a million cached
 * points takes a few milliseconds. The cache is checked against the run's `last_seq` in the
 * database on every request, so each server replica stays correct on its own; it is bounded in
 * bytes (LRU). It assumes history arrives in seq order, as the daemon uploads it (one batch at
 * a time, each acknowledged before the next): a record with a seq below one already read is not
 * picked up until the entry is evicted. Within one read, a chunk overlapping steps already read
 * (a resend cut differently, from a hand-written body) gives only its steps after them.
 */
import type Database from "better-sqlite3";
import { bucketize } from "../store/history-buckets.js";
import { appendChunk, ColumnCache, columnsId, emptyColumns, reserve, X_KEYS, type Columns } from "../store/history-columns.js";
import { readStoredRow } from "../store/history-codec.js";
import { joinOnStep } from "../store/history-join.js";
import type { HistoryAxis, HistoryBuckets, HistoryBucketsQuery } from "../store/store.js";

const utf8 = new TextEncoder();

/**
 * Finds the numeric values of up to two keys in a stored history row (a flat msgpack map, as
 * msgpackr packs it) without decoding anything else. `scan` returns false for a row holding a
 * type it does not know how to skip; the caller then decodes that row whole.
 */
export class RowScanner {
  private readonly keys: Uint8Array[];
  /** The values found by the last scan; NaN where `found` is false. */
  readonly values = new Float64Array(2);
  readonly found = [false, false];
  private p = 0;

  constructor(keys: string[]) {
    this.keys = keys.map((k) => utf8.encode(k));
  }

  scan(b: Buffer): boolean {
    this.found[0] = this.found[1] = false;
    this.p = 0;
    const h = b[this.p++];
    let n: number;
    if (h >= 0x80 && h <= 0x8f) {
      n = h & 0x0f;
    } else if (h === 0xde) {
      n = b.readUInt16BE(1);
      this.p = 3;
    } else if (h === 0xdf) {
      n = b.readUInt32BE(1);
      this.p = 5;
    } else {
      return false;
    }
    for (let e = 0; e < n; e++) {
      const len = this.strLen(b);
      if (len < 0) return false;
      const at = this.matchKey(b, this.p, len);
      this.p += len;
      if (at >= 0) {
        const v = this.number(b);
        if (v === undefined) return false;
        this.values[at] = v ?? NaN;
        this.found[at] = v !== null;
      } else if (!this.skip(b)) {
        return false;
      }
    }
    return true;
  }

  private strLen(b: Buffer): number {
    const t = b[this.p++];
    if (t >= 0xa0 && t <= 0xbf) return t & 0x1f;
    if (t === 0xd9) return b[this.p++];
    if (t === 0xda) return (this.p += 2), b.readUInt16BE(this.p - 2);
    if (t === 0xdb) return (this.p += 4), b.readUInt32BE(this.p - 4);
    return -1;
  }

  private matchKey(b: Buffer, p: number, len: number): number {
    outer: for (let k = 0; k < this.keys.length; k++) {
      const key = this.keys[k];
      if (key.length !== len) continue;
      for (let i = 0; i < len; i++) if (b[p + i] !== key[i]) continue outer;
      return k;
    }
    return -1;
  }

  /** A number; null for another scalar (nil, a boolean, a string); undefined for a type it cannot skip. */
  private number(b: Buffer): number | null | undefined {
    const p = this.p;
    const t = b[p];
    if (t <= 0x7f) return (this.p = p + 1), t;
    if (t >= 0xe0) return (this.p = p + 1), t - 256;
    switch (t) {
      case 0xcb: return (this.p = p + 9), b.readDoubleBE(p + 1);
      case 0xca: return (this.p = p + 5), b.readFloatBE(p + 1);
      case 0xcc: return (this.p = p + 2), b[p + 1];
      case 0xcd: return (this.p = p + 3), b.readUInt16BE(p + 1);
      case 0xce: return (this.p = p + 5), b.readUInt32BE(p + 1);
      case 0xcf: return (this.p = p + 9), Number(b.readBigUInt64BE(p + 1));
      case 0xd0: return (this.p = p + 2), b.readInt8(p + 1);
      case 0xd1: return (this.p = p + 3), b.readInt16BE(p + 1);
      case 0xd2: return (this.p = p + 5), b.readInt32BE(p + 1);
      case 0xd3: return (this.p = p + 9), Number(b.readBigInt64BE(p + 1));
    }
    return this.skip(b) ? null : undefined;
  }

  /** Skips a scalar value: nil, booleans, numbers, strings, binaries. */
  private skip(b: Buffer): boolean {
    const t = b[this.p++];
    if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) return true;
    if (t >= 0xa0 && t <= 0xbf) return (this.p += t & 0x1f), true;
    switch (t) {
      case 0xcc: case 0xd0: this.p += 1; return true;
      case 0xcd: case 0xd1: this.p += 2; return true;
      case 0xca: case 0xce: case 0xd2: this.p += 4; return true;
      case 0xcb: case 0xcf: case 0xd3: this.p += 8; return true;
      case 0xd9: case 0xc4: this.p += 1 + b[this.p]; return true;
      case 0xda: case 0xc5: this.p += 2 + b.readUInt16BE(this.p); return true;
      case 0xdb: case 0xc6: this.p += 4 + b.readUInt32BE(this.p); return true;
    }
    return false;
  }
}

/** One metric's columns per (run, key, axis), read once and then extended. */
export class SqliteHistoryBuckets {
  private readonly rowsAfter: Database.Statement;
  private readonly chunksAfter: Database.Statement;
  private readonly pointsAfter: Database.Statement;
  private readonly runState: Database.Statement;
  private readonly cache = new ColumnCache();

  constructor(db: Database.Database) {
    // The primary key (run_pk, seq) serves this: rows come in seq order, which is step order.
    this.rowsAfter = db.prepare("SELECT seq, step, ts, data FROM history WHERE run_pk = ? AND seq > ? ORDER BY seq").raw(true);
    // The primary key (run_pk, key, first_seq) serves both sides of the join: one key's chunks in seq order.
    this.chunksAfter = db
      .prepare(
        `SELECT y.first_seq, y.n, y.m, y.data, x.m, x.data FROM history_chunks y
         JOIN history_chunks x ON x.run_pk = y.run_pk AND x.key = ? AND x.first_seq = y.first_seq
         WHERE y.run_pk = ? AND y.key = ? AND y.first_seq > ? ORDER BY y.first_seq`,
      )
      .raw(true);
    // The same primary key: how many points the chunks to read hold (m precedes the blob in the row).
    this.pointsAfter = db.prepare("SELECT coalesce(sum(m), 0) FROM history_chunks WHERE run_pk = ? AND key = ? AND first_seq > ?").pluck();
    this.runState = db.prepare("SELECT last_seq, history_chunks FROM runs WHERE pk = ?").raw(true);
  }

  buckets(runPk: number, q: HistoryBucketsQuery): HistoryBuckets {
    if (q.xKey !== undefined) {
      const x = this.columns(runPk, q.xKey, "step");
      const j = joinOnStep(x, this.columns(runPk, q.key, "step"));
      return { ...bucketize(q.key, "step", j.xs, j.ys, j.n, q.buckets, q.from, q.to), xKey: q.xKey };
    }
    const cols = this.columns(runPk, q.key, q.x);
    return bucketize(q.key, q.x, cols.xs, cols.ys, cols.n, q.buckets, q.from, q.to);
  }

  /** Forgets everything cached (tests, or after a bulk rewrite of history). */
  clear(): void {
    this.cache.clear();
  }

  private columns(runPk: number, key: string, axis: HistoryAxis): Columns {
    const id = columnsId(runPk, key, axis);
    const cols = this.cache.take(id) ?? emptyColumns();
    const [lastSeq, chunked] = (this.runState.get(runPk) as [number, number] | undefined) ?? [-1, 0];
    if (lastSeq > cols.seq) {
      if (chunked) {
        this.extendFromChunks(runPk, key, axis, cols);
        cols.seq = lastSeq; // read before the chunks: a later upload is picked up next time
      } else {
        this.extend(runPk, key, axis, cols);
      }
    }
    this.cache.put(id, cols);
    return cols;
  }

  /** Reads the key's chunks after `cols.covered` (with their x chunks), appending their points. */
  private extendFromChunks(runPk: number, key: string, axis: HistoryAxis, cols: Columns): void {
    // Room for them all at once: doubling from 1,024 points to a million copied ~15 ms of a
    // chart's first request.
    reserve(cols, cols.n + (this.pointsAfter.get(runPk, key, cols.covered) as number));
    const rows = this.chunksAfter.iterate(X_KEYS[axis], runPk, key, cols.covered) as IterableIterator<[number, number, number, Buffer, number, Buffer]>;
    for (const [firstSeq, n, ym, yData, xm, xData] of rows) appendChunk(cols, firstSeq, n, ym, yData, xm, xData);
  }

  /** Legacy runs: reads the rows after `cols.seq` in one pass, appending the points that hold the key. */
  private extend(runPk: number, key: string, axis: HistoryAxis, cols: Columns): void {
    const scanner = new RowScanner(axis === "runtime" ? [key, "_runtime"] : [key]);
    for (const row of this.rowsAfter.iterate(runPk, cols.seq) as IterableIterator<[number, number, number | null, Buffer]>) {
      const [seq, step, ts, data] = row;
      cols.seq = seq;
      let y: number;
      let x: number;
      if (scanner.scan(data)) {
        if (!scanner.found[0]) continue;
        y = scanner.values[0];
        if (axis === "runtime") {
          if (!scanner.found[1]) continue;
          x = scanner.values[1];
        } else x = axis === "step" ? step : (ts ?? NaN);
      } else {
        const decoded = readStoredRow(data) as Record<string, unknown> | null;
        if (decoded === null) continue;
        const v = decoded[key];
        if (typeof v !== "number") continue;
        y = v;
        x = axis === "step" ? step : axis === "time" ? (ts ?? NaN) : Number(decoded._runtime);
      }
      if (Number.isNaN(x)) continue;
      if (cols.n === cols.xs.length) reserve(cols, cols.n + 1);
      cols.xs[cols.n] = x;
      cols.ys[cols.n] = y;
      cols.n++;
    }
  }
}

