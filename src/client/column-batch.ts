/**
 * Committed history steps, gathered in columns until the batch is sent. Appending a step writes
 * each value into its key's column; a column of numbers is a Float64Array that msgpack carries
 * as one block, so sending 4,096 steps costs a few memcpys instead of 4,096 map encodings.
 * A key missing at some step, or a value that is not a number, turns that column into a plain
 * array (with `undefined` for the missing steps).
 *
 * The batch also keeps an estimate of its encoded size (`bytes`), so that the queue can seal it
 * before it nears the daemon's frame limit: each row costs its columns (a number is 8 bytes in a
 * Float64Array, at most 9 in a plain array; a string's header fits in the same 9), and each
 * string its length besides. A number pays nothing extra: the row's cost is one add in endRow().
 */
import type { HistoryColumns, Scalar } from "../protocol/index.js";
import type { StepSink } from "./history.js";

const NO_ROWS = new Float64Array(0);

/** What one value of a column costs at most, its own bytes aside (a string's): msgpack's float 64 is 9. */
const CELL_BYTES = 9;

/** Where a column charges the strings it takes (the batch's size estimate). */
interface SizeCounter {
  bytes: number;
}

class Column {
  f64: Float64Array | null;
  arr: Array<Scalar | undefined> | null = null;
  len: number;

  /** `expectedRows`: how long the Float64Array becomes at the first value. */
  constructor(
    private readonly expectedRows: number,
    firstRow: number,
    private readonly size: SizeCounter,
  ) {
    if (firstRow === 0) {
      // Empty until its first value, which grows it (see push).
      this.f64 = NO_ROWS;
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
        this.charge(v);
        this.toArray();
        this.arr![row] = v;
      }
      return;
    }
    if (this.len < row) this.pad(row);
    if (this.f64 !== null && typeof v === "number") {
      // Every column takes this branch at its first value, long before V8 optimizes push(): had
      // it first run at row 64, the optimized push() and put() would have been thrown away and
      // optimized again (~6 ms of a short run's log() loop, measured with --trace-deopt).
      if (this.len === this.f64.length) this.grow();
      this.f64[this.len++] = v;
      return;
    }
    // Numbers into a column of numbers returned above: only the others pay for the size check.
    this.charge(v);
    this.toArray();
    this.arr![this.len++] = v;
  }

  /**
   * The next row's number, for a column that only ever takes numbers, one per row (a step's
   * _step, _timestamp and _runtime): push() without its checks.
   */
  append(v: number): void {
    if (this.len === this.f64!.length) this.grow();
    this.f64![this.len++] = v;
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

  /** A string costs its length (UTF-8 bytes for ASCII; the queue's threshold leaves room for the rest). */
  private charge(v: Scalar): void {
    if (typeof v === "string") this.size.bytes += v.length;
  }

  private grow(): void {
    const bigger = new Float64Array(Math.max(this.expectedRows, 16, this.f64!.length * 2));
    bigger.set(this.f64!);
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

export class ColumnBatch implements StepSink, SizeCounter {
  /** Steps in the batch. */
  n = 0;
  /** About how many bytes the batch's columns take encoded: an estimate from above for numbers (see CELL_BYTES), strings by length. */
  bytes = 0;
  /** What one row costs without its strings: CELL_BYTES per column. */
  private rowBytes = 3 * CELL_BYTES;
  private cols = new Map<string, Column>();
  // Steps usually repeat the keys of the step before, in the same order: remember which column
  // the p-th key went to, so that the hot path is one string comparison, not a Map lookup.
  private shapeKeys: string[] = [];
  private shapeCols: Column[] = [];
  private pos = 0;

  // Every step's own three, appended by endRow() without the key lookup and checks of put():
  // they were 3 of the 13 put() calls of a 10-key step. Kept apart from `cols`, so that put()
  // can never reach them, and listed after the user's keys, as they come in a step.
  private readonly steps: Column;
  private readonly timestamps: Column;
  private readonly runtimes: Column;
  private readonly own: ReadonlyArray<readonly [string, Column]>;

  /**
   * `expectedRows`: how many steps this batch will likely hold (the previous batch's count). A
   * column starts that long and doubles when full: a short run with wide rows does not allocate
   * (and zero) 4,096 slots for each of its keys, and a long one allocates each column once.
   */
  constructor(private readonly expectedRows: number) {
    this.steps = new Column(expectedRows, 0, this);
    this.timestamps = new Column(expectedRows, 0, this);
    this.runtimes = new Column(expectedRows, 0, this);
    this.own = [
      ["_step", this.steps],
      ["_timestamp", this.timestamps],
      ["_runtime", this.runtimes],
    ];
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

  /** Closes the step with its _step, _timestamp and _runtime. */
  endRow(step: number, timestamp: number, runtime: number): void {
    this.steps.append(step);
    this.timestamps.append(timestamp);
    this.runtimes.append(runtime);
    this.n++;
    this.pos = 0;
    this.bytes += this.rowBytes;
  }

  private addColumn(key: string): Column {
    const col = new Column(this.expectedRows, this.n, this);
    // From now on each row pays for it; the rows before it are gaps of a byte each, and the key's
    // name is spelled once.
    this.rowBytes += CELL_BYTES;
    this.bytes += key.length + this.n;
    this.cols.set(key, col);
    return col;
  }

  /** The latest value of each key among the steps from `from` on (what the summary needs). */
  latestFrom(from: number, into: Record<string, unknown>): void {
    if (from >= this.n) return;
    for (const cols of [this.cols, this.own]) {
      for (const [key, col] of cols) {
        const last = col.lastFrom(from);
        if (last) into[key] = last.value;
      }
    }
  }

  columns(): HistoryColumns {
    const out: HistoryColumns = {};
    for (const cols of [this.cols, this.own]) for (const [key, col] of cols) out[key] = col.finish(this.n);
    return out;
  }
}
