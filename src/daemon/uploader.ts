/**
 * Uploads a run's WAL to the server, frame by frame, in order. The WAL is the queue: what waits
 * for the server waits on disk, not in RAM, and a restarted daemon goes on from the offset saved
 * in `<wal>.uploaded`. The server is idempotent by (run, seq), so re-sending after a crash between
 * a POST and saving the offset stores nothing twice.
 *
 * A frame the server refuses for good (backoff.ts, classifyAnswer) is set aside in the run's
 * dead-letter file and the upload goes on after it. A body of several frames is applied whole or
 * not at all, so a refused one is split in halves, and halves again, until the bad frame is
 * alone: the good frames beside it are uploaded, not set aside with it.
 */
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import type { Logger } from "pino";
import { API_PREFIX, FRAME_HEADER_BYTES, WAL_FRAMES_CONTENT_TYPE, WAL_MAGIC, scanFrames, type RefusedSummary, type WalFrame } from "../protocol/index.js";
import { backoffDelay, classifyAnswer, type UploadAnswer } from "./backoff.js";
import { countRecords, kindsOf, type DeadLetter, type Refusal } from "./dead-letter.js";
import { post, type PostResult } from "./http-post.js";

/** The HTTP client's signature (http-post.ts); tests pass their own. */
export type PostFn = (url: string, headers: Record<string, string>, body: Uint8Array | null, timeoutMs: number, caFile?: string) => Promise<PostResult>;

/** Where the uploader reads the WAL's bytes: `readSync` on the file, or (trackside sync) a copy in memory. */
export type ReadAt = (into: Buffer, offset: number, length: number, position: number) => number;

export interface UploadTarget {
  baseUrl: string;
  apiKey: string | null;
  entity: string;
  project: string;
  runId: string;
  /** Extra CA certificates (PEM file) to trust for an https server. */
  caFile?: string;
}

export interface UploaderOptions {
  walPath: string;
  target: UploadTarget;
  log: Logger;
  /** Upper bound of one POST body; a single larger frame is sent alone. */
  maxBodyBytes?: number;
  requestTimeoutMs?: number;
  backoff?: { baseMs?: number; maxMs?: number; random?: () => number };
  /** The HTTP POST (default: http-post.ts). */
  post?: PostFn;
  /** The clock that dates refusals (default: Date.now). */
  now?: () => number;
  /** Reads the WAL's bytes (default: the file at walPath, opened read-only at start()). */
  readAt?: ReadAt;
  /** Where upload progress is saved (default `<wal>.uploaded`); null: kept in memory only. */
  offsetPath?: string | null;
  /** Where refused frames are set aside; null: they are only counted (trackside sync writes nothing). */
  deadLetter?: DeadLetter | null;
  /**
   * Called after a frame was set aside. `report` is false when the frame held nothing but the
   * daemon's own refusal reports (reporting those again would never end). Returns the WAL's new
   * end when it appended a report there, so that drain() waits for the report too.
   */
  onRefused?: (refusal: Refusal, report: boolean) => number | void;
  /** Called with the new uploaded offset after each body the server took (the artifact queue waits for the run's first). */
  onUploaded?: (uploadedBytes: number) => void;
}

export interface UploadStatus {
  uploadedBytes: number;
  pendingBytes: number;
  /** Set when the server refused the data for good (e.g. 403): it stays on disk for `trackside sync`. */
  fatalError: string | null;
  /** What the server refused and was set aside (null when nothing was). */
  refused: RefusedSummary | null;
}

/** A body to POST: whole frames of the WAL, from the uploaded offset to `end`. */
interface Batch {
  body: Buffer;
  end: number;
  frames: WalFrame[];
}

export class Uploader {
  private readonly opts: UploaderOptions;
  private readonly offsetPath: string | null;
  private uploaded: number;
  private walEnd = 0;
  private fd = -1;
  private closed = false;
  private fatalError: string | null = null;
  private wakeUp: (() => void) | null = null;
  private readonly waiters = new Set<() => void>();
  private loop: Promise<void> | null = null;
  private readBuffer: Buffer = Buffer.alloc(0);
  private readonly post: PostFn;
  /** While a refused body is searched for its bad frame: bodies end at `until` at the latest and carry at most `maxFrames`. */
  private narrow: { until: number; maxFrames: number } | null = null;
  /** Refused frames counted when there is no dead-letter file to count them. */
  private counted: RefusedSummary | null = null;
  /** drain() also waits for the refusal reports appended while it waited. */
  private reportsEnd = 0;

  constructor(opts: UploaderOptions) {
    this.opts = opts;
    this.post = opts.post ?? post;
    this.offsetPath = opts.offsetPath === undefined ? `${opts.walPath}.uploaded` : opts.offsetPath;
    this.uploaded = this.offsetPath ? readOffset(this.offsetPath) : WAL_MAGIC.length;
  }

  start(walEnd: number): void {
    this.walEnd = walEnd;
    if (!this.opts.readAt) this.fd = openSync(this.opts.walPath, "r");
    // The loop reads the WAL and writes the offset and dead-letter files: a disk error there
    // (ENOSPC, a run directory removed) stops this run's upload, with everything kept on disk,
    // instead of escaping as an unhandled rejection that would end the shared daemon.
    this.loop = this.run().catch((err: unknown) => {
      this.fatalError = `the upload stopped on a local error (${(err as Error)?.message ?? String(err)}); the data is kept: upload it with trackside sync <run-dir>`;
      this.opts.log.error({ err }, "upload loop failed; data kept on disk");
      for (const w of [...this.waiters]) w();
    });
  }

  /** Tells the uploader that the WAL now ends at `walEnd`. */
  notify(walEnd: number): void {
    this.walEnd = walEnd;
    this.wakeUp?.();
  }

  status(): UploadStatus {
    return {
      uploadedBytes: this.uploaded,
      pendingBytes: Math.max(0, this.walEnd - this.uploaded),
      fatalError: this.fatalError,
      refused: this.opts.deadLetter?.refused() ?? this.counted,
    };
  }

  /**
   * Resolves once everything up to the current end is uploaded, or after `timeoutMs`: true when
   * it all was (refused frames set aside count as done), false on the timeout or a fatal error.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    const end = Math.max(this.walEnd, this.reportsEnd);
    const reached = (): boolean => this.uploaded >= Math.max(end, this.reportsEnd);
    if (this.uploaded >= end) return true;
    return new Promise<boolean>((resolve) => {
      const done = (): void => {
        if (!reached() && !this.fatalError && !this.closed) return;
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve(reached());
      };
      const timer = setTimeout(() => {
        this.waiters.delete(done);
        resolve(reached());
      }, timeoutMs);
      this.waiters.add(done);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wakeUp?.();
    await this.loop;
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    for (const w of [...this.waiters]) w();
  }

  private async run(): Promise<void> {
    const log = this.opts.log;
    let attempt = 0;
    while (!this.closed && !this.fatalError) {
      if (this.uploaded >= this.walEnd) {
        await new Promise<void>((resolve) => (this.wakeUp = resolve));
        this.wakeUp = null;
        continue;
      }
      const batch = this.readBatch();
      if (batch.frames.length === 0) {
        // The daemon writes whole frames before it says where the WAL ends: a frame that does
        // not read back was damaged on disk. `trackside sync` reads past such ranges.
        this.fatalError = `the WAL ${this.opts.walPath} is damaged at byte ${this.uploaded}; upload what can be read with: trackside sync <run-dir>`;
        log.error({ offset: this.uploaded }, "WAL damaged; upload stopped");
        break;
      }
      const answer = await this.send(batch.body);
      if (answer.kind === "retry") {
        const delay = backoffDelay(attempt++, this.opts.backoff);
        log.warn({ attempt, delay, why: answer.why }, "upload failed; retrying");
        await this.sleep(delay);
        continue;
      }
      attempt = 0;
      if (answer.kind === "fatal") {
        this.fatalError = `the server refused the data (HTTP ${answer.status}, ${answer.why})`;
        log.error({ why: answer.why }, "upload refused; data kept on disk");
        break;
      }
      if (answer.kind === "refused" && batch.frames.length > 1) {
        // Applied whole or not at all: send half as many frames until the bad one is alone.
        // The fault is in this body: bodies stay within it, and hold half as many frames, until
        // the fault is alone (then the rest goes in one body again).
        this.narrow = { until: batch.end, maxFrames: Math.ceil(batch.frames.length / 2) };
        log.info({ frames: batch.frames.length, why: answer.why }, "body refused; looking for the frame at fault");
        continue;
      }
      if (answer.kind === "refused") {
        if (!this.setAside(batch.frames[0], answer.why)) break;
        this.narrow = null;
      }
      this.advance(batch.end);
    }
    for (const w of [...this.waiters]) w();
  }

  private advance(end: number): void {
    this.uploaded = end;
    if (this.narrow && end >= this.narrow.until) this.narrow = null;
    if (this.offsetPath) writeFileSync(this.offsetPath, String(end));
    this.opts.onUploaded?.(end);
    for (const w of [...this.waiters]) w();
  }

  /** Waits `ms` (the backoff), or less when the uploader is closed meanwhile. */
  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wakeUp = () => {
        if (this.closed) {
          clearTimeout(t);
          resolve();
        }
      };
    });
    this.wakeUp = null;
  }

  /**
   * Sets one refused frame aside and reports it; false when it must not be: the frame holds the
   * run's own record, without which the server takes nothing of the run, so the upload stops
   * there (fatal) with everything kept, as for a wrong key.
   */
  private setAside(frame: WalFrame, why: string): boolean {
    const kinds = kindsOf(frame.payload);
    if (kinds?.includes("run")) {
      this.fatalError = `the server refused the run's first record (${why})`;
      this.opts.log.error({ why, offset: frame.offset }, "run record refused; upload stopped, data kept on disk");
      return false;
    }
    // The report's `at` is made distinct where reports are written (RunStream.reportTime).
    const at = (this.opts.now ?? Date.now)();
    const own = kinds !== null && kinds.length > 0 && kinds.every((k) => k === "refused");
    const refusal: Refusal = { at, walOffset: frame.offset, bytes: frame.end - frame.offset, records: countRecords(frame.payload), error: why, ...(own ? { own } : {}) };
    const fresh = !(this.opts.deadLetter?.has(frame.offset) ?? false);
    if (this.opts.deadLetter) {
      this.opts.deadLetter.add(this.frameBytes(frame), refusal);
    } else if (!own) {
      const c = this.counted ?? { frames: 0, records: 0, bytes: 0, error: why, file: null };
      this.counted = { ...c, frames: c.frames + 1, records: c.records + refusal.records, bytes: c.bytes + refusal.bytes };
    }
    this.opts.log.warn({ offset: frame.offset, bytes: refusal.bytes, records: refusal.records, why }, "frame refused; set aside, upload goes on");
    const report = fresh && !own;
    const end = this.opts.onRefused?.(refusal, report);
    if (typeof end === "number") this.reportsEnd = Math.max(this.reportsEnd, end);
    return true;
  }

  /** The frame's header and payload as they are in the WAL. */
  private frameBytes(frame: WalFrame): Buffer {
    const out = Buffer.allocUnsafe(frame.end - frame.offset);
    this.readAt(out, 0, out.length, frame.offset);
    return out;
  }

  private readAt(into: Buffer, offset: number, length: number, position: number): number {
    return this.opts.readAt ? this.opts.readAt(into, offset, length, position) : readSync(this.fd, into, offset, length, position);
  }

  /**
   * Reads whole frames from the uploaded offset on, up to maxBodyBytes (at least one frame), into
   * one buffer reused for every request: the body is that slice of the WAL as it is on disk, so
   * a burst allocates nothing per request and the server checks each frame's CRC.
   */
  private readBatch(): Batch {
    // 4 MiB bodies: large enough to amortise a request, small enough to keep the daemon's memory
    // flat during a burst (the body is read, concatenated and sent: about three copies at once).
    const maxBody = this.opts.maxBodyBytes ?? 4 * 1024 * 1024;
    const start = Math.max(this.uploaded, WAL_MAGIC.length);
    const header = Buffer.alloc(FRAME_HEADER_BYTES);
    this.readAt(header, 0, FRAME_HEADER_BYTES, start);
    const first = FRAME_HEADER_BYTES + header.readUInt32LE(0);
    const len = Math.min((this.narrow?.until ?? this.walEnd) - start, Math.max(first, maxBody));
    // The buffer grows with the bodies (doubling, up to maxBody) instead of starting at 4 MiB:
    // a shared daemon holds one per open run, and V8 counts each as external memory. Ten short
    // runs at 4 MiB each were 40 MB, which set off full collections ("external memory pressure").
    if (this.readBuffer.length < len) this.readBuffer = Buffer.allocUnsafe(Math.max(len, Math.min(maxBody, 2 * this.readBuffer.length)));
    const buf = this.readBuffer;
    let got = 0;
    while (got < len) {
      const n = this.readAt(buf, got, len - got, start + got);
      if (n === 0) break;
      got += n;
    }
    const scan = scanFrames(buf.subarray(0, got), start, this.narrow?.maxFrames ?? Infinity);
    return { body: buf.subarray(0, scan.end - start), end: scan.end, frames: scan.frames };
  }

  /** Tells the server that the run is alive (best effort: the next one comes soon). */
  async heartbeat(): Promise<void> {
    try {
      const res = await this.postToRun("heartbeat", null, 10_000);
      if (res.status >= 300) this.opts.log.warn({ status: res.status }, "heartbeat refused");
    } catch (err) {
      this.opts.log.debug({ err: (err as Error).message }, "heartbeat not delivered");
    }
  }

  /** A POST to one of the run's endpoints, with its API key. */
  private postToRun(endpoint: "heartbeat" | "records", body: Buffer | null, timeoutMs: number): Promise<PostResult> {
    const { baseUrl, apiKey, entity, project, runId, caFile } = this.opts.target;
    const url = `${baseUrl}${API_PREFIX}/runs/${encodeURIComponent(entity)}/${encodeURIComponent(project)}/${encodeURIComponent(runId)}/${endpoint}`;
    const headers: Record<string, string> = body ? { "content-type": WAL_FRAMES_CONTENT_TYPE } : {};
    if (apiKey) headers.authorization = `Bearer ${apiKey}`;
    return this.post(url, headers, body, timeoutMs, caFile);
  }

  private async send(body: Buffer): Promise<UploadAnswer> {
    try {
      const res = await this.postToRun("records", body, this.opts.requestTimeoutMs ?? 30_000);
      const answer = classifyAnswer(res.status, res.text);
      if (answer.kind === "ok") this.opts.log.debug({ bytes: body.length }, "uploaded");
      return answer;
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, "server unreachable");
      return { kind: "retry", why: (err as Error).message };
    }
  }
}

function readOffset(path: string): number {
  try {
    const n = Number(readFileSync(path, "utf8").trim());
    return Number.isFinite(n) && n >= WAL_MAGIC.length ? n : WAL_MAGIC.length;
  } catch {
    return WAL_MAGIC.length;
  }
}

