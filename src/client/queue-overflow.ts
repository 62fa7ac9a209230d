/**
 * Where a run's batches wait on disk while the daemon does not take them (stopped, stuck, or
 * slower than the training loop), so that the client's memory stays bounded and nothing is
 * dropped: the run directory's spill file, `spill-<pid>.wal`, in the WAL's format. It is the same
 * file that the exit paths write: if the process dies before the daemon comes back, the daemon
 * takes in whatever is there when it sees the process gone, as it does after an exit spill
 * (records it already holds are skipped by their sequence numbers).
 *
 * Appends are not fsynced: the file guards against the daemon's absence, not the machine's;
 * the exit spill (RecordQueue.spill) rewrites and fsyncs it.
 */
import { closeSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { FRAME_HEADER_BYTES, WAL_MAGIC, frameHeader } from "../protocol/index.js";

export class OverflowFile {
  private fd: number | null = null;
  private size = 0;

  constructor(readonly path: string) {}

  /** Appends one encoded batch as a frame; returns the offset of its payload. */
  append(payload: Buffer): number {
    if (this.fd === null) {
      // Truncated: a file of this pid in this run directory can only be an earlier overflow of ours.
      this.fd = openSync(this.path, "w+", 0o600);
      writeSync(this.fd, WAL_MAGIC);
      this.size = WAL_MAGIC.length;
    }
    writeSync(this.fd, frameHeader(payload), 0, FRAME_HEADER_BYTES, this.size);
    writeSync(this.fd, payload, 0, payload.length, this.size + FRAME_HEADER_BYTES);
    const at = this.size + FRAME_HEADER_BYTES;
    this.size = at + payload.length;
    return at;
  }

  /** The payload of `bytes` bytes appended at `at`. */
  read(at: number, bytes: number): Buffer {
    if (this.fd === null) throw new Error(`${this.path} is not open`);
    const buf = Buffer.allocUnsafe(bytes);
    let done = 0;
    while (done < bytes) {
      const n = readSync(this.fd, buf, done, bytes - done, at + done);
      if (n === 0) throw new Error(`${this.path} ends at ${at + done}, before the batch it holds`);
      done += n;
    }
    return buf;
  }

  /** Closes the file, leaving it where it is (the exit spill has replaced it). */
  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    this.size = 0;
  }

  /** Closes and removes the file: every batch in it was acknowledged (or is held in memory again). */
  clear(): void {
    if (this.fd === null) return;
    this.close();
    rmSync(this.path, { force: true });
  }
}
