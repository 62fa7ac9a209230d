/**
 * The WAL's on-disk format, shared by the daemon (writer, uploader) and `trackside sync` (reader).
 *
 *   file  = MAGIC frame*
 *   frame = length:u32le  crc32(payload):u32le  payload
 *
 * The payload is one msgpack-encoded RunRecord[] batch. The daemon's reader (`scanFrames`) stops
 * at the first frame that is cut short or fails its CRC: that is where a crash interrupted a
 * write, and nothing after it was ever acknowledged. `trackside sync` reads files that may have
 * been damaged since (a flipped bit on disk, a bad copy) with `scanAllFrames`, which finds the
 * next whole frame after a bad range and goes on, naming every range it could not read.
 */
import { createRequire } from "node:module";

// node:zlib is loaded at the first frame, not at import: a client writes frames only in its rare
// exit spill, and loading zlib cost ~2 ms of every client start.
let zlibCrc32: ((data: Uint8Array) => number) | null = null;
function crc32(data: Uint8Array): number {
  zlibCrc32 ??= (createRequire(import.meta.url)("node:zlib") as typeof import("node:zlib")).crc32;
  return zlibCrc32(data);
}

export const WAL_MAGIC = Buffer.from("TRKWAL1\n", "latin1");
export const FRAME_HEADER_BYTES = 8;

export function frameHeader(payload: Uint8Array): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32LE(payload.byteLength, 0);
  header.writeUInt32LE(crc32(payload), 4);
  return header;
}

export interface WalFrame {
  /** Byte offset of the frame's header in the file. */
  offset: number;
  /** Byte offset just past the frame. */
  end: number;
  payload: Buffer;
}

export interface FrameScan {
  frames: WalFrame[];
  /** Offset just past the last good frame. */
  end: number;
  /** Why the scan stopped before the end of `buf`, if it did: "truncated" or "crc". */
  stoppedAt: "truncated" | "crc" | null;
}

/**
 * Reads the frames of `buf`, which holds the file's bytes from `base` on (`base` >= MAGIC's
 * length). Stops at a partial or corrupt (or empty) frame.
 */
export function scanFrames(buf: Buffer, base: number, maxFrames = Infinity): FrameScan {
  const frames: WalFrame[] = [];
  let pos = 0;
  let stoppedAt: FrameScan["stoppedAt"] = null;
  while (pos < buf.length && frames.length < maxFrames) {
    if (buf.length - pos < FRAME_HEADER_BYTES) {
      stoppedAt = "truncated";
      break;
    }
    const len = buf.readUInt32LE(pos);
    const crc = buf.readUInt32LE(pos + 4);
    const start = pos + FRAME_HEADER_BYTES;
    if (buf.length - start < len) {
      stoppedAt = "truncated";
      break;
    }
    const payload = buf.subarray(start, start + len);
    // No writer makes an empty frame (a batch is at least a msgpack array); eight zero bytes,
    // which a file system may leave after a crash, would pass the CRC test as one.
    if (len === 0 || crc32(payload) !== crc) {
      stoppedAt = "crc";
      break;
    }
    frames.push({ offset: base + pos, end: base + start + len, payload });
    pos = start + len;
  }
  return { frames, end: base + pos, stoppedAt };
}

/** A range of a file that holds no readable frame. */
export interface BadRange {
  /** Byte offset in the file where the range starts. */
  offset: number;
  bytes: number;
  /**
   * "crc": a frame whose CRC-32 does not match its bytes; "truncated": a frame cut short by the
   * end of the file; "length": a frame whose length runs past the end of the file, with whole
   * frames after it (its header was damaged).
   */
  why: "crc" | "truncated" | "length";
}

export interface FullScan {
  frames: WalFrame[];
  /** Every range between (or after) the frames that could not be read, in file order. */
  bad: BadRange[];
}

/**
 * Reads every whole frame of `buf` (the file's bytes from `base` on), resynchronising after a
 * bad range: from the byte after a frame that fails, it looks for the next offset where a frame
 * header, a payload that starts as a msgpack array (every batch does) and a matching CRC-32 line
 * up. A false match needs a CRC-32 collision (one in 2^32 per candidate), and the cheap tests come
 * first, so a damaged file of megabytes is scanned in milliseconds.
 *
 * @example
 * const { frames, bad } = scanAllFrames(buf.subarray(WAL_MAGIC.length), WAL_MAGIC.length);
 * for (const r of bad) console.log(`bytes ${r.offset}..${r.offset + r.bytes}: ${r.why}`);
 */
export function scanAllFrames(buf: Buffer, base: number): FullScan {
  const frames: WalFrame[] = [];
  const bad: BadRange[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const scan = scanFrames(buf.subarray(pos), base + pos);
    frames.push(...scan.frames);
    pos = scan.end - base;
    if (scan.stoppedAt === null) break;
    const next = nextFrameAt(buf, pos + 1);
    // A frame that runs past the end of the file is cut short when nothing readable follows it;
    // with whole frames after it, its length field is what was damaged.
    const why = scan.stoppedAt === "crc" ? "crc" : next === buf.length ? "truncated" : "length";
    bad.push({ offset: base + pos, bytes: next - pos, why });
    pos = next;
  }
  return { frames, bad };
}

/** True for the first byte of a msgpack array (fixarray, array 16, array 32). */
const isArrayStart = (b: number): boolean => (b >= 0x90 && b <= 0x9f) || b === 0xdc || b === 0xdd;

/** The first offset from `from` on where a whole, valid frame starts; `buf.length` if none does. */
function nextFrameAt(buf: Buffer, from: number): number {
  for (let p = from; p + FRAME_HEADER_BYTES < buf.length; p++) {
    const len = buf.readUInt32LE(p);
    const start = p + FRAME_HEADER_BYTES;
    if (len === 0 || len > buf.length - start || !isArrayStart(buf[start])) continue;
    if (crc32(buf.subarray(start, start + len)) === buf.readUInt32LE(p + 4)) return p;
  }
  return buf.length;
}

export function hasWalMagic(buf: Buffer): boolean {
  return buf.length >= WAL_MAGIC.length && buf.subarray(0, WAL_MAGIC.length).equals(WAL_MAGIC);
}
