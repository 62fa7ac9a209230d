/**
 * History by column (table `history_chunks`, migration 5): per history record and per key, the
 * record's values of that key packed as binary, so that a chart reads one key's numbers instead
 * of scanning every step's msgpack blob. Since migration 9 the chunks are history's one stored
 * copy (history-rows.ts builds rows back from them), so a chunk holds every value of its key.
 *
 * A chunk of a record of n steps whose key holds a number at m of them:
 *
 * - `data`, the numbers, for charts:
 *   - m = n (every step: a client's Float64Array column, always): n float64s, value i at step i.
 *   - m < n: m float64s (the numbers, in step order), then m uint32s (the offset of each one's
 *     step within the record); empty when m = 0.
 * - `extra`, the values that are not numbers (strings, booleans, null): a msgpack array
 *   [offset, value, offset, value, ...] in step order; null when there are none. A key that never
 *   holds a number has a chunk too (m = 0), since migration 9.
 *
 * A logged NaN or infinity is a number and is kept as such, exactly; a missing value is in
 * neither part. Bytes are little-endian whatever the machine, so a database file moves between
 * machines unchanged.
 */
import { endianness } from "node:os";
import { Packr, Unpackr } from "msgpackr";
import type { HistoryRecord, Scalar } from "../../protocol/records.js";

export interface HistoryChunk {
  key: string;
  /** Steps of the record. */
  n: number;
  /** Steps holding a number for the key. */
  m: number;
  data: Buffer;
  /** The values that are not numbers, as [offset, value] pairs (see above); null when none. */
  extra: Buffer | null;
}

// Plain msgpack (no record extension), as history-codec.ts: readable by any msgpack library.
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, int64AsType: "number" });

const LITTLE_ENDIAN = endianness() === "LE";

/**
 * The chunks of one history record, one per key, in the record's key order (a row-form record:
 * the order in which its rows first name each key).
 *
 * @example
 * historyChunks({ k: "history", seq: 1, rows: [{ _step: 0, _timestamp: 0, _runtime: 0, loss: 1 }] })
 * // [{ key: "_step", n: 1, m: 1, data: <8 bytes>, extra: null }, ..., { key: "loss", n: 1, m: 1, data: <8 bytes>, extra: null }]
 */
export function historyChunks(r: HistoryRecord): HistoryChunk[] {
  const out: HistoryChunk[] = [];
  if ("cols" in r) {
    if (r.n === 0) return out;
    for (const key of Object.keys(r.cols)) {
      const chunk = encodeColumn(key, r.cols[key], r.n);
      if (chunk) out.push(chunk);
    }
    return out;
  }
  // Row form (hand-written bodies): turned into columns first.
  const rows = r.rows;
  const cols = new Map<string, Array<Scalar | undefined>>();
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    for (const key in row) {
      let col = cols.get(key);
      if (!col) cols.set(key, (col = new Array<Scalar | undefined>(rows.length)));
      col[i] = row[key];
    }
  }
  for (const [key, col] of cols) {
    const chunk = encodeColumn(key, col, rows.length);
    if (chunk) out.push(chunk);
  }
  return out;
}

function encodeColumn(key: string, col: Float64Array | ArrayLike<Scalar | undefined>, n: number): HistoryChunk | null {
  if (col instanceof Float64Array && col.length >= n) {
    // The common case, and free: the column's own bytes.
    const v = col.length === n ? col : col.subarray(0, n);
    const bytes = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    return { key, n, m: n, data: LITTLE_ENDIAN ? bytes : swapped(bytes, n, 0), extra: null };
  }
  let m = 0;
  let others: Array<number | Scalar> | null = null;
  for (let i = 0; i < n; i++) {
    const v = col[i];
    if (typeof v === "number") m++;
    else if (v !== undefined) (others ??= []).push(i, v);
  }
  if (m === 0 && others === null) return null; // the key has no value in this record at all
  const extra = others === null ? null : Buffer.from(packr.pack(others));
  const ab = new ArrayBuffer(m < n ? 12 * m : 8 * m);
  const values = new Float64Array(ab, 0, m);
  const offsets = m < n ? new Uint32Array(ab, 8 * m, m) : null;
  let j = 0;
  for (let i = 0; i < n; i++) {
    const v = col[i];
    if (typeof v !== "number") continue;
    values[j] = v;
    if (offsets) offsets[j] = i;
    j++;
  }
  const bytes = Buffer.from(ab);
  return { key, n, m, data: LITTLE_ENDIAN ? bytes : swapped(bytes, m, offsets ? m : 0), extra };
}

/** A chunk's values that are not numbers, read back: offsets[i] holds values[i]. */
export function readChunkExtra(extra: Uint8Array | null): { offsets: number[]; values: Scalar[] } {
  const offsets: number[] = [];
  const values: Scalar[] = [];
  if (extra === null || extra.byteLength === 0) return { offsets, values };
  const pairs = unpackr.unpack(extra) as Array<number | Scalar>;
  for (let i = 0; i + 1 < pairs.length; i += 2) {
    offsets.push(pairs[i] as number);
    values.push(pairs[i + 1]);
  }
  return { offsets, values };
}

/** A chunk read back: its numbers, and their offsets in the record (null: value i at step i). */
export interface ChunkValues {
  values: Float64Array;
  offsets: Uint32Array | null;
}

/** Reads a stored chunk (see the format above). */
export function readChunk(n: number, m: number, data: Uint8Array): ChunkValues {
  const sparse = m < n;
  const size = sparse ? 12 * m : 8 * m;
  if (data.byteLength !== size) throw new Error(`history chunk of ${data.byteLength} bytes, expected ${size} (n=${n}, m=${m})`);
  let buf = data;
  if (!LITTLE_ENDIAN) buf = swapped(data, m, sparse ? m : 0);
  else if (data.byteOffset % 8 !== 0) buf = new Uint8Array(data); // a typed array needs aligned bytes
  return {
    values: new Float64Array(buf.buffer, buf.byteOffset, m),
    offsets: sparse ? new Uint32Array(buf.buffer, buf.byteOffset + 8 * m, m) : null,
  };
}

/**
 * The least and greatest finite number of a stored chunk, or nulls when it holds none: what
 * PostgreSQL keeps beside each chunk (and `db copy` fills in) so a query can skip it by value.
 */
export function chunkRange(n: number, m: number, data: Uint8Array): { min: number | null; max: number | null } {
  const { values } = readChunk(n, m, data);
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v)) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  return min <= max ? { min, max } : { min: null, max: null };
}

/** A stored chunk as n values, one per step of the record, NaN where the step holds no number. */
export function readChunkDense(n: number, m: number, data: Uint8Array): Float64Array {
  const { values, offsets } = readChunk(n, m, data);
  if (!offsets) return values;
  const dense = new Float64Array(n).fill(NaN);
  for (let i = 0; i < m; i++) dense[offsets[i]] = values[i];
  return dense;
}

/** A byte-swapped copy (big-endian machines): f64s float64s, then u32s uint32s. */
function swapped(bytes: Uint8Array, f64s: number, u32s: number): Buffer {
  const out = Buffer.alloc(bytes.byteLength); // not from the pool: aligned for typed arrays
  out.set(bytes);
  const end = 8 * f64s;
  for (let p = 0; p < end; p += 8) out.subarray(p, p + 8).reverse();
  for (let p = end; p < end + 4 * u32s; p += 4) out.subarray(p, p + 4).reverse();
  return out;
}
