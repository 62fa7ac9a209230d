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
  WAL_MAGIC,
  decode,
  encodeRecords,
  errors,
  hasWalMagic,
  lastClientSeq,
  scanFrames,
  type RefusedSummary,
  type RunOpenSettings,
  type RunRecord,
  type RunState,
} from "../protocol/index.js";
import { DeadLetter, type Refusal } from "./dead-letter.js";
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
  pendingBytes: number;
  error: string | null;
  /** What the server refused for good and the uploader set aside in the dead-letter file. */
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
  /** The metadata probe has delivered (or failed): a short run must not end before it does. */
  private probed = false;
  /** The client has had its answer to finish(): no request for this run comes any more. */
  finishAnswered = false;
  private readonly wal: WalWriter;
  private readonly uploader: Uploader | null;
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
    this.wal = new WalWriter(join(settings.runDir, `run-${this.runId}.wal`));
    // A WAL that exists already belongs to a run this daemon takes over (its predecessor died):
    // go on after its last record, whatever the client believes. An earlier stream of the run in
    // this daemon (`carried`, another process's, still uploading) is gone on from the same way.
    const found = lastOfFrames(this.wal.lastFramesAtOpen);
    this.lastSeq = Math.max(settings.firstSeq - 1, found.seq, carried?.lastSeq ?? 0);
    this.lastStep = Math.max(found.step, carried?.lastStep ?? -1);
    this.firstSeq = Math.max(settings.firstSeq, (carried?.lastSeq ?? 0) + 1);
    this.uploader =
      settings.mode === "online"
        ? new Uploader({
            walPath: this.wal.path,
            target: { baseUrl: settings.baseUrl, apiKey: settings.apiKey, entity: settings.run.entity, project: settings.run.project, runId: this.runId, caFile: settings.caFile },
            log: this.log.child({ component: "uploader" }),
            deadLetter: new DeadLetter(settings.runDir),
            onRefused: (refusal, report) => this.reportRefusal(refusal, report),
          })
        : null;
    daemonLog.info({ runId: this.runId, runDir: settings.runDir, mode: settings.mode }, "run opened");
  }

  start(): void {
    this.uploader?.start(this.wal.end);
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
  isResend(first: number, last: number): boolean {
    const bad = (why: string) => errors.badSequence(this.path, why);
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last)) throw bad(`first ${first} and last ${last} are not both safe integers`);
    if (first > last) throw bad(`first ${first} is above last ${last}`);
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
    const end = this.wal.append(encodeRecords([record]));
    this.frames.push({ end, records: 1 });
    this.uploader?.notify(end);
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
    this.appendOwn({ k: "refused", seq: 0, at: refusal.at, records: refusal.records, bytes: refusal.bytes, error: refusal.error });
    return this.wal.end;
  }

  /** Syncs the WAL and waits up to timeoutMs for the upload; what is left keeps uploading. */
  async finish(timeoutMs: number): Promise<FinishOutcome> {
    await this.wal.syncInPool();
    const synced = this.uploader ? await this.uploader.drain(timeoutMs) : false;
    return this.pending(synced);
  }

  pending(synced: boolean): FinishOutcome {
    const status = this.uploader?.status();
    const uploaded = status?.uploadedBytes ?? 0;
    if (this.uploader) this.frames = this.frames.filter((f) => f.end > uploaded);
    return {
      synced,
      pendingRecords: this.frames.reduce((n, f) => n + f.records, 0),
      pendingBytes: status ? status.pendingBytes : this.wal.end,
      error: status?.fatalError ?? null,
      refused: status?.refused ?? null,
    };
  }

  /** True once the run has ended and the server holds all of it (or it is offline). */
  get settled(): boolean {
    if (!this.ended || !this.probed) return false;
    if (!this.uploader) return true;
    const s = this.uploader.status();
    return s.pendingBytes === 0 || s.fatalError !== null;
  }

  /**
   * The run's process is gone. Takes in its spill file (records it wrote at exit that the daemon
   * had not acknowledged) and, unless they carry the run's final state, ends the run as crashed.
   */
  processGone(): RunState | null {
    if (this.ended) return null;
    const spill = join(this.settings.runDir, `spill-${this.settings.pid}.wal`);
    if (existsSync(spill)) this.takeSpill(spill);
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

  private takeSpill(path: string): void {
    const buf = readFileSync(path);
    if (!hasWalMagic(buf)) {
      this.log.error({ path }, "spill file without WAL header ignored");
      return;
    }
    const scan = scanFrames(buf.subarray(WAL_MAGIC.length), WAL_MAGIC.length);
    let taken = 0;
    for (const frame of scan.frames) {
      // Checked as a batch on the socket is: the client wrote it, but a frame the server cannot
      // take must not enter the WAL (the rest of the spill still goes in).
      try {
        const records = decode<RunRecord[]>(frame.payload);
        if (!Array.isArray(records) || records.length === 0) continue;
        const first = records[0].seq;
        const last = lastClientSeq(records);
        if (this.isResend(first, last)) continue;
        const { hasExit } = this.check(frame.payload, first, last);
        this.append(frame.payload, first, last, hasExit);
        taken++;
      } catch (err) {
        this.log.error({ path, offset: frame.offset, err: (err as Error).message }, "spill frame set aside");
      }
    }
    this.wal.sync();
    rmSync(path, { force: true });
    this.log.info({ frames: taken, stoppedAt: scan.stoppedAt }, "spill file taken in");
  }

  async close(): Promise<void> {
    this.closed = true;
    this.monitor?.close();
    if (this.heartbeat) clearInterval(this.heartbeat);
    await this.uploader?.close();
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
 * The client's last sequence number in these frames (the daemon's own records carry none), and
 * the last step of their history.
 */
function lastOfFrames(payloads: Buffer[]): { seq: number; step: number } {
  let seq = 0;
  let step = -1;
  for (let f = payloads.length - 1; f >= 0 && (seq === 0 || step < 0); f--) {
    const records = decode<RunRecord[]>(payloads[f]);
    if (seq === 0) seq = lastClientSeq(records);
    for (const r of records) if (r.k === "history") step = Math.max(step, lastStepOf(r));
  }
  return { seq, step };
}
