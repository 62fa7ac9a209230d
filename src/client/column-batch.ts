/**
 * Committed history steps, gathered in columns until the batch is sent. Appending a step writes
 * each value into its key's column; a column of numbers is a Float64Array that msgpack carries
 * as one block, so sending 4,096 steps costs a few memcpys instead of 4,096 map encodings.
 * A key missing at some step, or a value that is not a number, turns that column into a plain
 * array (with `undefined` for the missing steps).
 */
import type { HistoryColumns, Scalar } from "../protocol/index.js";
import type { StepSink } from "./history.js";

class Column {
  f64: Float64Array | null;
  arr: Array<Scalar | undefined> | null = null;
  len: number;

  constructor(capacity: number, firstRow: number) {
    if (firstRow === 0) {
      this.f64 = new Float64Array(capacity);
      this.len = 0;
    } else {
      this.f64 = null;
      this.arr = new Array<Scalar | undefined>(firstRow).fill(undefined);
      this.len = firstRow;
    }
  }

  push(row: number, v: Scalar): void {
    if (this.len > row) {
      // The same key twice in one step (e.g. "a/b" both nested and literal): the last one wins.
      if (this.f64 && typeof v === "number") this.f64[row] = v;
      else {
        this.toArray();
        this.arr![row] = v;
      }
      return;
    }
    if (this.len < row) this.pad(row);
    if (this.f64 !== null && typeof v === "number") {
      this.f64[this.len++] = v; // the batch grew every column before this row (see endRow)
      return;
    }
    this.toArray();
    this.arr![this.len++] = v;
  }

  /** The last value at or after `from`, if any. */
  lastFrom(from: number): { value: Scalar } | null {
    for (let i = this.len - 1; i >= from; i--) {
      const v = this.f64 ? this.f64[i] : this.arr![i];
      if (v !== undefined) return { value: v };
    }
    return null;
  }

  finish(n: number): Float64Array | Array<Scalar | undefined> {
    if (this.len < n) this.pad(n);
    return this.f64 ? this.f64.subarray(0, n) : this.arr!;
  }

  /** Makes room for `capacity` rows (array columns grow by themselves). */
  reserve(capacity: number): void {
    if (this.f64 === null || this.f64.length >= capacity) return;
    const bigger = new Float64Array(capacity);
    bigger.set(this.f64);
    this.f64 = bigger;
  }

  private pad(to: number): void {
    this.toArray();
    while (this.len < to) this.arr![this.len++] = undefined;
  }

  private toArray(): void {
    if (this.f64 === null) return;
    this.arr = Array.from(this.f64.subarray(0, this.len));
    this.f64 = null;
  }
}

export class ColumnBatch implements StepSink {
  /** Steps in the batch. */
  n = 0;
  /** Rows every Float64Array column has room for. */
  private capacity: number;
  private cols = new Map<string, Column>();
  // Steps usually repeat the keys of the step before, in the same order: remember which column
  // the p-th key went to, so that the hot path is one string comparison, not a Map lookup.
  private shapeKeys: string[] = [];
  private shapeCols: Column[] = [];
  private pos = 0;

  /**
   * `expectedRows`: how many steps this batch will likely hold (the previous batch's count). A
   * column starts that long and doubles when full: a short run with wide rows does not allocate
   * (and zero) 4,096 slots for each of its keys, and a long one allocates each column once.
   */
  constructor(expectedRows: number) {
    this.capacity = Math.max(1, expectedRows);
  }

  /** Hot path: a value of the current step. */
  put(key: string, value: Scalar): void {
    const p = this.pos++;
    let col: Column;
    if (this.shapeKeys[p] === key) {
      col = this.shapeCols[p];
    } else {
      col = this.cols.get(key) ?? this.addColumn(key);
      this.shapeKeys[p] = key;
      this.shapeCols[p] = col;
    }
    col.push(this.n, value);
  }

  /**
   * Columns grow here, all at once, at a row boundary, not in Column.push: a growth branch in the
   * per-value path is first taken long after V8 optimized it (at row 64 of a first batch), and
   * the deoptimization and second optimization cost a short run's log() loop ~6 ms of CPU.
   */
  endRow(): void {
    this.pos = 0;
    if (++this.n === this.capacity) this.growColumns();
  }

  private growColumns(): void {
    this.capacity *= 2;
    for (const col of this.cols.values()) col.reserve(this.capacity);
  }

  private addColumn(key: string): Column {
    const col = new Column(this.capacity, this.n);
    this.cols.set(key, col);
    return col;
  }

  /** The latest value of each key among the steps from `from` on (what the summary needs). */
  latestFrom(from: number, into: Record<string, unknown>): void {
    if (from >= this.n) return;
    for (const [key, col] of this.cols) {
      const last = col.lastFrom(from);
      if (last) into[key] = last.value;
    }
  }

  columns(): HistoryColumns {
    const out: HistoryColumns = {};
    for (const [key, col] of this.cols) out[key] = col.finish(this.n);
    return out;
  }
}
