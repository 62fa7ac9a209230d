/**
 * Reads the record log of a W&B offline run (`run-<id>.wandb`): a 7-byte header, then LevelDB's
 * log format (blocks of 32 KiB, each holding chunks of `crc32 u32le | length u16le | type u8 |
 * payload`, a record split over chunks of type first/middle/last where it crosses a block). W&B
 * checks its chunks with the plain IEEE CRC-32 of the type byte and the payload, not LevelDB's
 * masked CRC-32C (wandb `core/pkg/leveldb/record.go`, `crc.go`; `core/internal/transactionlog`).
 *
 * The reading stops at the first damage, and says where and what it is: W&B's own reader would
 * skip to the next block, but what follows a gap (history steps, a summary that depends on them)
 * is not the run the user logged, so the caller decides whether to keep the records before it.
 */
import { crc32 } from "node:zlib";

/** `:W&B` then 0xBEE1 (little-endian) then format version 0 (`core/internal/transactionlog/writer.go`). */
export const WANDB_HEADER = Buffer.from([0x3a, 0x57, 0x26, 0x42, 0xe1, 0xbe, 0x00]);
/** LevelDB's block size; W&B's first block starts after the file header, so it is 7 bytes shorter. */
const BLOCK = 32 * 1024;
const CHUNK_HEADER = 7;
const FULL = 1;
const FIRST = 2;
const MIDDLE = 3;
const LAST = 4;

/** One record's protobuf bytes and the file offset of its first chunk. */
export interface LogRecord {
  offset: number;
  bytes: Buffer;
}

/** Where the first record that could not be read begins, and why it could not. */
export interface LogDamage {
  offset: number;
  why: string;
}

export interface LogRead {
  records: LogRecord[];
  /** null when the whole file was read. */
  damage: LogDamage | null;
}

/** Whether `buf` starts with W&B's transaction-log header. */
export function hasWandbHeader(buf: Buffer): boolean {
  return buf.length >= WANDB_HEADER.length && buf.subarray(0, WANDB_HEADER.length).equals(WANDB_HEADER);
}

/**
 * The records of a `.wandb` file's bytes, up to its end or its first damage. The caller checks
 * the header first (hasWandbHeader).
 *
 * @example
 * const { records, damage } = readWandbLog(readFileSync("run-x0z82eul.wandb"));
 */
export function readWandbLog(buf: Buffer): LogRead {
  const records: LogRecord[] = [];
  let parts: Buffer[] | null = null;
  let partsAt = 0;
  // Blocks are 32 KiB of the file, header included: the first holds 7 bytes fewer of records.
  let pos = WANDB_HEADER.length;
  // The damage is dated where the first record that cannot be read begins: what lies before is whole.
  const stop = (offset: number, why: string): LogRead => ({ records, damage: { offset: parts ? partsAt : offset, why } });
  while (pos < buf.length) {
    const leftInBlock = BLOCK - (pos % BLOCK);
    if (leftInBlock < CHUNK_HEADER) {
      // The tail of a block too short for a chunk header is padding.
      pos += leftInBlock;
      continue;
    }
    if (buf.length - pos < CHUNK_HEADER) return stop(pos, "cut short: the file ends inside a chunk header");
    const crc = buf.readUInt32LE(pos);
    const length = buf.readUInt16LE(pos + 4);
    const type = buf[pos + 6];
    if (crc === 0 && length === 0 && type === 0) {
      // LevelDB readers skip such zeros (a preallocated file); W&B never preallocates, so zeros
      // here are lost bytes (a file system's crash, a bad copy), never skipped without a word.
      return stop(pos, "zeros where a chunk should be (bytes lost to a crash or a bad copy)");
    }
    if (CHUNK_HEADER + length > leftInBlock) return stop(pos, `a chunk length (${length} bytes) that runs past its 32 KiB block: the header is damaged`);
    if (pos + CHUNK_HEADER + length > buf.length) return stop(pos, "cut short: the file ends inside a record (the writer stopped, or the copy is incomplete)");
    if (crc32(buf.subarray(pos + 6, pos + CHUNK_HEADER + length)) !== crc) return stop(pos, "CRC-32 mismatch: the bytes changed after they were written");
    const payload = buf.subarray(pos + CHUNK_HEADER, pos + CHUNK_HEADER + length);
    if (type === FULL || type === FIRST) {
      if (parts) return stop(pos, "a record that was begun and never ended");
      if (type === FULL) records.push({ offset: pos, bytes: payload });
      else [parts, partsAt] = [[payload], pos];
    } else if (type === MIDDLE || type === LAST) {
      if (!parts) return stop(pos, "the continuation of a record whose beginning is missing");
      parts.push(payload);
      if (type === LAST) {
        records.push({ offset: partsAt, bytes: Buffer.concat(parts) });
        parts = null;
      }
    } else {
      return stop(pos, `an unknown chunk type ${type}`);
    }
    pos += CHUNK_HEADER + length;
  }
  if (parts) return stop(pos, "cut short: the file ends inside a record (the writer stopped, or the copy is incomplete)");
  return { records, damage: null };
}
