/**
 * Uploads a run's WAL to the server, frame by frame, in order. The WAL is the queue: what waits
 * for the server waits on disk, not in RAM, and a restarted daemon goes on from the offset saved
 * in `<wal>.uploaded`. The server is idempotent by (run, seq), so re-sending after a crash between
 * a POST and saving the offset stores nothing twice.
 */
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import type { Logger } from "pino";
import { API_PREFIX, FRAME_HEADER_BYTES, WAL_FRAMES_CONTENT_TYPE, WAL_MAGIC, scanFrames } from "../protocol/index.js";
import { backoffDelay, isRetryableStatus } from "./backoff.js";
import { post, type PostResult } from "./http-post.js";

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
  backoff?: { baseMs?: number; maxMs?: number };
}

export interface UploadStatus {
  uploadedBytes: number;
  pendingBytes: number;
  /** Set when the server refused the data for good (e.g. 403): it stays on disk for `trackside sync`. */
  fatalError: string | null;
}

export class Uploader {
  private readonly opts: UploaderOptions;
  private readonly offsetPath: string;
  private uploaded: number;
  private walEnd = 0;
  private fd = -1;
  private closed = false;
  private fatalError: string | null = null;
  private wakeUp: (() => void) | null = null;
  private readonly waiters = new Set<() => void>();
  private loop: Promise<void> | null = null;
  private readBuffer: Buffer = Buffer.alloc(0);

  constructor(opts: UploaderOptions) {
    this.opts = opts;
    this.offsetPath = `${opts.walPath}.uploaded`;
    this.uploaded = readOffset(this.offsetPath);
  }

  start(walEnd: number): void {
    this.walEnd = walEnd;
    this.fd = openSync(this.opts.walPath, "r");
    this.loop = this.run();
  }

  /** Tells the uploader that the WAL now ends at `walEnd`. */
  notify(walEnd: number): void {
    this.walEnd = walEnd;
    this.wakeUp?.();
  }

  status(): UploadStatus {
    return { uploadedBytes: this.uploaded, pendingBytes: Math.max(0, this.walEnd - this.uploaded), fatalError: this.fatalError };
  }

  /** Resolves once everything up to the current end is uploaded, or after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<boolean> {
    const target = this.walEnd;
    if (this.uploaded >= target) return true;
    return new Promise<boolean>((resolve) => {
      const done = (): void => {
        if (this.uploaded < target && !this.fatalError && !this.closed) return;
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve(this.uploaded >= target);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(done);
        resolve(this.uploaded >= target);
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
      const { body, end } = this.readBatch();
      const outcome = await this.post(body);
      if (outcome === "ok") {
        attempt = 0;
        this.uploaded = end;
        writeFileSync(this.offsetPath, String(end));
        for (const w of [...this.waiters]) w();
        continue;
      }
      if (outcome === "fatal") break;
      const delay = backoffDelay(attempt++, this.opts.backoff);
      log.warn({ attempt, delay }, "upload failed; retrying");
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        this.wakeUp = () => {
          if (this.closed) {
            clearTimeout(t);
            resolve();
          }
        };
      });
      this.wakeUp = null;
    }
    for (const w of [...this.waiters]) w();
  }

  /**
   * Reads whole frames from the uploaded offset on, up to maxBodyBytes (at least one frame), into
   * one buffer reused for every request: the body is that slice of the WAL as it is on disk, so
   * a burst allocates nothing per request and the server checks each frame's CRC.
   */
  private readBatch(): { body: Buffer; end: number } {
    // 4 MiB bodies: large enough to amortise a request, small enough to keep the daemon's memory
    // flat during a burst (the body is read, concatenated and sent: about three copies at once).
    const maxBody = this.opts.maxBodyBytes ?? 4 * 1024 * 1024;
    const start = Math.max(this.uploaded, WAL_MAGIC.length);
    const header = Buffer.alloc(FRAME_HEADER_BYTES);
    readSync(this.fd, header, 0, FRAME_HEADER_BYTES, start);
    const first = FRAME_HEADER_BYTES + header.readUInt32LE(0);
    const len = Math.min(this.walEnd - start, Math.max(first, maxBody));
    // The buffer grows with the bodies (doubling, up to maxBody) instead of starting at 4 MiB:
    // a shared daemon holds one per open run, and V8 counts each as external memory. Ten short
    // runs at 4 MiB each were 40 MB, which set off full collections ("external memory pressure").
    if (this.readBuffer.length < len) this.readBuffer = Buffer.allocUnsafe(Math.max(len, Math.min(maxBody, 2 * this.readBuffer.length)));
    const buf = this.readBuffer;
    let got = 0;
    while (got < len) {
      const n = readSync(this.fd, buf, got, len - got, start + got);
      if (n === 0) break;
      got += n;
    }
    const scan = scanFrames(buf.subarray(0, got), start);
    return { body: buf.subarray(0, scan.end - start), end: scan.end };
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
    return post(url, headers, body, timeoutMs, caFile);
  }

  private async post(body: Buffer): Promise<"ok" | "retry" | "fatal"> {
    try {
      const res = await this.postToRun("records", body, this.opts.requestTimeoutMs ?? 30_000);
      const text = res.text;
      if (res.status >= 200 && res.status < 300) {
        this.opts.log.debug({ bytes: body.length }, "uploaded");
        return "ok";
      }
      if (isRetryableStatus(res.status)) {
        this.opts.log.warn({ status: res.status, body: text.slice(0, 500) }, "server error");
        return "retry";
      }
      this.fatalError = `the server refused the data (HTTP ${res.status}): ${text.slice(0, 500)}`;
      this.opts.log.error({ status: res.status, body: text.slice(0, 500) }, "upload refused; data kept on disk");
      return "fatal";
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, "server unreachable");
      return "retry";
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

