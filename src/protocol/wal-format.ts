/**
 * The WAL's on-disk format, shared by the daemon (writer, uploader) and `trackside sync` (reader).
 *
 *   file  = MAGIC frame*
 *   frame = length:u32le  crc32(payload):u32le  payload
 *
 * The payload is one msgpack-encoded RunRecord[] batch. A reader stops at the first frame that is
 * cut short or fails its CRC: that is where a crash interrupted a write, and nothing after it was
 * ever acknowledged.
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
 * length). Stops at a partial or corrupt frame.
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
    if (crc32(payload) !== crc) {
      stoppedAt = "crc";
      break;
    }
    frames.push({ offset: base + pos, end: base + start + len, payload });
    pos = start + len;
  }
  return { frames, end: base + pos, stoppedAt };
}

export function hasWalMagic(buf: Buffer): boolean {
  return buf.length >= WAL_MAGIC.length && buf.subarray(0, WAL_MAGIC.length).equals(WAL_MAGIC);
}
