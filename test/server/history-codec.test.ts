import { describe, expect, it } from "vitest";
import { decode, encodeRecords } from "../../src/protocol/codec.js";
import { historyRows, type HistoryColumns, type HistoryRecord, type Scalar } from "../../src/protocol/records.js";
import { decodeHistoryRow, encodeHistoryColumns, encodeHistoryRow } from "../../src/server/store/history-codec.js";

/** Every range msgpack writes a number in differently, and the values JSON cannot carry. */
const NUMBERS = [
  0, -0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 2 ** 32, 2 ** 53, -1, -0x20, -0x21, -0x80, -0x81, -0x8000, -0x8001,
  -(2 ** 31), -(2 ** 31) - 1, 0.5, -1.25, 1 / 3, 1.7e12, Number.MAX_VALUE, Number.MIN_VALUE, NaN, Infinity, -Infinity,
];

/** A record as it arrives: packed by the client's codec and decoded again. */
function received(n: number, cols: HistoryColumns): Extract<HistoryRecord, { cols: HistoryColumns }> {
  const [r] = decode<HistoryRecord[]>(encodeRecords([{ k: "history", seq: 1, n, cols }]));
  if (!("cols" in r)) throw new Error("expected the column form back");
  return r;
}

describe("encodeHistoryColumns", () => {
  it("stores each step byte for byte as the row it stands for would be stored", () => {
    const n = NUMBERS.length;
    const strings: Array<Scalar | undefined> = NUMBERS.map((_, i) => (i % 4 === 0 ? undefined : ["", "x", "é✓", "y".repeat(40), "z".repeat(300)][i % 5]));
    const mixed: Array<Scalar | undefined> = NUMBERS.map((v, i) => [v, null, true, false, undefined, "s"][i % 6]);
    const r = received(n, {
      _step: Float64Array.from(NUMBERS, (_, i) => i),
      _timestamp: Float64Array.from(NUMBERS, (_, i) => 1.7e12 + i),
      _runtime: Float64Array.from(NUMBERS, (_, i) => i / 1000),
      value: Float64Array.from(NUMBERS),
      negated: Float64Array.from(NUMBERS, (v) => -v),
      label: strings,
      mixed,
      "12": Float64Array.from(NUMBERS), // an integer-like key: objects list it first
      [`a/long/key/${"k".repeat(40)}`]: Float64Array.from(NUMBERS),
    });
    const blobs = encodeHistoryColumns(r.n, r.cols);
    const rows = historyRows(r);
    expect(blobs).toHaveLength(n);
    for (let i = 0; i < n; i++) expect(Buffer.from(blobs[i]).toString("hex"), `step ${i}`).toBe(encodeHistoryRow(rows[i]).toString("hex"));
    expect(decodeHistoryRow(blobs[5])).toEqual(rows[5]);
  });

  it("keeps a step's values apart when a record has more keys than fit in a small map", () => {
    const cols: HistoryColumns = { _step: Float64Array.of(0, 1), _timestamp: Float64Array.of(5, 6) };
    for (let k = 0; k < 40; k++) cols[`m${k}`] = k % 2 ? Float64Array.of(k, -k) : [undefined, `v${k}`];
    const r = received(2, cols);
    const blobs = encodeHistoryColumns(r.n, r.cols);
    expect(blobs.map(decodeHistoryRow)).toEqual(historyRows(r));
    expect(Object.keys(decodeHistoryRow(blobs[0]))).toHaveLength(2 + 20);
  });

  it("writes nothing for a record of no steps", () => {
    expect(encodeHistoryColumns(0, { _step: new Float64Array(0), _timestamp: new Float64Array(0) })).toEqual([]);
  });
});
