/**
 * Numbers a run's records and sends them to the daemon in batches: when `batchSize` rows are
 * waiting, or `flushIntervalMs` after the first one. A batch is kept until the daemon
 * acknowledges it, so that at exit whatever the daemon may not have can be written to the spill
 * file synchronously.
 */
import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";
import { WAL_MAGIC, encodeRecords, frameHeader, type ConsoleLine, type JsonObject, type RunRecord, type Scalar } from "../protocol/index.js";
import { ColumnBatch } from "./column-batch.js";
import type { StepSink } from "./history.js";
import { debug } from "./notices.js";

/**
 * Batches sent before the oldest of them is acknowledged: the daemon writes one while the next
 * ones travel, instead of a round trip per batch (measured: 244 batches of a million rows spent
 * ~0.4 s in serial round trips after a tight loop). 8 batches of 4,096 rows are ~3.4 MB.
 */
const MAX_IN_FLIGHT = 8;

/**
 * Rows the first batch's columns are sized for; later batches take the size of the one before.
 * (W&B's profile, 10 processes x 100 steps x 100 keys, allocated 3.2 MB per process for columns
 * of 4,096.)
 */
const FIRST_BATCH_ROWS = 64;

/** Where batches go: resolves with the daemon's cumulative acknowledgement. */
export type BatchSender = (payload: Buffer, first: number, last: number, exit: boolean) => Promise<number>;

interface Batch {
  first: number;
  last: number;
  payload: Buffer;
  exit: boolean;
}

type StateRecord = { k: "config"; config: JsonObject } | { k: "summary"; summary: JsonObject };
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type Queued = DistributiveOmit<Exclude<RunRecord, { k: "history" }>, "seq">;

export class RecordQueue implements StepSink {
  private nextSeq: number;
  private acked: number;
  private batch: ColumnBatch;
  private console: ConsoleLine[] = [];
  private before: Queued[] = [];
  private after: Queued[] = [];
  private dirty = new Map<StateRecord["k"], () => StateRecord>();
  private unackedBatches: Batch[] = [];
  private timer: NodeJS.Timeout | null = null;
  /** Sent batches not yet acknowledged (or failed), oldest first. */
  private readonly inFlight: Promise<void>[] = [];
  /** Keeps sends in order and within the window. */
  private sendChain: Promise<void> = Promise.resolve();
  /** Settles when every batch sent so far is acknowledged (or failed). */
  private settled: Promise<void> = Promise.resolve();
  private sender: BatchSender | null;

  constructor(
    firstSeq: number,
    sender: BatchSender | null,
    private readonly batchSize: number,
    private readonly flushIntervalMs: number,
    /** Called just before the pending steps are sealed into a batch (the summary catches up). */
    private readonly onSeal: () => void = () => {},
  ) {
    this.batch = new ColumnBatch(Math.min(batchSize, FIRST_BATCH_ROWS));
    this.nextSeq = firstSeq;
    this.acked = firstSeq - 1;
    this.sender = sender;
  }

  /** Hot path: a value of the step being logged (see History). */
  put(key: string, value: Scalar): void {
    this.batch.put(key, value);
  }

  /** Hot path: the step is complete; send when the batch is full, or soon. */
  endRow(step: number, timestamp: number, runtime: number): void {
    this.batch.endRow(step, timestamp, runtime);
    if (this.batch.n >= this.batchSize) void this.flush();
    else if (this.timer === null) this.arm();
  }

  /** A line of the program's output, sent with the next batch. */
  addConsoleLine(line: ConsoleLine): void {
    this.console.push(line);
    if (this.timer === null) this.arm();
  }

  /** A record that goes out with the next batch, before its history rows (after them for "exit"). */
  add(record: Queued): void {
    (record.k === "exit" ? this.after : this.before).push(record);
    if (this.timer === null) this.arm();
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
      // send keeps its batch for a replay or the spill file.
      const started = this.sendChain.then(async () => {
        while (this.inFlight.length >= MAX_IN_FLIGHT) await this.inFlight[0];
        const acked = sender(batch.payload, batch.first, batch.last, batch.exit).then(
          (seq) => this.ack(seq),
          (err: unknown) => debug("batch %d..%d not acknowledged: %s", batch.first, batch.last, (err as Error).message),
        );
        this.inFlight.push(acked);
        void acked.then(() => this.inFlight.splice(this.inFlight.indexOf(acked), 1));
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
    }
    for (const read of this.dirty.values()) records.push({ ...read(), seq: seq++ } as RunRecord);
    for (const r of this.after) records.push({ ...r, seq: seq++ } as RunRecord);
    const exit = this.after.some((r) => r.k === "exit");
    this.before = [];
    this.after = [];
    this.dirty.clear();
    if (records.length === 0) return null;
    const batch = { first: this.nextSeq, last: seq - 1, payload: encodeRecords(records), exit };
    this.nextSeq = seq;
    this.unackedBatches.push(batch);
    return batch;
  }

  /** Batches sent but not acknowledged yet, oldest first (replayed to a new daemon). */
  unacked(): readonly Batch[] {
    return [...this.unackedBatches];
  }

  ack(seq: number): void {
    if (seq <= this.acked) return;
    this.acked = seq;
    while (this.unackedBatches.length > 0 && this.unackedBatches[0].last <= seq) this.unackedBatches.shift();
  }

  /** Records handed out but not acknowledged by the daemon. */
  get unackedCount(): number {
    return this.lastSeq - this.acked;
  }

  /**
   * Synchronously writes every batch the daemon has not acknowledged, plus what is waiting, to
   * `path` in the WAL's format. Used on exit paths where no await is possible.
   */
  spill(path: string): number {
    this.sender = null;
    this.build();
    if (this.unackedBatches.length === 0) return 0;
    const fd = openSync(path, "w", 0o600);
    try {
      writeSync(fd, WAL_MAGIC);
      for (const b of this.unackedBatches) {
        writeSync(fd, frameHeader(b.payload));
        writeSync(fd, b.payload);
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return this.unackedBatches.length;
  }

  private arm(): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.flushIntervalMs);
    // The flush timer must never keep the user's process alive: exit paths flush on their own.
    this.timer.unref();
  }

  /** Stops the timer; nothing more is sent. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
