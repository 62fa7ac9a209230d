/**
 * Turns at SQLite's write lock for the two connections that write one file: the ingest writer's
 * thread (ingest-writer.ts) and the server's main thread.
 *
 * SQLite's own wait for a busy lock (busy_timeout) retries at growing intervals, and the writer
 * thread, with uploads queued, takes the lock again within microseconds of releasing it: under a
 * steady stream of uploads a main-thread write (a login, a renamed run, the sweeper) could miss
 * every opening and fail after busy_timeout. Here the main thread says it wants to write; the
 * writer finishes the upload it is storing, if any, and starts no other until that write is done.
 * So a main-thread write waits for at most one upload, and the writer for at most one write.
 *
 * Both sides block (Atomics.wait): each wait is bounded by the other side's one transaction.
 */
import { BUSY_TIMEOUT_MS } from "./sqlite-connection.js";

/** The writer's state (slot STATE): what holds the turn. */
const IDLE = 0;
const STORING = 1;
const MAIN_WRITING = 2;
const STATE = 0;
/** Slot WANT: 1 while the main thread waits for, or holds, the turn (exported for a test that stalls the writer). */
export const WANT = 1;

/**
 * One side's view of the turns, over memory both threads share.
 *
 * @example
 * const gate = new WriterGate(); // main thread; `gate.shared` goes to the worker in workerData
 * gate.hold(() => db.prepare("UPDATE runs ...").run()); // main: waits for the upload being stored
 * const w = new WriterGate(workerData.gate); w.enter(); store(upload); w.leave(); // worker
 */
export class WriterGate {
  readonly shared: SharedArrayBuffer;
  private readonly slots: Int32Array;
  /** The main thread's nesting of hold() (a write method calling another). */
  private depth = 0;

  constructor(shared = new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT)) {
    this.shared = shared;
    this.slots = new Int32Array(shared);
  }

  /** Worker: waits until no main-thread write wants or holds the turn, then takes it. */
  enter(): void {
    const s = this.slots;
    for (;;) {
      while (Atomics.load(s, WANT) === 1) Atomics.wait(s, WANT, 1);
      if (Atomics.compareExchange(s, STATE, IDLE, STORING) === IDLE) return;
      Atomics.wait(s, STATE, MAIN_WRITING);
    }
  }

  /** Worker: gives the turn back after its transaction. */
  leave(): void {
    Atomics.store(this.slots, STATE, IDLE);
    Atomics.notify(this.slots, STATE);
  }

  /** Main thread: runs `fn` (a write on the main connection) once the writer is between uploads. */
  hold<T>(fn: () => T): T {
    if (this.depth > 0) return this.nested(fn);
    const s = this.slots;
    Atomics.store(s, WANT, 1);
    let held = false;
    try {
      // A stuck writer: after busy_timeout the write goes ahead anyway, and SQLite's own wait decides.
      const deadline = performance.now() + BUSY_TIMEOUT_MS;
      for (;;) {
        if (Atomics.compareExchange(s, STATE, IDLE, MAIN_WRITING) === IDLE) {
          held = true;
          break;
        }
        const left = deadline - performance.now();
        if (left <= 0) break;
        Atomics.wait(s, STATE, STORING, left);
      }
      return this.nested(fn);
    } finally {
      if (held) {
        Atomics.store(s, STATE, IDLE);
        Atomics.notify(s, STATE);
      }
      Atomics.store(s, WANT, 0);
      Atomics.notify(s, WANT);
    }
  }

  /** Main thread: the writer is gone; nothing it held stays held. */
  reset(): void {
    Atomics.store(this.slots, STATE, IDLE);
    Atomics.store(this.slots, WANT, 0);
  }

  private nested<T>(fn: () => T): T {
    this.depth++;
    try {
      return fn();
    } finally {
      this.depth--;
    }
  }
}
