/**
 * A run's artifact queue in the daemon: the entries its clients wrote to
 * `<runDir>/artifacts/queue/` (artifact-files.ts), carried to the server one at a time, in
 * queued order (artifact-upload.ts), each marked done on disk when the server has it. What waits
 * for the server waits on disk: a successor daemon (the first one died) that opens the run
 * directory again takes every entry not marked done, and goes on with the multipart uploads
 * under way. The client may die the moment its entry is taken: the daemon keeps the run open
 * (RunStream.settled) until the queue is done.
 *
 * An entry waits until the run is on the server (the WAL's first frame made it), then is tried
 * until it is done; the server away or busy costs only delay (backoff.ts). A refusal for good
 * (a 4xx other than 404, 408, 409, 429; a staged file gone) marks the entry done with the error,
 * and the queue goes on. 404 is tried again MAX_NOT_FOUND times in a row: the run or project is
 * made by the WAL's upload, but an artifact the run may not read stays unfound.
 */
import type { Logger } from "pino";
import { errors, isTracksideError, type ArtifactQueueEntry, type ArtifactQueueResult } from "../protocol/index.js";
import { ArtifactFiles } from "./artifact-files.js";
import { uploadEntry, type EntryOutcome } from "./artifact-upload.js";
import { backoffDelay, type BackoffOptions } from "./backoff.js";
import { post as defaultPost } from "./http-post.js";
import { putFileRange, type PutRangeFn } from "./http-put.js";
import type { PostFn, UploadTarget } from "./uploader.js";

/** 404s in a row before an entry is refused for good (about two minutes of backoff). */
export const MAX_NOT_FOUND = 10;

export interface ArtifactQueueOptions {
  runDir: string;
  target: UploadTarget;
  log: Logger;
  /** false (an offline run): entries are taken and counted, nothing is sent (trackside sync does it). */
  upload: boolean;
  /** false (trackside sync): results and upload state are kept in memory, the run directory only read. */
  persist?: boolean;
  /** Whether the run is on the server already; else the queue waits for runExists(). */
  runExists?: boolean;
  post?: PostFn;
  put?: PutRangeFn;
  requestTimeoutMs?: number;
  backoff?: BackoffOptions;
}

export interface ArtifactQueueStatus {
  /** Entries not yet done (of every kind). */
  entries: number;
  /** Of them, the artifact versions and uses (`log` and `use` entries). */
  artifacts: number;
  /** The media files (images) of the `blobs` entries not yet done: what a user who logged only images waits for. */
  mediaFiles: number;
  /** Bytes of their blobs the server does not have yet (as far as known: all of them before the server was asked). */
  bytes: number;
  /** Set when the queue stopped on a local error (the disk): the entries stay for trackside sync. */
  fatalError: string | null;
}

interface Pending {
  entry: string;
  /** Media files the entry carries: its blobs, for a `blobs` entry; null for an artifact's (`log`, `use`). */
  mediaFiles: number | null;
  progress: { remaining: number };
}

export class ArtifactQueue {
  readonly files: ArtifactFiles;
  private readonly opts: ArtifactQueueOptions;
  /** Entries not yet done, in queued order (their names sort by time). */
  private pending: Pending[] = [];
  private readonly waiters = new Map<string, Set<(r: ArtifactQueueResult | null) => void>>();
  private readonly drainers = new Set<() => void>();
  private runKnown: boolean;
  private closed = false;
  private fatalError: string | null = null;
  private wakeUp: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  /** What each entry ended with, in order: trackside sync reports it. */
  readonly results: { entry: string; kind: ArtifactQueueEntry["kind"] | null; name: string | null; result: ArtifactQueueResult }[] = [];

  constructor(opts: ArtifactQueueOptions) {
    this.opts = opts;
    this.files = new ArtifactFiles(opts.runDir, opts.persist ?? true);
    this.runKnown = opts.runExists ?? false;
  }

  /** Takes every entry of the run directory not yet done (a successor daemon, trackside sync), and starts uploading. */
  start(): void {
    for (const { entry, done } of this.files.list()) {
      if (done) continue;
      try {
        this.take(entry, this.files.read(entry));
      } catch (err) {
        // A damaged entry is done with its error, not left to stop the queue behind it.
        this.opts.log.error({ entry, err: (err as Error).message }, "artifact queue entry unreadable; marked done with the error");
        this.finishEntry(entry, null, { version: null, error: errorText(err) });
      }
    }
    if (!this.opts.upload) return;
    this.loop = this.run().catch((err: unknown) => {
      this.fatalError = `the artifact upload stopped on a local error (${(err as Error)?.message ?? String(err)}); the queue is kept: upload it with trackside sync <run-dir>`;
      this.opts.log.error({ err }, "artifact queue failed; entries kept on disk");
      this.notifyDrainers();
    });
  }

  /**
   * Takes an entry the client has written (the `artifact` message). Taking one twice, or one
   * done already, is harmless.
   * @throws TRK_ERR_INVALID_ARTIFACT when it is not a readable entry of this run directory.
   */
  add(entry: string): void {
    if (this.pending.some((p) => p.entry === entry)) return;
    const parsed = this.files.read(entry);
    if (this.files.result(entry)) return;
    this.take(entry, parsed);
    this.wakeUp?.();
  }

  /**
   * Takes the entries in the run directory that no client handed over: a client that exits writes
   * the entry of its last media blobs with no time left to ask (run.ts, spillOnExit). Entries
   * pending or done already are left as they are.
   */
  takeUnclaimed(): void {
    for (const { entry, done } of this.files.list()) {
      if (done || this.pending.some((p) => p.entry === entry)) continue;
      try {
        this.take(entry, this.files.read(entry));
      } catch (err) {
        this.opts.log.error({ entry, err: (err as Error).message }, "artifact queue entry unreadable; marked done with the error");
        this.finishEntry(entry, null, { version: null, error: errorText(err) });
      }
    }
    this.wakeUp?.();
  }

  /**
   * Takes the staged blobs that no entry names into an entry of their own. The client stages an
   * image's bytes at log() and writes the entry naming them just after (one per flush,
   * media-log.ts): a process killed in between (SIGKILL, the OOM killer) leaves bytes whose media
   * record the daemon may hold already, and the run's page would show that image broken. (Blobs
   * of an artifact whose entry was never written go too: bytes no version names, harmless.)
   */
  takeStrayBlobs(): void {
    if (!this.files.persist) return;
    const blobs = this.files.strayBlobs();
    if (blobs.length === 0) return;
    let entry: string;
    try {
      entry = this.files.writeEntry({ kind: "blobs", blobs });
    } catch (err) {
      this.opts.log.error({ blobs: blobs.length, err: (err as Error).message }, "staged blobs no entry names could not be queued; trackside sync cannot upload them either");
      return;
    }
    this.opts.log.warn({ entry, blobs: blobs.length }, "staged blobs that no entry names (the process was killed after staging them): queued");
    this.take(entry, { kind: "blobs", blobs });
    this.wakeUp?.();
  }

  /** The run is on the server: entries may go. */
  runExists(): void {
    if (this.runKnown) return;
    this.runKnown = true;
    this.wakeUp?.();
  }

  /**
   * The entry's result once it is done, or null when it is still pending after `timeoutMs` (or
   * at once, for a queue that uploads nothing).
   * @throws TRK_ERR_INVALID_ARTIFACT for an entry this run's queue does not hold.
   */
  async wait(entry: string, timeoutMs: number): Promise<ArtifactQueueResult | null> {
    const result = this.files.result(entry);
    if (result) return result;
    if (!this.pending.some((p) => p.entry === entry)) {
      throw errors.invalidArtifact(`queue entry ${JSON.stringify(entry)}`, "the run's artifact queue holds no such entry", "Wait on the LoggedArtifact that run.logArtifact returned.");
    }
    if (!this.opts.upload || this.closed || this.fatalError) return null;
    return new Promise((resolve) => {
      const set = this.waiters.get(entry) ?? new Set();
      this.waiters.set(entry, set);
      const done = (r: ArtifactQueueResult | null): void => {
        clearTimeout(timer);
        set.delete(done);
        resolve(r);
      };
      const timer = setTimeout(() => done(null), timeoutMs);
      set.add(done);
    });
  }

  status(): ArtifactQueueStatus {
    let artifacts = 0;
    let mediaFiles = 0;
    let bytes = 0;
    for (const p of this.pending) {
      if (p.mediaFiles === null) artifacts++;
      else mediaFiles += p.mediaFiles;
      bytes += Math.max(0, p.progress.remaining);
    }
    return { entries: this.pending.length, artifacts, mediaFiles, bytes, fatalError: this.fatalError };
  }

  /** No entry waits (or none can go on: the queue stopped on a local error). */
  get idle(): boolean {
    return this.pending.length === 0 || this.fatalError !== null;
  }

  /** Resolves true once every entry taken so far is done, false at the timeout or when the queue stops. */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.pending.length === 0) return true;
    if (!this.opts.upload || this.closed || this.fatalError) return false;
    return new Promise<boolean>((resolve) => {
      const done = (): void => {
        if (this.pending.length > 0 && !this.fatalError && !this.closed) return;
        clearTimeout(timer);
        this.drainers.delete(done);
        resolve(this.pending.length === 0);
      };
      const timer = setTimeout(() => {
        this.drainers.delete(done);
        resolve(this.pending.length === 0);
      }, timeoutMs);
      this.drainers.add(done);
    });
  }

  /** Stops after the request under way; what is left stays on disk for a successor or trackside sync. */
  async close(): Promise<void> {
    this.closed = true;
    this.wakeUp?.();
    await this.loop;
    for (const set of this.waiters.values()) for (const w of [...set]) w(null);
    this.notifyDrainers();
  }

  private take(entry: string, parsed: ArtifactQueueEntry): void {
    // Before the server is asked, every byte of the entry's files counts as pending.
    const sizes = new Map<string, number>();
    if (parsed.kind === "log") for (const f of parsed.manifest.files) sizes.set(f.digest, f.size);
    else if (parsed.kind === "blobs") for (const b of parsed.blobs) sizes.set(b.digest, b.size);
    let remaining = 0;
    for (const s of sizes.values()) remaining += s;
    const at = this.pending.findIndex((p) => p.entry > entry);
    const item = { entry, mediaFiles: parsed.kind === "blobs" ? sizes.size : null, progress: { remaining } };
    if (at < 0) this.pending.push(item);
    else this.pending.splice(at, 0, item);
  }

  private async run(): Promise<void> {
    const log = this.opts.log;
    let attempt = 0;
    let notFound = 0;
    while (!this.closed) {
      const head = this.pending[0];
      if (!head || !this.runKnown) {
        await new Promise<void>((resolve) => (this.wakeUp = resolve));
        this.wakeUp = null;
        continue;
      }
      let entry: ArtifactQueueEntry;
      try {
        entry = this.files.read(head.entry);
      } catch (err) {
        this.finishEntry(head.entry, null, { version: null, error: errorText(err) });
        continue;
      }
      const outcome: EntryOutcome = await uploadEntry(
        {
          target: this.opts.target,
          files: this.files,
          post: this.opts.post ?? defaultPost,
          put: this.opts.put ?? putFileRange,
          log,
          requestTimeoutMs: this.opts.requestTimeoutMs ?? 30_000,
          progress: head.progress,
          stopped: () => this.closed,
        },
        entry,
      );
      if (outcome.kind === "retry" && (!outcome.notFound || ++notFound < MAX_NOT_FOUND)) {
        if (!outcome.notFound) notFound = 0;
        const delay = backoffDelay(attempt++, this.opts.backoff);
        log.warn({ entry: head.entry, attempt, delay, why: outcome.why }, "artifact upload failed; retrying");
        await this.sleep(delay);
        continue;
      }
      attempt = 0;
      notFound = 0;
      const result: ArtifactQueueResult = outcome.kind === "done" ? { version: outcome.version, error: null } : { version: null, error: outcome.why };
      if (result.error) log.error({ entry: head.entry, error: result.error }, "artifact refused; marked done with the error");
      else log.info({ entry: head.entry, version: result.version }, "artifact uploaded");
      this.finishEntry(head.entry, entry, result);
    }
  }

  private finishEntry(entry: string, parsed: ArtifactQueueEntry | null, result: ArtifactQueueResult): void {
    this.files.writeResult(entry, result);
    this.pending = this.pending.filter((p) => p.entry !== entry);
    const name = parsed ? (parsed.kind === "log" ? parsed.manifest.name : parsed.kind === "use" ? parsed.name : "media") : null;
    this.results.push({ entry, kind: parsed?.kind ?? null, name, result });
    for (const w of [...(this.waiters.get(entry) ?? [])]) w(result);
    this.waiters.delete(entry);
    this.notifyDrainers();
  }

  private notifyDrainers(): void {
    for (const d of [...this.drainers]) d();
  }

  /** Waits `ms` (the backoff), or less when the queue is closed meanwhile. */
  private async sleep(ms: number): Promise<void> {
    if (this.closed) return; // closed while the request that failed was under way
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wakeUp = () => {
        if (!this.closed) return;
        clearTimeout(t);
        resolve();
      };
    });
    this.wakeUp = null;
  }
}

/** An error as the `TRK_ERR_*: message` text that results carry (the client rethrows it coded). */
function errorText(err: unknown): string {
  return isTracksideError(err) ? `${err.code}: ${err.message}` : `TRK_ERR_INTERNAL: ${(err as Error)?.message ?? String(err)}`;
}
