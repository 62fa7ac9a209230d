/** Stopping the SQLite helper threads (the WAL checkpointer, the ingest writer). */
import type { Worker } from "node:worker_threads";

/**
 * Sends the worker "close" (it answers the messages before it, closes its connection and its
 * port) and resolves once it has exited.
 */
export async function stopWorker(worker: Worker): Promise<void> {
  const exited = new Promise((resolve) => worker.once("exit", resolve));
  worker.ref(); // this wait must hold the process up, or it would end with the close unsettled
  worker.postMessage("close");
  await exited;
}
