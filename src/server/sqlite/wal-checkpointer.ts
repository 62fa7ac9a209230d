/**
 * WAL checkpoints on a worker thread, off the server's event loop.
 *
 * In WAL mode every commit appends pages to the `-wal` file, and a checkpoint copies them into
 * the database file (then fsyncs both). SQLite runs that checkpoint inside the commit that took
 * the WAL past `wal_autocheckpoint` pages: on the main thread, in the middle of an upload. With
 * big history uploads nearly every request paid for one (~50 ms per 65,536-row body). Here a
 * second connection on a worker thread runs `wal_checkpoint(PASSIVE)` after each ingest instead,
 * while the main thread goes on; PASSIVE never blocks the writer nor waits for it. Uploads that
 * come close together share one checkpoint (MIN_INTERVAL_MS).
 *
 * The worker starts only once the WAL file has grown past START_AT_WAL_BYTES, so small databases
 * (and tests) never start a thread. The main connection keeps an automatic checkpoint as a safety
 * net, at SAFETY_NET_PAGES: it only fires if the worker falls far behind or has died.
 */
import { statSync } from "node:fs";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type Database from "better-sqlite3";
import { BUSY_TIMEOUT_MS } from "./sqlite-connection.js";
import { stopWorker } from "./stop-worker.js";

/**
 * 8 MiB: half of SQLite's own threshold (1,000 pages of our 16 KiB). Below that SQLite's
 * checkpoints restart the WAL before the file grows past it, so the worker would never start.
 */
const START_AT_WAL_BYTES = 8 * 1024 * 1024;
/** 4,000 pages of 16 KiB: 64 MiB, four times SQLite's default, so it stays out of the worker's way. */
export const SAFETY_NET_PAGES = 4000;
/** SQLite's default, restored if the worker dies. */
const DEFAULT_PAGES = 1000;
/**
 * At most one checkpoint starts per interval. Each costs two fsyncs whatever it copies, and a
 * server of many short runs (small uploads every few ms) asked for one per upload: measured,
 * ~3 ms of the server's CPU per run of W&B's 100 x 100 profile, a fifth of it. A burst still
 * gets a checkpoint every interval (20 MB/s of ingest leaves ~5 MB to copy each time).
 */
const MIN_INTERVAL_MS = 250;

// Inline CommonJS: the same code under tsc's dist and under vitest's TypeScript sources.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma("busy_timeout = ${BUSY_TIMEOUT_MS}");
parentPort.on("message", (m) => {
  if (m === "close") {
    db.close();
    parentPort.close();
    return;
  }
  db.pragma("wal_checkpoint(PASSIVE)");
  parentPort.postMessage("done");
});
`;

/**
 * Checkpoints the WAL of one database file from a worker thread (see the top of this file).
 *
 * @example
 * const checkpointer = new WalCheckpointer(db, file);
 * db.transaction(ingest)(); checkpointer.afterWrite();
 * await checkpointer.close(); db.close();
 */
export class WalCheckpointer {
  private worker: Worker | null = null;
  private inFlight = false;
  private again = false;
  private closed = false;
  /** When the last checkpoint was asked of the worker (performance.now(): a clock set back does not stall it). */
  private lastStart = -Infinity;
  private timer: NodeJS.Timeout | null = null;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly db: Database.Database,
    private readonly file: string,
  ) {}

  /** Call after a write transaction: asks for a checkpoint, starting the worker when the WAL has grown big. */
  afterWrite(): void {
    if (this.closed) return;
    if (!this.worker) {
      if (walBytes(this.file) < START_AT_WAL_BYTES) return;
      this.start();
    }
    this.request();
  }

  /** Resolves once no checkpoint is in flight or asked for. */
  idle(): Promise<void> {
    if (!this.inFlight && !this.timer) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops the worker, once its checkpoint in flight (if any) is done; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cancelTimer();
    if (!this.inFlight) this.settle(); // a checkpoint only asked for will not come now
    const worker = this.worker;
    if (!worker) return;
    await stopWorker(worker);
  }

  private start(): void {
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file: this.file, driver } });
    worker.unref(); // a server that is done must not stay up for its checkpointer
    worker.on("message", () => {
      this.inFlight = false;
      if (this.again && !this.closed) {
        this.again = false;
        this.request();
      } else this.settle();
    });
    worker.on("error", () => {
      // Back to SQLite's own checkpoints on the main thread: slower, never unbounded.
      this.db.pragma(`wal_autocheckpoint = ${DEFAULT_PAGES}`);
      this.worker = null;
      this.closed = true;
      this.inFlight = false;
      this.cancelTimer();
      this.settle();
    });
    this.db.pragma(`wal_autocheckpoint = ${SAFETY_NET_PAGES}`);
    this.worker = worker;
  }

  private settle(): void {
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** A checkpoint now, or when the interval since the last one has passed; one at a time. */
  private request(): void {
    if (this.inFlight) {
      this.again = true;
      return;
    }
    if (this.timer) return;
    const wait = this.lastStart + MIN_INTERVAL_MS - performance.now();
    if (wait <= 0) return this.post();
    this.timer = setTimeout(() => {
      this.timer = null;
      this.post();
    }, wait);
    this.timer.unref(); // like the worker: a server that is done does not wait for a checkpoint
  }

  private cancelTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private post(): void {
    this.inFlight = true;
    this.lastStart = performance.now();
    this.worker!.postMessage("checkpoint");
  }
}

function walBytes(file: string): number {
  try {
    return statSync(`${file}-wal`).size;
  } catch {
    return 0;
  }
}
