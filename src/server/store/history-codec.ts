/**
 * How a history row (and a system metrics sample) is stored: one msgpack map per step. msgpack
 * keeps NaN and the infinities exactly (JSON cannot), and a map is smaller and faster to write
 * than one row per value.
 *
 * The server packs with its own plain-map packer rather than protocol/codec.ts's record packer:
 * a stored row must decode on its own, forever, with any msgpack library (a PostgreSQL backend,
 * an export tool), so it must not depend on msgpackr's record extension.
 */
import { endianness } from "node:os";
import { Packr, Unpackr } from "msgpackr";
import type { HistoryColumns, HistoryRow, Scalar } from "../../protocol/records.js";

const packr = new Packr({ useRecords: false });
// Reads of stored rows never fail on a number: a 64-bit integer stored before uploads were
// checked (issue #13) reads as the nearest number rather than a BigInt that JSON cannot write.
const unpackr = new Unpackr({ useRecords: false, int64AsType: "number" });
/**
 * For opaque records: typed arrays (a newer kind's columns) keep their type (msgpackr's ext 0x74),
 * and an object of more than 65,535 keys (checked only for its size in bytes) gets a 32-bit map
 * header instead of the exception of msgpackr's fast 16-bit path (a 500, found by the ingest fuzz).
 */
const opaquePackr = new Packr({ useRecords: false, moreTypes: true, variableMapSize: true });

/**
 * Packs one history row for storage.
 *
 * @example
 * const blob = encodeHistoryRow({ _step: 0, _timestamp: Date.now(), _runtime: 0, loss: NaN });
 */
export function encodeHistoryRow(row: HistoryRow): Buffer {
  return packr.pack(row);
}

/**
 * Packs each step of a column-form history record for storage: byte for byte what
 * encodeHistoryRow writes for the row that protocol's historyRows() makes of that step (same key
 * order, a step's undefined values left out), without making the row objects. Ingest spent more
 * time building and packing those objects than SQLite spent storing them.
 *
 * Numbers, nearly every value, are written here as msgpackr writes them (useRecords: false):
 * integers of 32 bits or less in the smallest int format (-0 as 0, as msgpackr does), anything
 * else as a float64. Keys, and values that are not numbers, go through msgpackr itself. The blobs
 * are views of one buffer.
 *
 * @example
 * const blobs = encodeHistoryColumns(2, { _step: Float64Array.of(0, 1), loss: [0.5, undefined] });
 * decodeHistoryRow(blobs[1]) // { _step: 1 }
 */
export function encodeHistoryColumns(n: number, cols: HistoryColumns): Uint8Array[] {
  const packer = new StepPacker(cols, n);
  const ends = packer.packAll(n);
  return views(packer.buf, ends);
}

/**
 * The steps of one record, packed one after the other into one buffer. The loops do nothing
 * after their end but return: V8 optimizes a long loop mid-run, and code after the loop that had
 * not run yet threw that optimized code away again, once per record (measured: ~30 % slower).
 */
class StepPacker {
  buf: Uint8Array;
  private pos = 0;
  private readonly columns: HistoryColumns[string][];
  /** The Float64Array columns (null for the others): two reads, each of one array type, keep element access monomorphic. */
  private readonly dense: (Float64Array | null)[];
  private readonly keyBytes: Uint8Array[];
  /** The most one step takes when its values are numbers: the map header, then key + 9 bytes each. */
  private readonly rowMax: number;

  constructor(cols: HistoryColumns, n: number) {
    const keys = Object.keys(cols);
    this.columns = keys.map((k) => cols[k]);
    this.dense = this.columns.map((c) => (c instanceof Float64Array ? c : null));
    this.keyBytes = keys.map((k) => Uint8Array.from(packr.pack(k))); // a copy: packr reuses its buffer
    this.rowMax = this.keyBytes.reduce((sum, k) => sum + k.length + 9, 3);
    this.buf = new Uint8Array(this.rowMax * n);
  }

  /** Packs steps 0 .. n-1; returns where each one's bytes end. */
  packAll(n: number): Uint32Array {
    const ends = new Uint32Array(n);
    for (let i = 0; i < n; i++) ends[i] = this.pack(i);
    return ends;
  }

  /** Packs step i; returns where its bytes end. */
  pack(i: number): number {
    const { columns, dense, keyBytes, rowMax } = this;
    let buf = this.buf;
    let pos = this.pos;
    if (pos + rowMax > buf.length) buf = grown(buf, pos, rowMax);
    const head = pos;
    pos += 3;
    let size = 0;
    for (let c = 0; c < columns.length; c++) {
      const col = dense[c];
      let v: Scalar | undefined;
      if (col !== null) v = col[i];
      else if ((v = (columns[c] as Array<Scalar | undefined>)[i]) === undefined) continue;
      size++;
      const key = keyBytes[c];
      for (let j = 0; j < key.length; j++) buf[pos++] = key[j];
      if (typeof v === "number") pos = writeNumber(buf, pos, v);
      else {
        const packed = packr.pack(v);
        if (pos + packed.length + rowMax > buf.length) buf = grown(buf, pos, packed.length + rowMax);
        buf.set(packed, pos);
        pos += packed.length;
      }
    }
    // msgpackr's plain maps are always map 16, whatever their size.
    if (size > 0xffff) throw new Error(`history step ${i} holds ${size} keys, more than a stored row can (65,535)`);
    buf[head] = 0xde;
    buf[head + 1] = size >> 8;
    buf[head + 2] = size & 0xff;
    this.buf = buf;
    this.pos = pos;
    return pos;
  }
}

/** Step i's bytes, from ends[i - 1] to ends[i]. Plain views: a Buffer's subarray() costs about three times as much. */
function views(buf: Uint8Array, ends: Uint32Array): Uint8Array[] {
  const blobs: Uint8Array[] = new Array(ends.length);
  for (let i = 0, start = 0; i < ends.length; start = ends[i++]) blobs[i] = new Uint8Array(buf.buffer, start, ends[i] - start);
  return blobs;
}

function grown(buf: Uint8Array, used: number, more: number): Uint8Array {
  const next = new Uint8Array(Math.max(2 * buf.length, used + more));
  next.set(buf.subarray(0, used));
  return next;
}

const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const LITTLE_ENDIAN = endianness() === "LE";

/** Writes v at pos as msgpackr would (see encodeHistoryColumns); returns the position after it. */
function writeNumber(buf: Uint8Array, pos: number, v: number): number {
  if (v >>> 0 === v) {
    if (v < 0x80) buf[pos++] = v;
    else if (v < 0x100) {
      buf[pos++] = 0xcc;
      buf[pos++] = v;
    } else if (v < 0x10000) {
      buf[pos++] = 0xcd;
      buf[pos++] = v >> 8;
      buf[pos++] = v;
    } else {
      buf[pos++] = 0xce;
      buf[pos++] = v >>> 24;
      buf[pos++] = v >> 16;
      buf[pos++] = v >> 8;
      buf[pos++] = v;
    }
  } else if (v >> 0 === v) {
    if (v >= -0x20) buf[pos++] = v; // a Uint8Array keeps the low byte: 0xe0..0xff
    else if (v >= -0x80) {
      buf[pos++] = 0xd0;
      buf[pos++] = v;
    } else if (v >= -0x8000) {
      buf[pos++] = 0xd1;
      buf[pos++] = v >> 8;
      buf[pos++] = v;
    } else {
      buf[pos++] = 0xd2;
      buf[pos++] = v >> 24;
      buf[pos++] = v >> 16;
      buf[pos++] = v >> 8;
      buf[pos++] = v;
    }
  } else {
    buf[pos++] = 0xcb;
    f64[0] = v;
    // msgpack is big-endian; a DataView's setFloat64 measured slower than these byte copies.
    if (LITTLE_ENDIAN) for (let b = 7; b >= 0; b--) buf[pos++] = f64Bytes[b];
    else for (let b = 0; b < 8; b++) buf[pos++] = f64Bytes[b];
  }
  return pos;
}

/**
 * Packs a record of a kind this version does not know, whole, for the unknown_records table:
 * plain msgpack maps, so a later version (or any msgpack library) can read it back and apply it.
 *
 * @example
 * const blob = encodeOpaqueRecord({ k: "media", seq: 12, sha256: "…", path: "images/0.png" });
 */
export function encodeOpaqueRecord(record: object): Buffer {
  return opaquePackr.pack(record);
}

/** Unpacks a stored history row (NaN stays NaN). */
export function decodeHistoryRow(blob: Uint8Array): HistoryRow {
  return unpackr.unpack(blob) as HistoryRow;
}

/**
 * Unpacks a stored history row for a read, or null when it cannot be read (a row stored before
 * uploads were checked, issue #13): one such row must not make every read of the run fail.
 */
export function readStoredRow(blob: Uint8Array): HistoryRow | null {
  try {
    const row = unpackr.unpack(blob) as unknown;
    return typeof row === "object" && row !== null && !Array.isArray(row) ? (row as HistoryRow) : null;
  } catch {
    return null;
  }
}

/** The values of one system metrics sample, as the daemon sent them. */
export type SampleValues = { [key: string]: number };

/**
 * Packs the values of one system metrics sample for storage (same plain-map msgpack as history).
 *
 * @example
 * const blob = encodeSample({ "system/cpu": 12.5, "system/gpu.0.temp": NaN });
 */
export function encodeSample(values: SampleValues): Buffer {
  return packr.pack(values);
}

/** Unpacks a stored system metrics sample (NaN stays NaN); an unreadable one reads as no values. */
export function decodeSample(blob: Uint8Array): SampleValues {
  try {
    return unpackr.unpack(blob) as SampleValues;
  } catch {
    return {};
  }
}
