/**
 * The run's write-ahead log. A batch is appended with one synchronous write (header + payload) so
 * that when `append()` returns the bytes are in the kernel and the daemon may acknowledge them;
 * an fsync follows within `fsyncIntervalMs` (DESIGN.md: at least every 100 ms) and at close.
 *
 * The periodic fsync runs on libuv's thread pool, not on the daemon's event loop: measured, a
 * synchronous one blocked the loop for a third of the time during a burst (tens of ms per
 * fsync of a few MB), and every client of a shared daemon waited with it. A run's finish waits
 * for `syncInPool()`, also on the thread pool. `sync()` and `close()` stay synchronous: when they
 * return, everything appended is on stable storage.
 */
import { close as closeAsync, closeSync, existsSync, fsync, fsyncSync, ftruncateSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { FRAME_HEADER_BYTES, WAL_MAGIC, frameHeader, hasWalMagic, scanFrames } from "../protocol/index.js";

export interface WalWriterOptions {
  fsyncIntervalMs?: number;
  setTimer?: (fn: () => void, ms: number) => NodeJS.Timeout;
  /**
   * For a WAL that exists already: called with its whole frames' payloads, newest first, until it
   * returns true (what a daemon that takes a run over needs to know of it: its last records).
   */
  scanBack?: (payload: Uint8Array) => boolean;
}

export class WalWriter {
  readonly path: string;
  private fd: number;
  private size: number;
  private dirty = false;
  /** A background fsync is running on the thread pool; the fd must stay open until it is done. */
  private syncing = false;
  private syncAgain = false;
  private closeWhenSynced = false;
  /** Callers of syncInPool() waiting for the background fsync under way. */
  private readonly syncWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly fsyncIntervalMs: number;
  private readonly setTimer: (fn: () => void, ms: number) => NodeJS.Timeout;

  /** Opens (or creates) the WAL; a torn tail left by a crash is cut off, so appends follow the last good frame. */
  constructor(path: string, opts: WalWriterOptions = {}) {
    this.path = path;
    this.fsyncIntervalMs = opts.fsyncIntervalMs ?? 100;
    this.setTimer = opts.setTimer ?? setTimeout;
    const found = existsSync(path) ? readFileSync(path) : null;
    // No more than a header's length, and a prefix of it or zeros (a file system may keep the
    // length without the bytes): a WAL created just before a crash, its header never on disk. What
    // a frame after it held is lost with it, as a frame not yet fsynced is (DESIGN: within 100 ms).
    const headerLost = found !== null && found.length <= WAL_MAGIC.length && (WAL_MAGIC.subarray(0, found.length).equals(found) || found.every((b) => b === 0));
    if (headerLost) rmSync(path);
    if (found && !headerLost) {
      if (!hasWalMagic(found)) throw new Error(`${path} is not a trackside WAL`);
      const scan = scanFrames(found.subarray(WAL_MAGIC.length), WAL_MAGIC.length);
      this.fd = openSync(path, "r+");
      if (scan.end < found.length) ftruncateSync(this.fd, scan.end);
      this.size = scan.end;
      // Back through every frame, not a fixed few: the daemon's own records (a sample every 10 s)
      // can fill the tail of a run that logged nothing for a while (64 frames were ~11 minutes).
      if (opts.scanBack) for (let f = scan.frames.length - 1; f >= 0 && !opts.scanBack(scan.frames[f].payload); f--);
      closeSync(this.fd);
      this.fd = openSync(path, "a");
    } else {
      this.fd = openSync(path, "ax", 0o600);
      writeSync(this.fd, WAL_MAGIC);
      this.size = WAL_MAGIC.length;
      // Synced on the thread pool, not here: a synchronous fsync per opened run held the shared
      // daemon's event loop, and every client of it, for as long as the disk took.
      this.dirty = true;
      this.syncInBackground();
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
        this.syncInBackground();
      }, this.fsyncIntervalMs);
    }
    return this.size;
  }

  /**
   * Resolves once everything appended so far is on stable storage, like sync(), but the fsync
   * runs on the thread pool: the event loop, and every other run of the daemon, goes on meanwhile.
   */
  async syncInPool(): Promise<void> {
    for (;;) {
      if (this.syncing) await new Promise<void>((resolve, reject) => this.syncWaiters.push({ resolve, reject }));
      else if (this.dirty && this.fd >= 0) this.syncInBackground();
      else return;
    }
  }

  /** Forces everything appended so far to stable storage. */
  sync(): void {
    if (this.dirty && this.fd >= 0) {
      this.dirty = false;
      fsyncSync(this.fd);
    }
  }

  private syncInBackground(): void {
    if (!this.dirty || this.fd < 0) return;
    if (this.syncing) {
      this.syncAgain = true; // what was appended meanwhile gets the next one, right after
      return;
    }
    this.dirty = false;
    this.syncing = true;
    const fd = this.fd;
    fsync(fd, (err) => {
      this.syncing = false;
      if (err) this.dirty = true; // tried again by the next sync, at the latest at close
      for (const w of this.syncWaiters.splice(0)) {
        if (err) w.reject(err);
        else w.resolve();
      }
      if (this.closeWhenSynced) return closeAsync(fd, () => {});
      if (this.syncAgain) {
        this.syncAgain = false;
        this.syncInBackground();
      }
    });
  }

  close(): void {
    if (this.fd < 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const fd = this.fd;
    // Synchronously durable, whatever a background fsync has or has not covered yet.
    if (this.dirty || this.syncing) fsyncSync(fd);
    this.dirty = false;
    this.fd = -1;
    // A background fsync still holds the fd: close it when that one is done.
    if (this.syncing) this.closeWhenSynced = true;
    else closeSync(fd);
  }
}

function writeAll(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.byteLength) off += writeSync(fd, buf, off, buf.byteLength - off);
}
