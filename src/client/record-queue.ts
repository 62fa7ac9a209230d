/**
 * Numbers a run's records and sends them to the daemon in batches: when `batchSize` rows are
 * waiting, or about MAX_BATCH_BYTES of them, or `flushIntervalMs` after the first one. A batch is kept until the daemon
 * acknowledges it, so that at exit whatever the daemon may not have can be written to the spill
 * file synchronously.
 *
 * What it keeps is bounded: once the batches held in memory reach `bound.maxBytes` (the daemon
 * stopped, stuck or slower than the loop), the next ones wait in the run's spill file
 * (queue-overflow.ts) and are read back, in order, when the daemon takes batches again. The
 * check is per batch, never per row: log()'s hot path is unchanged.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { MAX_FRAME_BYTES, WAL_MAGIC, encodeRecords, frameHeader, type BatchRefusal, type ConsoleLine, type JsonObject, type RunRecord, type Scalar } from "../protocol/index.js";
import { ColumnBatch } from "./column-batch.js";
import type { StepSink } from "./history.js";
import { debug } from "./notices.js";
import { OverflowFile } from "./queue-overflow.js";

/**
 * Batches sent before the oldest of them is acknowledged: the daemon writes one while the next
 * ones travel, instead of a round trip per batch (measured: 244 batches of a million rows spent
 * ~0.4 s in serial round trips after a tight loop). 8 batches of 4,096 rows are ~3.4 MB.
 */
const MAX_IN_FLIGHT = 8;

/**
 * How long the oldest sent batch may go unacknowledged, while later ones wait in the spill file,
 * before the queue says the daemon is stuck: the client's heartbeat gives a daemon up after as
 * long (DESIGN.md). A loop that never yields fills the file too, with nothing sent at all: that
 * is the program's doing, not the daemon's, and a healthy daemon empties the file in well under
 * this once the loop yields (measured: 1 M rows, ~105 MB, in ~0.5 s), so it says nothing.
 */
const STUCK_MS = 2_000;

/**
 * Rows the first batch's columns are sized for; later batches take the size of the one before.
 * (W&B's profile, 10 processes x 100 steps x 100 keys, allocated 3.2 MB per process for columns
 * of 4,096.)
 */
const FIRST_BATCH_ROWS = 64;

/**
 * A batch is sealed once its rows' estimated size (ColumnBatch.bytes) reaches this, whatever its
 * row count: the daemon refuses a frame over MAX_FRAME_BYTES whole (4,096 rows of 20 KB strings
 * were one 82 MB batch, every step of it lost to the server). A quarter of the frame leaves room
 * for what travels beside the rows (a config and a summary of up to MAX_OBJECT_BYTES each), for
 * the last row, which may be large itself, and for text that is not ASCII (the estimate counts a
 * string's length; UTF-8 spends up to 3 bytes on one of its code units).
 */
export const MAX_BATCH_BYTES = MAX_FRAME_BYTES / 4;

/** What a console line costs besides its text: its time, its stream and msgpack's headers. */
const CONSOLE_LINE_BYTES = 32;

/** The daemon's answer to a batch: its cumulative acknowledgement, and whether it refused the batch. */
export interface BatchAck {
  seq: number;
  /** The daemon refused the batch's content and set it aside; it is acknowledged all the same. */
  refused?: BatchRefusal;
}

/** Where batches go: resolves with the daemon's answer. */
export type BatchSender = (payload: Buffer, first: number, last: number, exit: boolean) => Promise<BatchAck>;

/** What the daemon refused of this queue's batches so far. */
export interface QueueRefusals {
  batches: number;
  records: number;
  /** The first refusal's reason. */
  error: string;
}

interface Batch {
  first: number;
  last: number;
  exit: boolean;
  bytes: number;
  /** The encoded records while held in memory; null while they wait in the overflow file. */
  payload: Buffer | null;
  /** Where the payload lies in the overflow file while it is there. */
  at: number;
}

/** How much a queue holds in memory, and where the rest waits. */
export interface QueueBound {
  /** Bytes of encoded batches held in memory (sent or not) before later ones go to `file`. */
  maxBytes: number;
  /** The run's spill file. */
  file: string;
  /**
   * Called once, when batches wait in the file and the daemon has not acknowledged the oldest
   * batch sent to it for `stuckMs` (default STUCK_MS).
   */
  onStuck: (heldBytes: number, file: string, stuckMs: number) => void;
  stuckMs?: number;
}

/** What a queue holds, for tests and debugging. */
export interface QueueStats {
  /** Bytes of unacknowledged batches in memory now, and at most so far. */
  heldBytes: number;
  peakHeldBytes: number;
  /** Unacknowledged batches waiting in the overflow file now. */
  fileBatches: number;
  /** Batches (and their bytes) that ever went to the overflow file. */
  overflowedBatches: number;
  overflowedBytes: number;
}

type StateRecord = { k: "config"; config: JsonObject } | { k: "summary"; summary: JsonObject };
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type Queued = DistributiveOmit<Exclude<RunRecord, { k: "history" }>, "seq">;

export class RecordQueue implements StepSink {
  private nextSeq: number;
  private acked: number;
  private batch: ColumnBatch;
  private console: ConsoleLine[] = [];
  /** About what the waiting console lines take encoded (see addConsoleLine). */
  private consoleBytes = 0;
  private before: Queued[] = [];
  /** About what the waiting records take encoded, as their callers said (see add). */
  private beforeBytes = 0;
  private after: Queued[] = [];
  private dirty = new Map<StateRecord["k"], () => StateRecord>();
  private unackedBatches: Batch[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** Sent batches not yet acknowledged (or failed), oldest first, and when each was sent. */
  private readonly inFlight: Promise<void>[] = [];
  private readonly sentAt: number[] = [];
  /** Checks, while batches wait in the file, whether the daemon is stuck (QueueBound.onStuck). */
  private stuckTimer: NodeJS.Timeout | null = null;
  private saidStuck = false;
  /** Keeps sends in order and within the window. */
  private sendChain: Promise<void> = Promise.resolve();
  /** Settles when every batch sent so far is acknowledged (or failed). */
  private settled: Promise<void> = Promise.resolve();
  private sender: BatchSender | null;
  /** Without a daemon from the start (mode "disabled") nothing is kept: there is nowhere to send it. */
  private readonly keeps: boolean;
  private readonly overflow: OverflowFile | null;
  private readonly maxHeldBytes: number;
  private readonly stat: QueueStats = { heldBytes: 0, peakHeldBytes: 0, fileBatches: 0, overflowedBatches: 0, overflowedBytes: 0 };
  private refusedSoFar: QueueRefusals | null = null;
  /** Called for each batch the daemon refuses (the run warns once). */
  onRefused: ((refusal: BatchRefusal, first: number, last: number) => void) | null = null;

  constructor(
    firstSeq: number,
    sender: BatchSender | null,
    private readonly batchSize: number,
    private readonly flushIntervalMs: number,
    /** Called just before the pending steps are sealed into a batch (the summary catches up). */
    private readonly onSeal: () => void = () => {},
    /** Without one, everything unacknowledged stays in memory. */
    private readonly bound: QueueBound | null = null,
  ) {
    this.batch = new ColumnBatch(Math.min(batchSize, FIRST_BATCH_ROWS));
    this.nextSeq = firstSeq;
    this.acked = firstSeq - 1;
    this.sender = sender;
    this.keeps = sender !== null;
    this.overflow = bound ? new OverflowFile(bound.file) : null;
    this.maxHeldBytes = bound?.maxBytes ?? Infinity;
  }

  /** Hot path: a value of the step being logged (see History). */
  put(key: string, value: Scalar): void {
    this.batch.put(key, value);
  }

  /** Hot path: the step is complete; send when the batch is full (in rows or in bytes), or soon. */
  endRow(step: number, timestamp: number, runtime: number): void {
    this.batch.endRow(step, timestamp, runtime);
    if (this.batch.n >= this.batchSize || this.batch.bytes >= MAX_BATCH_BYTES) void this.flush();
    else if (this.timer === null) this.arm();
  }

  /**
   * A line of the program's output, sent with the next batch, or at once once the waiting lines
   * take about MAX_BATCH_BYTES (a loop that prints long lines without yielding never lets the
   * timer run). Lines are counted apart from the rows: endRow() stays as it is.
   */
  addConsoleLine(line: ConsoleLine): void {
    this.console.push(line);
    this.consoleBytes += line.text.length + CONSOLE_LINE_BYTES;
    if (this.consoleBytes >= MAX_BATCH_BYTES) void this.flush();
    else if (this.timer === null) this.arm();
  }

  /**
   * A record that goes out with the next batch, before its history rows (after them for "exit").
   * `bytes`, about what it takes encoded (a media value's objectCost), sends the waiting records
   * at once once they take about MAX_BATCH_BYTES: a table logged again and again in a loop that
   * never yields made one batch of 260 MB, over the daemon's frame limit, and every record of it
   * was refused.
   */
  add(record: Queued, bytes = 0): void {
    (record.k === "exit" ? this.after : this.before).push(record);
    this.beforeBytes += bytes;
    if (this.beforeBytes >= MAX_BATCH_BYTES) void this.flush();
    else if (this.timer === null) this.arm();
  }

  /** Marks config or summary as changed; its current value is read when the batch is built. */
  markDirty(kind: StateRecord["k"], read: () => StateRecord): void {
    this.dirty.set(kind, read);
    if (this.timer === null) this.arm();
  }

  /** Steps waiting in the current batch. */
  get pendingSteps(): number {
    return this.batch.n;
  }

  /** The latest value of each key among the waiting steps from `from` on. */
  latestFrom(from: number, into: Record<string, unknown>): void {
    this.batch.latestFrom(from, into);
  }

  /** The highest sequence number handed out so far. */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** Sends what is waiting; the returned promise settles when the daemon has acknowledged it. */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const batch = this.build();
    if (batch && this.sender) {
      const sender = this.sender;
      // Batches leave in order, up to MAX_IN_FLIGHT before the oldest is acknowledged; a failed
      // send keeps its batch for a replay or the spill file. A batch in the overflow file is read
      // back only when the memory bound allows (or nothing is in flight that could free it).
      const started = this.sendChain.then(async () => {
        while (
          batch.last > this.acked &&
          (this.inFlight.length >= MAX_IN_FLIGHT || (batch.payload === null && this.inFlight.length > 0 && this.stat.heldBytes + batch.bytes > this.maxHeldBytes))
        ) {
          await this.inFlight[0];
        }
        // A replay to a new daemon may have delivered it meanwhile (or an exit spill taken it).
        if (batch.last <= this.acked || this.sender === null) return [Promise.resolve()];
        let payload: Buffer;
        try {
          payload = this.load(batch);
        } catch (err) {
          // Kept as unacknowledged: a replay or the exit spill tries the file again.
          debug("batch %d..%d could not be read back: %s", batch.first, batch.last, (err as Error).message);
          return [Promise.resolve()];
        }
        const acked = sender(payload, batch.first, batch.last, batch.exit).then(
          (reply) => {
            if (reply.refused) this.refused(batch, reply.refused);
            this.ack(reply.seq);
          },
          (err: unknown) => debug("batch %d..%d not acknowledged: %s", batch.first, batch.last, (err as Error).message),
        );
        this.inFlight.push(acked);
        this.sentAt.push(Date.now());
        void acked.then(() => {
          const i = this.inFlight.indexOf(acked);
          this.inFlight.splice(i, 1);
          this.sentAt.splice(i, 1);
        });
        return [acked]; // wrapped: the chain goes on once this batch is sent, not acknowledged
      });
      this.sendChain = started.then(() => undefined);
      this.settled = this.settled.then(() => started).then(([acked]) => acked);
    }
    return this.settled;
  }

  private build(): Batch | null {
    this.onSeal();
    const records: RunRecord[] = [];
    let seq = this.nextSeq;
    for (const r of this.before) records.push({ ...r, seq: seq++ } as RunRecord);
    const steps = this.batch.n;
    if (steps > 0) {
      records.push({ k: "history", seq, n: steps, cols: this.batch.columns() });
      seq += steps;
      this.batch = new ColumnBatch(Math.min(this.batchSize, Math.max(FIRST_BATCH_ROWS, steps)));
    }
    if (this.console.length > 0) {
      records.push({ k: "console", seq, lines: this.console });
      seq += this.console.length;
      this.console = [];
      this.consoleBytes = 0;
    }
    for (const read of this.dirty.values()) records.push({ ...read(), seq: seq++ } as RunRecord);
    for (const r of this.after) records.push({ ...r, seq: seq++ } as RunRecord);
    const exit = this.after.some((r) => r.k === "exit");
    this.before = [];
    this.beforeBytes = 0;
    this.after = [];
    this.dirty.clear();
    if (records.length === 0) return null;
    const first = this.nextSeq;
    this.nextSeq = seq;
    if (!this.keeps) return null;
    const payload = encodeRecords(records);
    const batch: Batch = { first, last: seq - 1, exit, bytes: payload.length, payload, at: -1 };
    this.unackedBatches.push(batch);
    const overBound = this.overflow !== null && this.sender !== null && this.stat.heldBytes + batch.bytes > this.maxHeldBytes;
    if (!overBound || !this.toFile(batch)) this.held(batch.bytes);
    return batch;
  }

  /**
   * Moves a new batch's records to the overflow file; the first time, says so. False if the file
   * cannot be written (the run directory gone, the disk full): the batch then stays in memory,
   * since the bound must never cost a record, nor throw into log().
   */
  private toFile(batch: Batch): boolean {
    const overflow = this.overflow as OverflowFile;
    try {
      batch.at = overflow.append(batch.payload as Buffer);
    } catch (err) {
      debug("batch %d..%d stays in memory: %s", batch.first, batch.last, (err as Error).message);
      return false;
    }
    batch.payload = null;
    this.stat.fileBatches++;
    this.stat.overflowedBatches++;
    this.watchStuck();
    this.stat.overflowedBytes += batch.bytes;
    debug("batch %d..%d (%d bytes) waits in %s", batch.first, batch.last, batch.bytes, overflow.path);
    return true;
  }

  /**
   * While batches wait in the file: says once (onStuck) that the daemon is stuck when the oldest
   * batch sent to it has waited for an acknowledgement for stuckMs. The timer is unref'd: it
   * never keeps the process alive.
   */
  private watchStuck(): void {
    if (this.saidStuck || this.stuckTimer !== null || this.bound === null) return;
    const stuckMs = this.bound.stuckMs ?? STUCK_MS;
    this.stuckTimer = setTimeout(() => {
      this.stuckTimer = null;
      if (this.stat.fileBatches === 0 || this.bound === null) return; // the daemon caught up
      const oldest = this.sentAt[0];
      if (oldest !== undefined && Date.now() - oldest >= stuckMs) {
        this.saidStuck = true;
        this.bound.onStuck(this.stat.heldBytes, this.bound.file, stuckMs);
      } else {
        this.watchStuck(); // nothing sent yet, or sent only just now
      }
    }, stuckMs);
    this.stuckTimer.unref();
  }

  private held(bytes: number): void {
    this.stat.heldBytes += bytes;
    if (this.stat.heldBytes > this.stat.peakHeldBytes) this.stat.peakHeldBytes = this.stat.heldBytes;
  }

  /** A batch's records in memory, read back from the overflow file if they wait there. */
  private load(batch: Batch): Buffer {
    if (batch.payload !== null) return batch.payload;
    batch.payload = (this.overflow as OverflowFile).read(batch.at, batch.bytes);
    batch.at = -1;
    this.held(batch.bytes);
    this.leftFile();
    return batch.payload;
  }

  /** One batch less in the overflow file; once none is left, the file goes. */
  private leftFile(): void {
    if (--this.stat.fileBatches === 0) this.overflow?.clear();
  }

  /** Batches sent but not acknowledged yet, oldest first (replayed to a new daemon: see payloadOf). */
  unacked(): ReadonlyArray<Readonly<Pick<Batch, "first" | "last" | "exit">>> {
    return [...this.unackedBatches];
  }

  /**
   * The records of a batch from unacked(), wherever they wait, or null once it is acknowledged.
   * One read back from the file is not kept: a replay of many stays within the bound.
   */
  payloadOf(batch: Readonly<Pick<Batch, "first" | "last" | "exit">>): Buffer | null {
    const b = batch as Batch;
    if (b.last <= this.acked) return null;
    return b.payload ?? (this.overflow as OverflowFile).read(b.at, b.bytes);
  }

  /**
   * The daemon refused a batch (its ack says so, or a replay got a coded refusal): it set the
   * batch aside in the run's dead-letter file, or, for a replay refused outright, it is dropped.
   * Either way it is counted, so that finish() does not report a clean sync, and the caller acks it.
   */
  refused(batch: Readonly<Pick<Batch, "first" | "last">>, refusal: BatchRefusal): void {
    const s = this.refusedSoFar ?? { batches: 0, records: 0, error: refusal.error };
    this.refusedSoFar = { ...s, batches: s.batches + 1, records: s.records + refusal.records };
    debug("batch %d..%d refused by the daemon: %s", batch.first, batch.last, refusal.error);
    this.onRefused?.(refusal, batch.first, batch.last);
  }

  /** What the daemon refused so far, or null. */
  get refusals(): QueueRefusals | null {
    return this.refusedSoFar;
  }

  ack(seq: number): void {
    if (seq <= this.acked) return;
    this.acked = seq;
    while (this.unackedBatches.length > 0 && this.unackedBatches[0].last <= seq) {
      const b = this.unackedBatches.shift() as Batch;
      if (b.payload !== null) this.stat.heldBytes -= b.bytes;
      else this.leftFile();
      b.payload = null; // a send still in its chain keeps only the numbers
    }
  }

  /** What the queue holds now (a copy). */
  get stats(): QueueStats {
    return { ...this.stat };
  }

  /** Records handed out but not acknowledged by the daemon. */
  get unackedCount(): number {
    return this.lastSeq - this.acked;
  }

  /**
   * Synchronously writes every batch the daemon has not acknowledged, plus what is waiting, to
   * `path` in the WAL's format; returns how many batches it wrote. Used on exit paths where no
   * await is possible, so it never throws: a file that cannot be written (the run directory
   * removed, the disk full) goes to `onError`, and -1 is returned.
   */
  spill(path: string, onError: (err: Error) => void = () => {}): number {
    const tmp = `${path}.tmp`;
    try {
      this.sender = null;
      this.build();
      if (this.unackedBatches.length === 0) {
        this.overflow?.clear();
        return 0;
      }
      // Written beside it and renamed over it: the overflow file may be this very path, and its
      // batches are read from it while the new file is written.
      const fd = openSync(tmp, "w", 0o600);
      try {
        writeSync(fd, WAL_MAGIC);
        for (const b of this.unackedBatches) {
          let payload: Buffer;
          try {
            payload = b.payload ?? (this.overflow as OverflowFile).read(b.at, b.bytes);
          } catch (err) {
            debug("batch %d..%d could not be read back for the spill: %s", b.first, b.last, (err as Error).message);
            continue; // the others still go: an exit path must not throw
          }
          writeSync(fd, frameHeader(payload));
          writeSync(fd, payload);
        }
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, path);
      if (this.overflow?.path === path) this.overflow.close();
      else this.overflow?.clear();
      return this.unackedBatches.length;
    } catch (err) {
      debug("spill to %s failed: %s", path, (err as Error).message);
      try {
        rmSync(tmp, { force: true });
      } catch {
        // nothing more to do on the way out
      }
      onError(err as Error);
      return -1;
    }
  }

  private arm(): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.flushIntervalMs);
    // The flush timer must never keep the user's process alive: exit paths flush on their own.
    this.timer.unref();
  }

  /** Stops the timer; nothing more is sent. An overflow file still holding batches stays for the daemon. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.overflow?.close();
  }
}
