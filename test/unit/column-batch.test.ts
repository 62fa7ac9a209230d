import { describe, expect, it } from "vitest";
import { ColumnBatch } from "../../src/client/column-batch.js";
import { decode, encodeRecords, historyRows, type HistoryRecord, type Scalar } from "../../src/protocol/index.js";

/** Step i gets _step 10 + i, _timestamp 1000 + i and _runtime i / 2. */
function fill(rows: Record<string, Scalar>[], expectedRows = 8): ColumnBatch {
  const b = new ColumnBatch(expectedRows);
  rows.forEach((row, i) => {
    for (const [k, v] of Object.entries(row)) b.put(k, v);
    b.endRow(10 + i, 1000 + i, i / 2);
  });
  return b;
}

/** The batch's steps after encoding and decoding, without their _step, _timestamp and _runtime. */
function roundTrip(b: ColumnBatch): Record<string, unknown>[] {
  const rec: HistoryRecord = { k: "history", seq: 1, n: b.n, cols: b.columns() };
  const back = decode<HistoryRecord[]>(encodeRecords([rec]))[0];
  return historyRows(back).map(({ _step, _timestamp, _runtime, ...rest }) => rest);
}

describe("column batches", () => {
  it("turns steps of the same keys into Float64Array columns and back", () => {
    const rows = [
      { a: 1, b: 2.5 },
      { a: NaN, b: -Infinity },
    ];
    const b = fill(rows);
    expect(b.columns().a).toBeInstanceOf(Float64Array);
    const back = roundTrip(b);
    expect(back[0]).toEqual({ a: 1, b: 2.5 });
    expect(back[1].a).toBeNaN();
    expect(back[1].b).toBe(-Infinity);
  });

  it("gives every step its _step, _timestamp and _runtime, as Float64Array columns", () => {
    const b = fill(Array.from({ length: 20 }, (_, i): Record<string, Scalar> => (i % 2 ? { a: i } : {})), 4);
    const cols = b.columns();
    expect(Object.keys(cols)).toEqual(["a", "_step", "_timestamp", "_runtime"]); // as a step lists them
    expect(cols._step).toEqual(Float64Array.from({ length: 20 }, (_, i) => 10 + i));
    expect(cols._timestamp).toEqual(Float64Array.from({ length: 20 }, (_, i) => 1000 + i));
    expect(cols._runtime).toEqual(Float64Array.from({ length: 20 }, (_, i) => i / 2));
  });

  it("keeps steps that lack a key, keys that appear later, and non-numbers apart", () => {
    const rows: Record<string, Scalar>[] = [{ a: 1 }, { b: "x" }, { a: 3, b: null, c: true }, { c: false, a: 4 }];
    expect(roundTrip(fill(rows))).toEqual(rows);
  });

  it("grows past the rows it expected without losing values, still as a Float64Array", () => {
    const rows = Array.from({ length: 20 }, (_, i) => ({ v: i }));
    const b = fill(rows, 4);
    expect(b.columns().v).toBeInstanceOf(Float64Array);
    expect(roundTrip(b)).toEqual(rows);
  });

  it("keeps every value when the rows it expects is not a whole number (a batchSize of 2.5)", () => {
    const rows = Array.from({ length: 40 }, (_, i) => ({ v: i, w: -i }));
    const b = fill(rows, 2.5);
    expect(b.columns().v).toBeInstanceOf(Float64Array);
    expect(roundTrip(b)).toEqual(rows);
  });

  it("keeps the last of a key written twice in one step", () => {
    expect(roundTrip(fill([{ a: 1 }, { a: 2 }]))).toEqual([{ a: 1 }, { a: 2 }]);
    const b = new ColumnBatch(4);
    b.put("a", 1);
    b.put("a", 2);
    b.endRow(0, 0, 0);
    expect(roundTrip(b)).toEqual([{ a: 2 }]);
  });

  it("finds the latest value of each key from a step on (for the summary)", () => {
    const b = fill([{ a: 1, b: 1 }, { a: 2 }, { c: 3 }]);
    const into: Record<string, unknown> = {};
    b.latestFrom(1, into);
    expect(into).toEqual({ a: 2, c: 3, _step: 12, _timestamp: 1002, _runtime: 1 });
    expect(Object.keys(into)).toEqual(["a", "c", "_step", "_timestamp", "_runtime"]);
  });

  it("estimates its encoded size from above, whatever its columns hold (the queue seals a batch on it)", () => {
    const rows: Record<string, Scalar>[] = Array.from({ length: 300 }, (_, i) => ({
      n: i / 3,
      ...(i % 2 ? { s: "x".repeat(i * 7) } : { s: i }), // strings and numbers in one column
      ...(i > 100 ? { late: true } : {}), // a key that comes late: gaps before it
      ...(i % 5 === 0 ? { sparse: null } : {}), // a key missing from most steps
    }));
    const b = fill(rows);
    const encoded = encodeRecords([{ k: "history", seq: 1, n: b.n, cols: b.columns() }]).length;
    expect(b.bytes).toBeGreaterThanOrEqual(encoded);
    expect(b.bytes).toBeLessThan(encoded * 2); // and not so far above that batches shrink for nothing
  });
});
