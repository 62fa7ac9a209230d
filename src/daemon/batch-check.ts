/**
 * A client's record batch, checked before it enters the run's WAL. What the WAL holds is
 * uploaded as it is, and one frame the server cannot take would stop a run's upload, so the
 * daemon decodes the batch with the untrusted settings (codec.ts), checks its records with the
 * server's own rules (record-check.ts), and checks that they are the client's, of this run, and
 * numbered exactly `first..last`. The batch is then written as received: the bytes, not a
 * re-encoding. Measured: 0.23 ms per 4,096-row batch of 13 numeric columns (18 M rows/s), far
 * above what the socket carries (2.1-2.4 M rows/s, DESIGN.md).
 */
import {
  decodeUntrusted,
  errors,
  historyLength,
  isTracksideError,
  type RunInfo,
  type RunRecord,
} from "../protocol/index.js";
import { validateRecords } from "../protocol/record-check.js";

/** What the daemon needs to know of a checked batch. */
export interface CheckedBatch {
  /** The batch holds the run's exit record: the run has its final state. */
  hasExit: boolean;
  /** The highest `_step` among its history rows, or -1. */
  lastStep: number;
}

/** Kinds only the daemon makes (metadata probe, system samples, refusal reports). */
const DAEMON_KINDS = new Set(["meta", "system", "refused"]);

/**
 * Decodes and checks one batch for `run`; throws a coded error (TRK_ERR_BAD_FRAME for what is not
 * a batch, the record checks' codes for a bad record, TRK_ERR_BAD_SEQUENCE for numbers that
 * disagree with `first..last`).
 *
 * @example
 * const { hasExit } = checkBatch(payload, stream.settings.run, 11, 20);
 */
export function checkBatch(payload: Uint8Array, run: RunInfo, first: number, last: number): CheckedBatch {
  let values: unknown[];
  try {
    values = decodeUntrusted(payload);
  } catch (err) {
    // The untrusted settings' own refusals (a 64-bit integer, a reference) keep their codes; bytes
    // that are no msgpack at all are a bad frame here, not the server's "bad request".
    if (isTracksideError(err) && err.code !== "TRK_ERR_BAD_REQUEST") throw err;
    throw errors.badFrame(`the batch is not msgpack (${(err as Error).message})`);
  }
  if (values.length !== 1 || !Array.isArray(values[0])) throw errors.badFrame("the batch is not one msgpack array of records");
  const records = validateRecords(values[0], run.id);
  const path = `${run.entity}/${run.project}/${run.id}`;
  let next = first;
  let hasExit = false;
  let lastStep = -1;
  records.forEach((r: RunRecord, i: number) => {
    if (DAEMON_KINDS.has(r.k)) throw errors.badFrame(`record ${i} is a "${r.k}" record, which only the daemon makes`);
    if (r.k === "run" && (r.run.entity !== run.entity || r.run.project !== run.project)) {
      throw errors.badFrame(`record ${i} is the run record of ${r.run.entity}/${r.run.project}/${r.run.id}, not of ${path}`);
    }
    if (r.seq !== next) throw errors.badSequence(path, `record ${i} has seq ${r.seq} where ${next} comes next in ${first}..${last}`);
    const span = r.k === "history" ? historyLength(r) : r.k === "console" ? r.lines.length : 1;
    if (span < 1) throw errors.badSequence(path, `record ${i} (${r.k}) is empty and takes no sequence number`);
    next += span;
    if (r.k === "exit") hasExit = true;
    if (r.k === "history") lastStep = Math.max(lastStep, lastStepOf(r));
  });
  if (next - 1 !== last) throw errors.badSequence(path, `its records end at seq ${next - 1}, not at last = ${last}`);
  return { hasExit, lastStep };
}

/** The last step of a (checked) history record: its steps go forward, so the last row's. */
export function lastStepOf(r: Extract<RunRecord, { k: "history" }>): number {
  if ("cols" in r) return r.n > 0 ? Number(r.cols._step[r.n - 1]) : -1;
  return r.rows.length > 0 ? r.rows[r.rows.length - 1]._step : -1;
}
