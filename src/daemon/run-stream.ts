/**
 * One run inside the daemon: handler -> WAL -> uploader. Record batches arrive already encoded;
 * the stream writes them to the WAL, acknowledges them, and lets the uploader carry them to the
 * server. When the run's process dies without a finish, the stream takes in the spill file the
 * client left behind, or, when there is none, ends the run as crashed.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import pino, { type Logger } from "pino";
import {
  FINAL_STATES,
  MAX_SEQ,
  MAX_STRING_VALUE,
  MAX_TIME_MS,
  WAL_MAGIC,
  decode,
  decodeUntrusted,
  encodeRecords,
  errors,
  frameHeader,
  hasWalMagic,
  isTracksideError,
  lastClientSeq,
  scanFrames,
  type BatchRefusal,
  type RefusedSummary,
  type RunOpenSettings,
  type RunRecord,
  type RunState,
} from "../protocol/index.js";
import { ArtifactQueue } from "./artifact-queue.js";
import { DeadLetter, NOT_IN_WAL, countRecords, type Refusal } from "./dead-letter.js";
import { checkBatch, lastStepOf } from "./batch-check.js";
import type { SystemMonitor } from "./system-monitor.js";
import { Uploader } from "./uploader.js";
import { WalWriter } from "./wal-writer.js";

/** A quarter of the server's default heartbeat timeout: three may be lost before a false crash. */
const HEARTBEAT_MS = 30_000;

const PROBE_TIMEOUT_MS = 20_000;
const PROBE_DELAY_MS = 200;
const PROBE_ALIGN_MS = 250;

export interface FinishOutcome {
  synced: boolean;
  pendingRecords: number;
  /** The WAL's bytes and the artifact bytes the server does not have yet. */
  pendingBytes: number;
  /** Artifact versions and uses not yet done (the artifact queue's `log` and `use` entries). */
  pendingArtifacts: number;
  /** Media files (images) not yet on the server (the artifact queue's `blobs` entries). */
  pendingMedia: number;
  error: string | null;
  /** What the daemon (at its door) or the server refused for good, set aside in the dead-letter file. */
  refused: RefusedSummary | null;
}

/** Where an earlier stream of the same run stopped (a resume while it still uploads): the new one goes on after it. */
export interface CarriedSequence {
  lastSeq: number;
  lastStep: number;
}

export class RunStream {
  readonly runId: string;
  /** `entity/project/id` */
  readonly path: string;
  readonly settings: RunOpenSettings;
  /**
   * The connections (ROUTER identity, hex) that may write to, finish or ask about this run, each
   * with the pid its hello gave: the one that opened it, and those that presented its secret
   * since (the same client after a reconnect). The daemon checks every request against it.
   */
  readonly owners = new Map<string, number>();
  /** The lowest sequence number this stream takes from its client (above an earlier stream's last). */
  readonly firstSeq: number;
  /** The highest `_step` written, or -1: a process resuming the run continues after it. */
  lastStep = -1;
  readonly log: Logger;
  /** The run's own log (logs/daemon.log in its directory); -1 once the stream is closed. */
  private logFd: number;
  /** Every record up to this sequence number is in the WAL. */
  lastSeq: number;
  /** The run has its final state in the WAL (an exit record went through, or it was marked crashed). */
  ended = false;
  private closed = false;
  /** The log has said that the run waits for its artifacts (once). */
  private waitingSaid = false;
  /** The metadata probe has delivered (or failed): a short run must not end before it does. */
  private probed = false;
  /** The client has had its answer to finish(): no request for this run comes any more. */
  finishAnswered = false;
  private readonly wal: WalWriter;
  private readonly uploader: Uploader | null;
  /** The run's artifact uploads (artifact-queue.ts); an offline run's only counts its entries. */
  readonly artifacts: ArtifactQueue;
  /** Where refused batches and frames go: the daemon's (refuse) and the uploader's alike. */
  private readonly deadLetter: DeadLetter;
  /** The last refusal report's time: the server keys reports by it, so each gets its own. */
  private lastReportAt = 0;
  /** (end offset, last seq) of each frame not yet uploaded, to count records still pending. */
  private frames: Array<{ end: number; records: number }> = [];
  private heartbeat: NodeJS.Timeout | null = null;
  private monitor: SystemMonitor | null = null;
  /** The daemon's own records that came before the client's first one. */
  private heldBack: RunRecord[] = [];

  constructor(settings: RunOpenSettings, daemonLog: Logger, carried?: CarriedSequence) {
    this.settings = settings;
    this.runId = settings.run.id;
    this.path = `${settings.run.entity}/${settings.run.project}/${settings.run.id}`;
    mkdirSync(join(settings.runDir, "logs"), { recursive: true });
    mkdirSync(join(settings.runDir, "files"), { recursive: true });
    // Plain synchronous appends: a run logs a few milestones, and closing a sonic-boom
    // destination fsynced the file, ~1 ms of the shared daemon's event loop per run for a
    // diagnostic log.
    this.logFd = openSync(join(settings.runDir, "logs", "daemon.log"), "a", 0o600);
    this.log = pino({ base: { runId: this.runId, component: "run-stream" } }, { write: (line: string) => this.writeLogLine(line) });
    const found = { seq: 0, step: -1 };
    this.wal = new WalWriter(join(settings.runDir, `run-${this.runId}.wal`), { scanBack: (payload) => lastOf(payload, found) });
    // A WAL that exists already belongs to a run this daemon takes over (its predecessor died):
    // go on after its last record, whatever the client believes. An earlier stream of the run in
    // this daemon (`carried`, another process's, still uploading) is gone on from the same way.
    // Batches refused at the door took sequence numbers that the WAL does not show.
    this.deadLetter = new DeadLetter(settings.runDir);
    this.lastSeq = Math.max(settings.firstSeq - 1, found.seq, this.deadLetter.lastSeq(), carried?.lastSeq ?? 0);
    this.lastStep = Math.max(found.step, carried?.lastStep ?? -1);
    this.firstSeq = Math.max(settings.firstSeq, (carried?.lastSeq ?? 0) + 1);
    const target = { baseUrl: settings.baseUrl, apiKey: settings.apiKey, entity: settings.run.entity, project: settings.run.project, runId: this.runId, caFile: settings.caFile };
    this.uploader =
      settings.mode === "online"
        ? new Uploader({
            walPath: this.wal.path,
            target,
            log: this.log.child({ component: "uploader" }),
            deadLetter: this.deadLetter,
            onRefused: (refusal, report) => this.reportRefusal(refusal, report),
            // The run is on the server once its first frame (the run record) is.
            onUploaded: () => this.artifacts.runExists(),
          })
        : null;
    // Artifacts go once the run is on the server: at once for a run whose WAL a predecessor
    // daemon began to upload.
    const runExists = (this.uploader?.status().uploadedBytes ?? 0) > WAL_MAGIC.length;
    this.artifacts = new ArtifactQueue({ runDir: settings.runDir, target, log: this.log.child({ component: "artifacts" }), upload: settings.mode === "online", runExists });
    daemonLog.info({ runId: this.runId, runDir: settings.runDir, mode: settings.mode }, "run opened");
  }

  start(): void {
    this.uploader?.start(this.wal.end);
    // Entries a predecessor daemon left (it died), or a client queued before the daemon took the run.
    this.artifacts.start();
    void this.startProbes()
      .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, "metadata or system probe failed"))
      .finally(() => (this.probed = true));
    if (this.uploader) {
      // The server marks a run crashed after its heartbeat timeout (default 120 s) without word.
      this.heartbeat = setInterval(() => {
        if (!this.ended) void this.uploader?.heartbeat();
      }, HEARTBEAT_MS);
    }
    this.log.info({ pid: this.settings.pid, mode: this.settings.mode }, "stream started");
  }

  /**
   * Checks a client batch's `first..last` against the run's sequence: true for a resend of what
   * the WAL holds already (acknowledged again, not written); throws TRK_ERR_BAD_SEQUENCE for
   * numbers that are not safe integers, run backwards, start before this stream's first, or
   * leave a gap. (A batch that overlaps the WAL's end is a resend that goes on: it is written
   * whole, and the server, keyed by seq, stores its old part once.)
   */
  isResend(first: number, last: number, payloadBytes: number): boolean {
    const bad = (why: string) => errors.badSequence(this.path, why);
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last)) throw bad(`first ${first} and last ${last} are not both safe integers`);
    if (first > last) throw bad(`first ${first} is above last ${last}`);
    if (last > MAX_SEQ) throw bad(`last ${last} is above ${MAX_SEQ}, the highest a record may take`);
    // Every record takes a byte of the payload at the least: a batch cannot claim more numbers
    // than it has bytes. (Refused for its content, a batch still moves the run on to its `last`:
    // a claim of 2^52 in a few bytes would otherwise use the run's sequence up.)
    if (last - first + 1 > payloadBytes) throw bad(`first..last claims ${last - first + 1} records for a batch of ${payloadBytes} bytes`);
    if (first < this.firstSeq) throw bad(`first ${first} is below ${this.firstSeq}, where this run's records start in this daemon`);
    if (last <= this.lastSeq) return true;
    if (first > this.lastSeq + 1) throw bad(`first ${first} leaves a gap after ${this.lastSeq}, the run's last record`);
    return false;
  }

  /** A client batch, checked (batch-check.ts) against this run and `first..last`; what it tells. */
  check(payload: Uint8Array, first: number, last: number): { hasExit: boolean } {
    const checked = checkBatch(payload, this.settings.run, first, last);
    this.lastStep = Math.max(this.lastStep, checked.lastStep);
    return checked;
  }

  /** Writes one encoded batch (records first..last) to the WAL; returns the seq to acknowledge. */
  append(payload: Uint8Array, first: number, last: number, hasExit = false): number {
    if (last <= this.lastSeq) return this.lastSeq; // a resend of what the WAL already holds
    const end = this.wal.append(payload);
    this.frames.push({ end, records: last - Math.max(first, this.lastSeq + 1) + 1 });
    this.lastSeq = last;
    if (this.heldBack.length > 0) for (const r of this.heldBack.splice(0)) this.appendOwn(r);
    if (hasExit) this.end();
    this.uploader?.notify(end);
    return last;
  }

  /**
   * A batch of this run's own client whose numbers continue the run (isResend passed) but whose
   * content the checks refused (`why`): it is set aside in the run's dead-letter file, as the
   * uploader sets aside what the server refuses, a `refused` record in the WAL tells the server
   * (and the run's page), and the run's sequence goes on after `last`, so that the client's later
   * batches are taken. Before, such a batch stayed unacknowledged in the client, the gap check
   * refused every batch after it, and the run lost everything from there on.
   *
   * When the batch held the run's exit record (`exitClaimed`: the client's header says so, or one
   * is found in it), the run must still end: it ends with that record's state, exit code and
   * signal where the record can be read (the client said how it ended; something else in the
   * batch was refused), else as crashed, as if its process had gone without a word (processGone),
   * with an error text that says why. The daemon writes that exit record itself, with seq `last`.
   *
   * `first`/`last` null: a spill frame whose numbers cannot be read; it is set aside all the same
   * (never lost), and the sequence stays where it was.
   */
  refuse(payload: Uint8Array, first: number | null, last: number | null, why: unknown, exitClaimed = false): BatchRefusal {
    const error = refusalText(why);
    const seqs = first !== null && last !== null ? { first, last } : null;
    const records = seqs ? seqs.last - seqs.first + 1 : countRecords(payload);
    const frame = Buffer.concat([frameHeader(payload), payload]);
    const at = this.reportTime(Date.now());
    this.deadLetter.add(frame, { at, walOffset: NOT_IN_WAL, bytes: frame.length, records, error, ...(seqs ?? {}) });
    this.log.warn({ ...(seqs ?? {}), records, bytes: frame.length, error }, "batch refused; set aside in the dead-letter file, the run goes on");
    if (seqs && seqs.last > this.lastSeq) this.lastSeq = seqs.last;
    if (this.lastSeq >= this.firstSeq && this.heldBack.length > 0) for (const r of this.heldBack.splice(0)) this.appendOwn(r);
    this.appendOwn({ k: "refused", seq: 0, at, records, bytes: frame.length, error });
    const exit = exitRecordIn(payload);
    if ((exitClaimed || exit !== undefined) && !this.ended) {
      const seq = seqs ? seqs.last : this.lastSeq + 1;
      const record: RunRecord = exit
        ? { ...exit, seq, error: cut(exit.error === null ? `the batch that held the run's end was refused (${error})` : `${exit.error}\n(the batch that held the run's end was refused: ${error})`) }
        : { k: "exit", seq, state: "crashed", exitCode: null, signal: null, error: cut(`the batch that held the run's end was refused (${error})`), finishedAt: Date.now() };
      this.lastSeq = Math.max(this.lastSeq, seq);
      this.writeOwnFrame(encodeRecords([record]), 1);
      this.end();
      this.log.warn({ state: record.state }, "the batch with the run's exit record was refused; run ended by the daemon");
    }
    return { records, error };
  }

  /**
   * The metadata probe and the system monitor, loaded here, after the daemon is up, not at its
   * start (systeminformation and pidusage load at the first sample: system-monitor.ts).
   */
  private async startProbes(): Promise<void> {
    const s = this.settings;
    // Let the client's init() and first batches through first: the probe spawns git and
    // nvidia-smi, which compete for the CPU on a small machine (measured: warm init() 5 -> 25 ms).
    // Then wait for the next multiple of PROBE_ALIGN_MS, so that runs opened together (a sweep,
    // the ranks of one job) probe at the same moment and share one git and one nvidia-smi call
    // (metadata-probe.ts). A run whose tick comes while a slow git call of an earlier tick still
    // runs shares that one.
    const at = Date.now() + PROBE_DELAY_MS;
    await new Promise((resolve) => setTimeout(resolve, PROBE_DELAY_MS + ((PROBE_ALIGN_MS - (at % PROBE_ALIGN_MS)) % PROBE_ALIGN_MS)));
    if (s.statsIntervalS > 0) {
      const { SystemMonitor } = await import("./system-monitor.js");
      if (!this.ended && !this.closed) {
        this.monitor = new SystemMonitor(s.pid, s.run.program.cwd, s.statsIntervalS * 1000, (at, values) => this.appendOwn({ k: "system", seq: 0, at, values }), this.log.child({ component: "system-monitor" }));
        this.monitor.start();
      }
    }
    const { probeMetadata } = await import("./metadata-probe.js");
    // Each part of the probe has its own timeout; this bounds the whole, so that a run never
    // waits on it for long (a spawned daemon leaves only once it has delivered).
    const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), PROBE_TIMEOUT_MS).unref());
    const metadata = await Promise.race([probeMetadata(s.run.program, s.env ?? {}), timeout]);
    if (metadata) this.appendOwn({ k: "meta", seq: 0, metadata });
    else this.log.warn({ timeoutMs: PROBE_TIMEOUT_MS }, "metadata probe timed out");
  }

  /** A record the daemon makes itself (metadata, system samples): outside the client's sequence. */
  private appendOwn(record: RunRecord): void {
    if (this.closed) return;
    // The server learns of a run from the client's first record (the run record): nothing of
    // the daemon's may reach the WAL before it, or its upload would name an unknown run.
    if (this.lastSeq < this.firstSeq) {
      this.heldBack.push(record);
      return;
    }
    this.writeOwnFrame(encodeRecords([record]), 1);
  }

  private writeOwnFrame(payload: Uint8Array, records: number): void {
    const end = this.wal.append(payload);
    this.frames.push({ end, records });
    this.uploader?.notify(end);
  }

  /** A time for a refusal report, after every earlier report of this stream (the server keys them by it). */
  private reportTime(at: number): number {
    this.lastReportAt = Math.max(at, this.lastReportAt + 1);
    return this.lastReportAt;
  }

  private end(): void {
    this.ended = true;
    this.monitor?.close();
    this.monitor = null;
  }

  /**
   * The server refused a frame, which is now in the dead-letter file: a `refused` record in the
   * WAL tells the server (and the run's page) how many records and why. Returns the WAL's end, so
   * that finish() waits for this report as well.
   */
  private reportRefusal(refusal: Refusal, report: boolean): number | void {
    if (!report || this.closed) return;
    this.appendOwn({ k: "refused", seq: 0, at: this.reportTime(refusal.at), records: refusal.records, bytes: refusal.bytes, error: refusal.error });
    return this.wal.end;
  }

  /**
   * Syncs the WAL and waits up to timeoutMs for the upload, the WAL's and then the artifacts'
   * (a version names the run, which the WAL makes); what is left keeps uploading.
   */
  async finish(timeoutMs: number): Promise<FinishOutcome> {
    const deadline = Date.now() + timeoutMs;
    await this.wal.syncInPool();
    let synced = this.uploader ? await this.uploader.drain(timeoutMs) : false;
    if (synced) synced = await this.artifacts.drain(Math.max(0, deadline - Date.now()));
    return this.pending(synced);
  }

  pending(synced: boolean): FinishOutcome {
    const status = this.uploader?.status();
    const uploaded = status?.uploadedBytes ?? 0;
    if (this.uploader) this.frames = this.frames.filter((f) => f.end > uploaded);
    const artifacts = this.artifacts.status();
    return {
      synced,
      pendingRecords: this.frames.reduce((n, f) => n + f.records, 0),
      pendingBytes: (status ? status.pendingBytes : this.wal.end) + artifacts.bytes,
      pendingArtifacts: artifacts.artifacts,
      pendingMedia: artifacts.mediaFiles,
      error: status?.fatalError ?? artifacts.fatalError,
      refused: this.deadLetter.refused(),
    };
  }

  /**
   * True once the run has ended and the server holds all of it, its artifacts too (or it is
   * offline). Until then the daemon keeps the stream, whether or not its client lives: a process
   * killed right after logArtifact() still gets its artifact uploaded. An upload stopped for good
   * (the WAL's fatal error: the run will never be on the server) settles it, as for the records.
   */
  get settled(): boolean {
    if (!this.ended || !this.probed) return false;
    if (!this.uploader) return true;
    const s = this.uploader.status();
    if (s.fatalError !== null) return true;
    if (s.pendingBytes > 0) return false;
    if (this.artifacts.idle) return true;
    if (!this.waitingSaid) {
      this.waitingSaid = true;
      this.log.info({ pendingEntries: this.artifacts.status().entries }, "run ended and uploaded; kept open for its artifact queue (artifacts and media files)");
    }
    return false;
  }

  /** Takes an artifact queue entry the client wrote (the `artifact` message). */
  artifact(entry: string): void {
    this.artifacts.add(entry);
  }

  /**
   * The run's process is gone. Takes in its spill file (records it wrote at exit that the daemon
   * had not acknowledged) and, unless they carry the run's final state, ends the run as crashed.
   */
  processGone(): RunState | null {
    if (this.ended) return null;
    const spill = join(this.settings.runDir, `spill-${this.settings.pid}.wal`);
    if (existsSync(spill)) this.takeSpill(spill);
    // Media blobs of its last log() calls, whose queue entry it wrote at exit without handing it over;
    // then those it was killed before naming in any entry.
    this.artifacts.takeUnclaimed();
    this.artifacts.takeStrayBlobs();
    if (!this.ended) {
      const exit: RunRecord = {
        k: "exit",
        seq: this.lastSeq + 1,
        state: "crashed",
        exitCode: null,
        signal: null,
        error: `the process (pid ${this.settings.pid}) ended without finishing the run`,
        finishedAt: Date.now(),
      };
      this.append(encodeRecords([exit]), exit.seq, exit.seq, true);
      this.log.warn("process gone without a word: run crashed");
      return "crashed";
    }
    return null;
  }

  /**
   * Takes in a spill file, frame by frame, each checked as a batch on the socket is: a frame the
   * checks refuse is set aside in the dead-letter file (refuse), never dropped. The file is
   * removed only once every byte of it is in the WAL or the dead-letter file; otherwise (a torn
   * or damaged tail, a dead-letter file that cannot be written) it stays, and the log says so.
   */
  private takeSpill(path: string): void {
    const buf = readFileSync(path);
    if (!hasWalMagic(buf)) {
      this.log.error({ path }, "spill file without WAL header kept, not taken in");
      return;
    }
    const scan = scanFrames(buf.subarray(WAL_MAGIC.length), WAL_MAGIC.length);
    let taken = 0;
    let refused = 0;
    let kept = scan.end < buf.length; // bytes after the last whole frame: nowhere else
    for (const frame of scan.frames) {
      let first: number | null = null;
      let last: number | null = null;
      try {
        const records = decode<RunRecord[]>(frame.payload);
        if (Array.isArray(records) && records.length > 0) {
          first = records[0].seq;
          last = lastClientSeq(records);
        }
      } catch {
        // not msgpack: set aside below, its numbers unknown
      }
      try {
        let why: unknown = errors.badFrame("the spill frame holds no batch of records");
        if (first !== null && last !== null) {
          try {
            if (this.isResend(first, last, frame.payload.byteLength)) continue;
          } catch (err) {
            // Numbers that do not continue the run: set aside without moving the sequence.
            this.refuse(frame.payload, null, null, err);
            refused++;
            continue;
          }
          try {
            const { hasExit } = this.check(frame.payload, first, last);
            this.append(frame.payload, first, last, hasExit);
            taken++;
            continue;
          } catch (err) {
            why = err;
          }
          this.refuse(frame.payload, first, last, why);
        } else {
          this.refuse(frame.payload, null, null, why);
        }
        refused++;
      } catch (err) {
        kept = true;
        this.log.error({ path, offset: frame.offset, err: (err as Error).message }, "spill frame neither taken in nor set aside");
      }
    }
    this.wal.sync();
    if (kept) this.log.error({ path, end: scan.end, size: buf.length, stoppedAt: scan.stoppedAt }, "spill file kept: not all of it could be taken in or set aside");
    else rmSync(path, { force: true });
    this.log.info({ frames: taken, refused, stoppedAt: scan.stoppedAt }, "spill file taken in");
  }

  async close(): Promise<void> {
    this.closed = true;
    this.monitor?.close();
    if (this.heartbeat) clearInterval(this.heartbeat);
    await Promise.all([this.uploader?.close(), this.artifacts.close()]);
    this.wal.close();
    this.log.info("stream closed");
    closeSync(this.logFd); // a shared daemon serves run after run
    this.logFd = -1;
  }

  /**
   * Lines logged after close() (a probe or an upload that ends late) are dropped, and so is a
   * line the disk refuses: a throw here would land in the run's work, and in the shared daemon
   * take every run down.
   */
  private writeLogLine(line: string): void {
    if (this.logFd < 0) return;
    try {
      writeSync(this.logFd, line);
    } catch {
      // a lost line of a diagnostic log is not worth a run
    }
  }
}

/**
 * Reads one frame of a WAL taken over, newest first, into `found`: the client's last sequence
 * number (the daemon's own records carry none) and the last step of its history; true once both
 * are known. A frame that does not decode tells nothing (the uploader meets it later).
 */
export function lastOf(payload: Uint8Array, found: { seq: number; step: number }): boolean {
  let records: RunRecord[];
  try {
    records = decode<RunRecord[]>(payload);
    if (!Array.isArray(records)) return false;
  } catch {
    return false;
  }
  if (found.seq === 0) found.seq = lastClientSeq(records);
  if (found.step < 0) for (const r of records) if (r.k === "history") found.step = Math.max(found.step, lastStepOf(r));
  return found.seq !== 0 && found.step >= 0;
}

/** A refusal's text for the notes and the report: the TRK_ERR_* code and message. */
function refusalText(err: unknown): string {
  const text = isTracksideError(err) ? `${err.code}: ${err.message}` : `TRK_ERR_INTERNAL: ${(err as Error)?.message ?? String(err)}`;
  return cut(text);
}

/** Within the string limit (a refusal report's error text is checked against it). */
function cut(text: string): string {
  return text.length > MAX_STRING_VALUE ? `${text.slice(0, MAX_STRING_VALUE - 40)} [cut, ${text.length} characters]` : text;
}

/**
 * The exit record of a refused batch, with sane fields, or undefined where the batch does not
 * decode or holds none. Read leniently: what else in the batch was refused does not matter here.
 */
function exitRecordIn(payload: Uint8Array): Extract<RunRecord, { k: "exit" }> | undefined {
  let values: unknown[];
  try {
    values = decodeUntrusted(payload);
  } catch {
    return undefined;
  }
  const batch = values.length === 1 && Array.isArray(values[0]) ? (values[0] as unknown[]) : [];
  for (const v of batch) {
    const r = v as Record<string, unknown> | null;
    if (r === null || typeof r !== "object" || r.k !== "exit") continue;
    const state = FINAL_STATES.includes(r.state as RunState) ? (r.state as RunState) : "crashed";
    return {
      k: "exit",
      seq: 0,
      state,
      exitCode: Number.isSafeInteger(r.exitCode) ? (r.exitCode as number) : null,
      signal: typeof r.signal === "string" && r.signal.length <= 64 ? r.signal : null,
      error: typeof r.error === "string" ? r.error : null,
      finishedAt: typeof r.finishedAt === "number" && Number.isFinite(r.finishedAt) && Math.abs(r.finishedAt) <= MAX_TIME_MS ? r.finishedAt : Date.now(),
    };
  }
  return undefined;
}
