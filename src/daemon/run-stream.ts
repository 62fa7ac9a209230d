/**
 * One run inside the daemon: handler -> WAL -> uploader. Record batches arrive already encoded;
 * the stream writes them to the WAL, acknowledges them, and lets the uploader carry them to the
 * server. When the run's process dies without a finish, the stream takes in the spill file the
 * client left behind, or, when there is none, ends the run as crashed.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import pino, { type Logger } from "pino";
import {
  WAL_MAGIC,
  decode,
  encodeRecords,
  hasWalMagic,
  scanFrames,
  seqSpan,
  type RunOpenSettings,
  type RunRecord,
  type RunState,
} from "../protocol/index.js";
import { Uploader } from "./uploader.js";
import { WalWriter } from "./wal-writer.js";

/** A quarter of the server's default heartbeat timeout: three may be lost before a false crash. */
const HEARTBEAT_MS = 30_000;

export interface FinishOutcome {
  synced: boolean;
  pendingRecords: number;
  pendingBytes: number;
  error: string | null;
}

export class RunStream {
  readonly runId: string;
  readonly settings: RunOpenSettings;
  readonly log: Logger;
  /** Every record up to this sequence number is in the WAL. */
  lastSeq: number;
  /** The run has its final state in the WAL (an exit record went through, or it was marked crashed). */
  ended = false;
  private readonly wal: WalWriter;
  private readonly uploader: Uploader | null;
  /** (end offset, last seq) of each frame not yet uploaded, to count records still pending. */
  private frames: Array<{ end: number; records: number }> = [];
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(settings: RunOpenSettings, daemonLog: Logger) {
    this.settings = settings;
    this.runId = settings.run.id;
    mkdirSync(join(settings.runDir, "logs"), { recursive: true });
    mkdirSync(join(settings.runDir, "files"), { recursive: true });
    this.log = pino(
      { base: { runId: this.runId, component: "run-stream" } },
      pino.destination({ dest: join(settings.runDir, "logs", "daemon.log"), sync: true, mkdir: true }),
    );
    this.wal = new WalWriter(join(settings.runDir, `run-${this.runId}.wal`));
    // A WAL that exists already belongs to a run this daemon takes over (its predecessor died):
    // go on after its last record, whatever the client believes.
    this.lastSeq = Math.max(settings.firstSeq - 1, lastSeqOf(this.wal.lastFrameAtOpen));
    this.uploader =
      settings.mode === "online"
        ? new Uploader({
            walPath: this.wal.path,
            target: { baseUrl: settings.baseUrl, apiKey: settings.apiKey, entity: settings.run.entity, project: settings.run.project, runId: this.runId },
            log: this.log.child({ component: "uploader" }),
          })
        : null;
    daemonLog.info({ runId: this.runId, runDir: settings.runDir, mode: settings.mode }, "run opened");
  }

  start(): void {
    this.uploader?.start(this.wal.end);
    if (this.uploader) {
      // The server marks a run crashed after its heartbeat timeout (default 120 s) without word.
      this.heartbeat = setInterval(() => {
        if (!this.ended) void this.uploader?.heartbeat();
      }, HEARTBEAT_MS);
    }
    this.log.info({ pid: this.settings.pid, mode: this.settings.mode }, "stream started");
  }

  /** Writes one encoded batch (records first..last) to the WAL; returns the seq to acknowledge. */
  append(payload: Uint8Array, first: number, last: number, hasExit = false): number {
    if (last <= this.lastSeq) return this.lastSeq; // a resend of what the WAL already holds
    if (first > this.lastSeq + 1) this.log.warn({ first, lastSeq: this.lastSeq }, "gap in sequence numbers");
    const end = this.wal.append(payload);
    this.frames.push({ end, records: last - Math.max(first, this.lastSeq + 1) + 1 });
    this.lastSeq = last;
    if (hasExit) this.ended = true;
    this.uploader?.notify(end);
    return last;
  }

  /** Syncs the WAL and waits up to timeoutMs for the upload; what is left keeps uploading. */
  async finish(timeoutMs: number): Promise<FinishOutcome> {
    this.wal.sync();
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
    };
  }

  /** True once the run has ended and the server holds all of it (or it is offline). */
  get settled(): boolean {
    if (!this.ended) return false;
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
      const records = decode<RunRecord[]>(frame.payload);
      if (records.length === 0) continue;
      const first = records[0].seq;
      const lastRecord = records[records.length - 1];
      const last = lastRecord.seq + seqSpan(lastRecord) - 1;
      const hasExit = records.some((r) => r.k === "exit");
      if (last > this.lastSeq) {
        this.append(frame.payload, first, last, hasExit);
        taken++;
      }
    }
    this.wal.sync();
    rmSync(path, { force: true });
    this.log.info({ frames: taken, stoppedAt: scan.stoppedAt }, "spill file taken in");
  }

  async close(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    await this.uploader?.close();
    this.wal.close();
    this.log.info("stream closed");
    this.log.flush();
  }
}

function lastSeqOf(payload: Buffer | null): number {
  if (!payload) return 0;
  const records = decode<RunRecord[]>(payload);
  const last = records[records.length - 1];
  return last ? last.seq + seqSpan(last) - 1 : 0;
}
