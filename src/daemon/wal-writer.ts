/**
 * The run's write-ahead log. A batch is appended with one synchronous write (header + payload) so
 * that when `append()` returns the bytes are in the kernel and the daemon may acknowledge them;
 * an fsync follows within `fsyncIntervalMs` (DESIGN.md: at least every 100 ms) and at close.
 */
import { closeSync, existsSync, fsyncSync, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import { FRAME_HEADER_BYTES, WAL_MAGIC, frameHeader, hasWalMagic, scanFrames } from "../protocol/index.js";

export interface WalWriterOptions {
  fsyncIntervalMs?: number;
  setTimer?: (fn: () => void, ms: number) => NodeJS.Timeout;
}

export class WalWriter {
  readonly path: string;
  private fd: number;
  private size: number;
  private dirty = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly fsyncIntervalMs: number;
  private readonly setTimer: (fn: () => void, ms: number) => NodeJS.Timeout;
  /** The payloads of the last whole frames (up to 64) found when an existing WAL was reopened. */
  readonly lastFramesAtOpen: Buffer[] = [];

  /** Opens (or creates) the WAL; a torn tail left by a crash is cut off, so appends follow the last good frame. */
  constructor(path: string, opts: WalWriterOptions = {}) {
    this.path = path;
    this.fsyncIntervalMs = opts.fsyncIntervalMs ?? 100;
    this.setTimer = opts.setTimer ?? setTimeout;
    if (existsSync(path)) {
      const buf = readFileSync(path);
      if (!hasWalMagic(buf)) throw new Error(`${path} is not a trackside WAL`);
      const scan = scanFrames(buf.subarray(WAL_MAGIC.length), WAL_MAGIC.length);
      this.fd = openSync(path, "r+");
      if (scan.end < buf.length) ftruncateSync(this.fd, scan.end);
      this.size = scan.end;
      this.lastFramesAtOpen = scan.frames.slice(-64).map((f) => Buffer.from(f.payload));
      closeSync(this.fd);
      this.fd = openSync(path, "a");
    } else {
      this.fd = openSync(path, "ax", 0o600);
      writeSync(this.fd, WAL_MAGIC);
      fsyncSync(this.fd);
      this.size = WAL_MAGIC.length;
    }
  }

  /** Bytes in the file, all of them whole frames. */
  get end(): number {
    return this.size;
  }

  /** Appends one frame; returns the offset just past it. */
  append(payload: Uint8Array): number {
    const header = frameHeader(payload);
    // One write for small frames; two for large ones rather than copying megabytes.
    if (payload.byteLength < 64 * 1024) {
      writeAll(this.fd, Buffer.concat([header, payload]));
    } else {
      writeAll(this.fd, header);
      writeAll(this.fd, payload);
    }
    this.size += FRAME_HEADER_BYTES + payload.byteLength;
    this.dirty = true;
    if (!this.timer) {
      this.timer = this.setTimer(() => {
        this.timer = null;
        this.sync();
      }, this.fsyncIntervalMs);
    }
    return this.size;
  }

  /** Forces everything appended so far to stable storage. */
  sync(): void {
    if (this.dirty && this.fd >= 0) {
      fsyncSync(this.fd);
      this.dirty = false;
    }
  }

  close(): void {
    if (this.fd < 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.sync();
    closeSync(this.fd);
    this.fd = -1;
  }
}

function writeAll(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.byteLength) off += writeSync(fd, buf, off, buf.byteLength - off);
}
