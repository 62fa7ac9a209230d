/**
 * How a history row (and a system metrics sample) is stored: one msgpack map per step. msgpack
 * keeps NaN and the infinities exactly (JSON cannot), and a map is smaller and faster to write
 * than one row per value.
 *
 * The server packs with its own plain-map packer rather than protocol/codec.ts's record packer:
 * a stored row must decode on its own, forever, with any msgpack library (a PostgreSQL backend,
 * an export tool), so it must not depend on msgpackr's record extension.
 */
import { Packr, Unpackr } from "msgpackr";
import type { HistoryRow } from "../protocol/records.js";

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });

/**
 * Packs one history row for storage.
 *
 * @example
 * const blob = encodeHistoryRow({ _step: 0, _timestamp: Date.now(), _runtime: 0, loss: NaN });
 */
export function encodeHistoryRow(row: HistoryRow): Buffer {
  return packr.pack(row);
}

/** Unpacks a stored history row (NaN stays NaN). */
export function decodeHistoryRow(blob: Uint8Array): HistoryRow {
  return unpackr.unpack(blob) as HistoryRow;
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

/** Unpacks a stored system metrics sample (NaN stays NaN). */
export function decodeSample(blob: Uint8Array): SampleValues {
  return unpackr.unpack(blob) as SampleValues;
}
