/**
 * The ingest writer's thread (ingest-writer.ts): a second connection to the server's SQLite file
 * that applies uploads and heartbeats, one message at a time, in the order they were posted.
 * It answers each with its outcome or its error; it never ends on an error of one message.
 */
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { isTracksideError } from "../../protocol/errors.js";
import { configureConnection } from "./sqlite-connection.js";
import { SqliteIngest } from "./sqlite-ingest.js";
import { SqliteLiveness } from "./sqlite-liveness.js";
import type { WriterData, WriterFault, WriterJob, WriterReply } from "./ingest-writer.js";
import { WriterGate } from "./writer-gate.js";

const { file, autocheckpointPages, gate: shared } = workerData as WriterData;
const gate = new WriterGate(shared);
const db = new Database(file);
configureConnection(db);
// The checkpointer's thread copies the WAL into the file (wal-checkpointer.ts); this connection
// keeps only the same safety net as the main one, so its commits do not checkpoint.
db.pragma(`wal_autocheckpoint = ${autocheckpointPages}`);
const ingest = new SqliteIngest(db);
const liveness = new SqliteLiveness(db);
const port = parentPort!;

/** The error as plain data: a TracksideError keeps its code and details, anything else its name, message and code. */
function fault(err: unknown): WriterFault {
  if (isTracksideError(err)) return { trackside: true, code: err.code, message: err.message, details: { ...err.details } };
  const e = err instanceof Error ? err : new Error(String(err));
  const code = (e as { code?: unknown }).code;
  return { trackside: false, name: e.name, message: e.message, code: typeof code === "string" ? code : undefined, stack: e.stack };
}

port.on("message", (job: WriterJob | "close") => {
  if (job === "close") {
    db.close();
    port.close();
    return;
  }
  let reply: WriterReply;
  // Its turn at the write lock: after a main-thread write that wants it (writer-gate.ts).
  gate.enter();
  try {
    const value = job.op === "ingest" ? ingest.apply(job.target, job.records, job.now) : liveness.heartbeat(job.entity, job.project, job.runId, job.now);
    reply = { id: job.id, value };
  } catch (err) {
    reply = { id: job.id, error: fault(err) };
  } finally {
    gate.leave();
  }
  port.postMessage(reply);
});
