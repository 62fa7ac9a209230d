/**
 * Uploads stored on a writer thread, off the server's event loop.
 *
 * Without it the server's one thread takes in an upload (HTTP, msgpack, checks) and then stores
 * it (SQLite's inserts and commit), and only then reads the next upload's bytes. With it, the
 * main thread decodes and checks each upload, then hands its records to this thread, which
 * stores them on a second connection to the same file while the main thread takes in the next.
 * A reply still comes only after the commit, so an acknowledged upload is as stored as before.
 *
 * Order and atomicity are unchanged: the thread applies its messages one at a time, in the order
 * they were posted, each upload in one transaction. The main thread's own writes (accounts,
 * views, the sweeper) take SQLite's write lock with BEGIN IMMEDIATE (sqlite-connection.ts), and
 * take turns with the writer's uploads (writer-gate.ts): each waits for at most one upload.
 * Heartbeats, many a second on a busy server, go through the thread too while it runs, so that
 * the main thread does not wait for the upload being stored at each one.
 *
 * The thread starts once the store has taken START_AT_ROWS rows: a server of a few slow runs
 * never starts one. Should it die, uploads are stored on the main thread again, as before it
 * started; the uploads it held are refused (TRK_ERR_INTERNAL), and their daemons send them again.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { errors, TracksideError, type ErrorCode } from "../../protocol/errors.js";
import type { RunRecord } from "../../protocol/records.js";
import { seqSpan } from "../../protocol/records.js";
import { isKnownKind } from "../../protocol/record-check.js";
import { packageRoot } from "../../protocol/version.js";
import { stopWorker } from "./stop-worker.js";
import { WriterGate } from "./writer-gate.js";
import type { IngestOutcome, IngestTarget } from "../store/store.js";

/**
 * Rows taken before the thread starts. A thread costs a few MB and its start about 30 ms;
 * below a few seconds of a fast logger's rows, storing is not what the server waits on.
 */
const START_AT_ROWS = 16_384;

/** When the store uses the thread: after START_AT_ROWS rows, from its first upload (tests), or never. */
export type IngestThreadMode = "auto" | "always" | "never";

const MODES: readonly string[] = ["auto", "always", "never"] satisfies IngestThreadMode[];

/**
 * The mode, checked: a program's own value is not typed for it (JavaScript, or the environment
 * variable's `on`/`off` passed through), and anything but "never" would otherwise start the thread.
 * @throws TRK_ERR_INVALID_OPTION naming the value.
 */
export function checkIngestThreadMode(mode: unknown): IngestThreadMode {
  if (typeof mode !== "string" || !MODES.includes(mode)) throw errors.invalidOption("ingestThread", mode, '"auto", "always" or "never"');
  return mode as IngestThreadMode;
}

/** What the thread is started with. */
export interface WriterData {
  file: string;
  autocheckpointPages: number;
  /** The turns at the write lock (writer-gate.ts). */
  gate: SharedArrayBuffer;
}

/** A message to the thread. */
export type WriterJob =
  | { id: number; op: "ingest"; target: IngestTarget; records: RunRecord[]; now: number }
  | { id: number; op: "heartbeat"; entity: string; project: string; runId: string; now: number };

/** An error, as plain data that crosses to the main thread. */
export type WriterFault =
  | { trackside: true; code: ErrorCode; message: string; details: Record<string, unknown> }
  | { trackside: false; name: string; message: string; code: string | undefined; stack: string | undefined };

/** The thread's answer to one job. */
export type WriterReply = { id: number; value: IngestOutcome | boolean; error?: undefined } | { id: number; error: WriterFault };

/** The error the thread caught, rebuilt on this side: the same code and message the route would have thrown. */
function rebuild(f: WriterFault): Error {
  if (f.trackside) return new TracksideError(f.code, f.message, f.details);
  const err = new Error(f.message) as Error & { code?: string };
  err.name = f.name;
  if (f.code !== undefined) err.code = f.code;
  if (f.stack) err.stack = f.stack;
  return err;
}

/** The worker's module: tsc's output beside this one, or (tests run this file from its TypeScript source) in dist/. */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith(".js")) return join(here, "..", "ingest-writer-worker.js");
  const root = packageRoot();
  return root ? join(root, "dist", "src", "server", "sqlite", "ingest-writer-worker.js") : "";
}

/** Rows a batch holds: a history record of columns counts each of its steps. */
function rowsOf(records: RunRecord[]): number {
  let n = 0;
  for (const r of records) n += isKnownKind(r.k) ? Math.max(1, seqSpan(r)) : 1;
  return n;
}

/**
 * The buffers of the typed arrays in `value` that each own their whole buffer (the decoder's
 * history columns): moved to the thread rather than copied, which took the main thread about as
 * long as the thread took to store them. A view into a larger buffer (a body's bytes, Node's
 * pool) is copied as usual: moving it would empty every other view of that buffer.
 */
function ownedBuffers(value: unknown, out: Set<ArrayBuffer>): Set<ArrayBuffer> {
  if (ArrayBuffer.isView(value)) {
    const buffer = value.buffer;
    if (buffer instanceof ArrayBuffer && value.byteOffset === 0 && value.byteLength === buffer.byteLength) out.add(buffer);
  } else if (Array.isArray(value)) {
    for (const v of value) if (typeof v === "object" && v !== null) ownedBuffers(v, out);
  } else if (typeof value === "object" && value !== null) {
    for (const v of Object.values(value)) if (typeof v === "object" && v !== null) ownedBuffers(v, out);
  }
  return out;
}

/**
 * The writer thread of one SQLite file, started on demand (see the top of this file).
 *
 * @example
 * const writer = new IngestWriter(file, "auto", 4000);
 * if (writer.carries(records)) outcome = await writer.ingest(target, records, now);
 * else outcome = ingester.apply(target, records, now);
 * await writer.close();
 */
export class IngestWriter {
  private worker: Worker | null = null;
  private readonly gate = new WriterGate();
  private readonly pending = new Map<number, { resolve: (v: IngestOutcome | boolean) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private rows = 0;
  /** No thread now or later: closed, died, or mode "never". */
  private done: boolean;

  constructor(
    private readonly file: string,
    private readonly mode: IngestThreadMode,
    private readonly autocheckpointPages: number,
  ) {
    this.done = mode === "never";
  }

  /** Whether the thread runs (or has just been started). */
  get running(): boolean {
    return this.worker !== null;
  }

  /**
   * Whether this batch goes to the thread: yes while it runs, and it starts when the rows taken
   * so far reach START_AT_ROWS (at once in mode "always").
   * @throws TRK_ERR_INTERNAL in mode "always" when the worker's compiled module is missing (`npm run build`) or the system refuses the thread.
   */
  carries(records: RunRecord[]): boolean {
    if (this.worker) return true;
    if (this.done) return false;
    this.rows += rowsOf(records);
    if (this.mode === "auto" && this.rows < START_AT_ROWS) return false;
    return this.start();
  }

  /**
   * Stores one upload on the thread; resolves after its commit, rejects with the error that
   * storing it threw. The records are the thread's from here: typed arrays that own their
   * buffer are moved there, and read as empty on this side.
   */
  ingest(target: IngestTarget, records: RunRecord[], now: number): Promise<IngestOutcome> {
    return this.post({ id: this.nextId++, op: "ingest", target, records, now }, [...ownedBuffers(records, new Set())]) as Promise<IngestOutcome>;
  }

  /** A heartbeat on the thread; false when the run does not exist. */
  heartbeat(entity: string, project: string, runId: string, now: number): Promise<boolean> {
    return this.post({ id: this.nextId++, op: "heartbeat", entity, project, runId, now }) as Promise<boolean>;
  }

  /**
   * Runs `fn`, a write on the main connection, between two of the thread's uploads (writer-gate.ts),
   * so that a steady stream of uploads cannot keep it waiting past SQLite's busy timeout.
   */
  hold<T>(fn: () => T): T {
    return this.worker ? this.gate.hold(fn) : fn();
  }

  /** Stops the thread once the jobs posted before have been answered; idempotent. */
  async close(): Promise<void> {
    this.done = true;
    const worker = this.worker;
    if (!worker) return;
    await stopWorker(worker);
  }

  private start(): boolean {
    const file = workerFile();
    if (!existsSync(file)) {
      // Tests run from the sources: the thread needs tsc's output of its module.
      if (this.mode === "always") throw errors.internal(`the ingest writer's module ${file || "ingest-writer-worker.js"} is missing: run \`npm run build\``);
      this.done = true;
      return false;
    }
    const data: WriterData = { file: this.file, autocheckpointPages: this.autocheckpointPages, gate: this.gate.shared };
    let worker: Worker;
    try {
      worker = new Worker(pathToFileURL(file), { workerData: data });
    } catch (err) {
      // The system refused the thread at once (ERR_WORKER_INIT_FAILED: a container's pids limit,
      // no memory for its stack): as after a death, the uploads stay on this thread for good.
      this.done = true;
      if (this.mode === "always") throw errors.internal(`the ingest writer thread could not start (${(err as Error).message})`);
      return false;
    }
    // Held up only while it holds jobs: a process that is done must not stay up for its writer,
    // and one awaiting an upload must not end before the answer.
    worker.unref();
    worker.on("message", (reply: WriterReply) => {
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0 && !this.done) worker.unref();
      if (reply.error) waiter.reject(rebuild(reply.error));
      else waiter.resolve(reply.value);
    });
    const fail = (why: string) => {
      if (this.worker !== worker) return;
      this.worker = null;
      this.done = true; // back to the main thread for good: a thread that died once would likely die again
      this.gate.reset();
      for (const waiter of this.pending.values()) waiter.reject(errors.internal(`the ingest writer thread ${why}; the upload was not stored`));
      this.pending.clear();
    };
    worker.on("error", (err) => fail(`failed: ${err.message}`));
    worker.on("exit", (code) => fail(`exited (code ${code})`));
    this.worker = worker;
    return true;
  }

  private post(job: WriterJob, transfer: ArrayBuffer[] = []): Promise<IngestOutcome | boolean> {
    const worker = this.worker;
    if (!worker) return Promise.reject(errors.internal("the ingest writer thread is not running"));
    return new Promise((resolve, reject) => {
      try {
        worker.postMessage(job, transfer); // throws at once for a value it cannot clone: nothing is pending then
      } catch (err) {
        reject(err as Error);
        return;
      }
      if (this.pending.size === 0) worker.ref();
      this.pending.set(job.id, { resolve, reject });
    });
  }
}
