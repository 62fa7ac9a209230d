/**
 * WAL checkpoints on a worker thread, off the server's event loop.
 *
 * In WAL mode every commit appends pages to the `-wal` file, and a checkpoint copies them into
 * the database file (then fsyncs both). SQLite runs that checkpoint inside the commit that took
 * the WAL past `wal_autocheckpoint` pages: on the main thread, in the middle of an upload. With
 * big history uploads nearly every request paid for one (~50 ms per 65,536-row body). Here a
 * second connection on a worker thread runs `wal_checkpoint(PASSIVE)` after each ingest instead,
 * while the main thread goes on; PASSIVE never blocks the writer nor waits for it.
 *
 * The worker starts only once the WAL file has grown past START_AT_WAL_BYTES, so small databases
 * (and tests) never start a thread. The main connection keeps an automatic checkpoint as a safety
 * net, at SAFETY_NET_PAGES: it only fires if the worker falls far behind or has died.
 */
import { statSync } from "node:fs";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type Database from "better-sqlite3";

/**
 * 8 MiB: half of SQLite's own threshold (1,000 pages of our 16 KiB). Below that SQLite's
 * checkpoints restart the WAL before the file grows past it, so the worker would never start.
 */
const START_AT_WAL_BYTES = 8 * 1024 * 1024;
/** 4,000 pages of 16 KiB: 64 MiB, four times SQLite's default, so it stays out of the worker's way. */
const SAFETY_NET_PAGES = 4000;
/** SQLite's default, restored if the worker dies. */
const DEFAULT_PAGES = 1000;

// Inline CommonJS: the same code under tsc's dist and under vitest's TypeScript sources.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma("busy_timeout = 5000");
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
    if (this.inFlight) this.again = true;
    else this.post();
  }

  /** Resolves once no checkpoint is in flight or asked for. */
  idle(): Promise<void> {
    if (!this.inFlight) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops the worker, once its checkpoint in flight (if any) is done; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const worker = this.worker;
    if (!worker) return;
    const exited = new Promise((resolve) => worker.once("exit", resolve));
    worker.ref(); // this wait must hold the process up, or it would end with close() unsettled
    worker.postMessage("close");
    await exited;
  }

  private start(): void {
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { file: this.file, driver } });
    worker.unref(); // a server that is done must not stay up for its checkpointer
    worker.on("message", () => {
      this.inFlight = false;
      if (this.again && !this.closed) {
        this.again = false;
        this.post();
      } else this.settle();
    });
    worker.on("error", () => {
      // Back to SQLite's own checkpoints on the main thread: slower, never unbounded.
      this.db.pragma(`wal_autocheckpoint = ${DEFAULT_PAGES}`);
      this.worker = null;
      this.closed = true;
      this.inFlight = false;
      this.settle();
    });
    this.db.pragma(`wal_autocheckpoint = ${SAFETY_NET_PAGES}`);
    this.worker = worker;
  }

  private settle(): void {
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private post(): void {
    this.inFlight = true;
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
