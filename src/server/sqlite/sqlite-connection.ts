/**
 * The settings every connection to a trackside SQLite file needs, whichever thread opens it:
 * the server's main connection (sqlite-store.ts) and its ingest writer (ingest-writer.ts).
 * `page_size` and `journal_mode` belong to the file and are set once, by the store when it
 * creates it; these belong to each connection.
 *
 * Two connections write to one file (ingest on the writer thread, everything else on the main
 * thread), so every write transaction is `db.transaction(fn).immediate()`: BEGIN IMMEDIATE takes
 * the write lock first, waiting up to busy_timeout for the other connection. A plain (deferred)
 * BEGIN reads first and asks for the lock at its first write; if the other connection committed
 * in between, SQLite refuses that write at once (SQLITE_BUSY_SNAPSHOT), without waiting.
 */
import type Database from "better-sqlite3";

/**
 * How long a connection waits for another's write lock before SQLite refuses with SQLITE_BUSY.
 * The main thread's wait for its turn with the ingest writer is bounded by the same (writer-gate.ts).
 */
export const BUSY_TIMEOUT_MS = 5000;

/** Applies the per-connection pragmas; see the comment on each. */
export function configureConnection(db: Database.Database): void {
  // A commit costs no fsync (WAL checkpoints do); see sqlite-store.ts on what a power cut loses.
  db.pragma("synchronous = NORMAL");
  db.pragma("foreign_keys = ON");
  // Another connection (the ingest writer, a CLI tool, a second server by mistake) waits rather
  // than failing at once.
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  // Reads through a memory map of the database file (the first GiB) instead of a read() and a
  // copy per page: a chart's first request reads a metric's column chunks, 16 MB for a
  // 1,000,000-step run, mostly overflow pages. Measured, 109/116 -> 94/81 ms. The price is
  // SQLite's documented one: a disk I/O error while reading becomes a crash (SIGBUS), not an
  // error reply; the daemons keep every upload in their WALs until the server has it.
  db.pragma("mmap_size = 1073741824");
}
