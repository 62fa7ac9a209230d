/**
 * History rows built back from the column chunks (history-chunks.ts), the one stored copy of a
 * run's history since migration 9: no wide row per step is written any more, which halved what
 * ingest wrote. Each history record has one index row beside its chunks (`history_records`):
 * its first seq, its step count, its smallest and largest step (so a read by step range skips
 * whole records) and its keys in order (so a row comes back with its keys in the order sent,
 * and a read knows which chunks to look up by primary key).
 *
 * Rows come in seq order, as they did from the wide rows. A run's records never overlap: a wide
 * row was keyed by its seq, and a resent step replaced the one stored; so, at ingest, a record
 * that covers seqs of records stored before (a resend, or one cut differently, as a hand-written
 * body may be) takes those steps from them: each such record is rewritten without them
 * (`sliceColumns`), or deleted when none of its steps is left. A resend as the daemon makes it
 * (the same record again) simply replaces the record.
 *
 * The backends own the queries; this file owns the format, so both read rows the same way.
 */
import type { HistoryColumns, HistoryRecord, HistoryRow, Scalar } from "../../protocol/records.js";
import type { HistoryChunk } from "./history-chunks.js";
import { historyChunks, readChunk, readChunkDense, readChunkExtra } from "./history-chunks.js";
import type { HistoryQuery } from "./store.js";

/**
 * `runs.history_chunks` of a run whose column chunks are its one copy of history (SQLite
 * migration 9, PostgreSQL migration 2). 0: wide rows only; 1: wide rows, and chunks for charts.
 */
export const CHUNKS_ONLY = 2;

/** The index row of one history record (table `history_records`). */
export interface HistoryRecordIndex {
  n: number;
  minStep: number;
  maxStep: number;
  /** The record's keys in order, as JSON text (an array of strings). */
  keys: string;
}

/** A stored chunk as a backend reads it back. */
export interface StoredChunk {
  n: number;
  m: number;
  data: Uint8Array;
  extra: Uint8Array | null;
}

/**
 * The index row of a history record, from its chunks (historyChunks' order is the key order).
 *
 * @example
 * historyRecordIndex(r, historyChunks(r)) // { n: 4096, minStep: 0, maxStep: 4095, keys: '["_step","_timestamp",...]' }
 */
export function historyRecordIndex(r: HistoryRecord, chunks: HistoryChunk[]): HistoryRecordIndex {
  const n = "cols" in r ? r.n : r.rows.length;
  let minStep = Infinity;
  let maxStep = -Infinity;
  // Validation made sure _step is a number at every step, in either form.
  const steps = "cols" in r ? (r.cols._step as ArrayLike<number>) : null;
  for (let i = 0; i < n; i++) {
    const s = steps ? steps[i] : (r as { rows: HistoryRow[] }).rows[i]._step;
    if (s < minStep) minStep = s;
    if (s > maxStep) maxStep = s;
  }
  return { n, minStep, maxStep, keys: JSON.stringify(chunks.map((c) => c.key)) };
}

/** The keys of a record's index row. */
export function recordKeys(keys: string): string[] {
  return JSON.parse(keys) as string[];
}

/**
 * A stored record's columns, offsets `from` to `to` (exclusive), as a record's `cols`: what
 * stays of a record when a later one takes some of its steps. A column with a number at every
 * step stays a Float64Array, so that it is stored dense again.
 */
export function sliceColumns(n: number, keys: string[], chunks: (StoredChunk | undefined)[], from: number, to: number): HistoryColumns {
  const cols: HistoryColumns = {};
  for (let k = 0; k < keys.length; k++) {
    const chunk = chunks[k];
    if (!chunk) continue;
    const { values, offsets } = readChunk(n, chunk.m, chunk.data);
    if (!offsets && chunk.extra === null) {
      cols[keys[k]] = Float64Array.from(values.subarray(from, to));
      continue;
    }
    const column = new Array<Scalar | undefined>(to - from);
    for (let i = 0; i < values.length; i++) {
      const o = offsets ? offsets[i] : i;
      if (o >= from && o < to) column[o - from] = values[i];
    }
    const extra = readChunkExtra(chunk.extra);
    for (let i = 0; i < extra.offsets.length; i++) {
      const o = extra.offsets[i];
      if (o >= from && o < to) column[o - from] = extra.values[i];
    }
    cols[keys[k]] = column;
  }
  return cols;
}

/** A history record to write: its first seq, its chunks and its index row. */
export interface RecordToWrite {
  seq: number;
  chunks: HistoryChunk[];
  index: HistoryRecordIndex;
}

/**
 * What a stored record (first seq `oldFirst`, n steps, `keys` and their `stored` chunks) keeps
 * when a new record takes seqs first..last: its steps before them (at its own first seq) and
 * after them (at last + 1), as records to write back once it is deleted; none when it is covered.
 */
export function keptParts(oldFirst: number, n: number, keys: string[], stored: (StoredChunk | undefined)[], first: number, last: number): RecordToWrite[] {
  const out: RecordToWrite[] = [];
  const keep = (from: number, to: number) => {
    if (from >= to) return;
    const rest: HistoryRecord = { k: "history", seq: oldFirst + from, n: to - from, cols: sliceColumns(n, keys, stored, from, to) };
    const chunks = historyChunks(rest);
    out.push({ seq: rest.seq, chunks, index: historyRecordIndex(rest, chunks) });
  };
  keep(0, Math.min(n, first - oldFirst));
  keep(Math.max(0, last + 1 - oldFirst), n);
  return out;
}

/**
 * Collects the rows of a read (step range, limit) record by record, in seq order. A backend
 * walks the records whose step range meets the query's, in first-seq order, and for each: asks
 * `pick` which steps to return (from the `_step` chunk), then, if any, reads the record's other
 * chunks and hands them to `add`; it stops when `full`.
 */
export class HistoryRowCollector {
  readonly rows: HistoryRow[] = [];
  private readonly min: number;
  private readonly max: number;

  constructor(private readonly q: HistoryQuery) {
    this.min = q.minStep ?? -Infinity;
    this.max = q.maxStep ?? Infinity;
  }

  get full(): boolean {
    return this.rows.length >= this.q.limit;
  }

  /** The offsets, within the record, of the steps to return; empty when none. */
  pick(stepChunk: StoredChunk): number[] {
    const { n } = stepChunk;
    const steps = readChunkDense(n, stepChunk.m, stepChunk.data);
    const room = this.q.limit - this.rows.length;
    const picked: number[] = [];
    for (let i = 0; i < n && picked.length < room; i++) {
      const s = steps[i];
      if (s >= this.min && s <= this.max) picked.push(i);
    }
    return picked;
  }

  /** Builds the picked steps' rows from the record's chunks, one per key in `keys` (undefined: none stored). */
  add(n: number, keys: string[], chunks: (StoredChunk | undefined)[], picked: number[]): void {
    const rows = picked.map(() => ({}) as Record<string, Scalar>);
    // Key by key, so that each row gets its keys in the record's order.
    for (let k = 0; k < keys.length; k++) {
      const chunk = chunks[k];
      if (!chunk) continue;
      const key = keys[k];
      const { values, offsets } = readChunk(n, chunk.m, chunk.data);
      if (!offsets && chunk.extra === null) {
        for (let j = 0; j < picked.length; j++) rows[j][key] = values[picked[j]];
        continue;
      }
      // Sparse: the key's values by offset, numbers and the others together.
      const column = new Array<Scalar | undefined>(n);
      for (let i = 0; i < values.length; i++) column[offsets ? offsets[i] : i] = values[i];
      const extra = readChunkExtra(chunk.extra);
      for (let i = 0; i < extra.offsets.length; i++) column[extra.offsets[i]] = extra.values[i];
      for (let j = 0; j < picked.length; j++) {
        const v = column[picked[j]];
        if (v !== undefined) rows[j][key] = v;
      }
    }
    for (const row of rows) this.rows.push(row as HistoryRow);
  }
}
