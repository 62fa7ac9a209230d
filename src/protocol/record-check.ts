/**
 * Checks records that come from outside (a daemon's upload body on the server, a client's batch
 * in the daemon) before anything is applied: a body is applied whole or not at all, so
 * every record is checked first and the first fault is reported as TRK_ERR_BAD_REQUEST naming
 * the record and the field. The checks are structural (the fields the store reads, and their
 * types); values inside history rows, config and summary are stored as sent.
 */
import { errors } from "./errors.js";
import { FINAL_STATES, type RunRecord, type RunState } from "./records.js";

const RUN_STATES: readonly RunState[] = ["running", ...FINAL_STATES];
const KINDS = new Set(["run", "history", "config", "summary", "update", "meta", "system", "console", "exit"]);
/** 64 Ki characters: far above any line a person reads, low enough that one cannot swamp a page. */
export const MAX_CONSOLE_LINE = 64 * 1024;
const STREAMS = new Set(["stdout", "stderr"]);

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
const isStringOrNull = (v: unknown) => v === null || typeof v === "string";
const isStringArray = (v: unknown) => Array.isArray(v) && v.every((t) => typeof t === "string");
const isFiniteNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

/**
 * Flattens the decoded batches of a msgpack body (each one a RunRecord[]) into one list.
 *
 * @example
 * flattenBatches(decodeMany(body)) // [[r1, r2], [r3]] -> [r1, r2, r3]
 */
export function flattenBatches(batches: unknown[]): unknown[] {
  const out: unknown[] = [];
  batches.forEach((batch, i) => {
    if (!Array.isArray(batch)) throw errors.badRequest(`msgpack value ${i} of the body is not an array of records`);
    for (const r of batch) out.push(r);
  });
  return out;
}

/**
 * Checks every record of a body and returns them typed, or throws TRK_ERR_BAD_REQUEST.
 * `runId` is the id in the URL: a run record for another run is refused rather than guessed at.
 *
 * @example
 * const records = validateRecords(JSON.parse(body), "a1b2c3d4");
 */
export function validateRecords(input: unknown, runId: string): RunRecord[] {
  if (!Array.isArray(input)) throw errors.badRequest("the body is not an array of records");
  for (let i = 0; i < input.length; i++) {
    const why = checkRecord(input[i], runId);
    if (why !== null) {
      const k = isObject(input[i]) ? ` (k ${JSON.stringify((input[i] as Obj).k)})` : "";
      throw errors.badRequest(`record ${i}${k}: ${why}; nothing in this body was applied`);
    }
  }
  return input as RunRecord[];
}

/** The fault of one record, or null when it is well formed. */
function checkRecord(r: unknown, runId: string): string | null {
  if (!isObject(r)) return "not an object";
  if (typeof r.k !== "string" || !KINDS.has(r.k)) return `unknown kind ${JSON.stringify(r.k)}`;
  if (!Number.isSafeInteger(r.seq) || (r.seq as number) < 0) return "seq is not a non-negative integer";
  switch (r.k) {
    case "run":
      return checkRunInfo(r.run, runId);
    case "history":
      return "cols" in r ? checkColumns(r.n, r.cols) : checkRows(r.rows);
    case "config":
    case "summary":
      return isObject(r[r.k]) ? null : `${r.k} is not an object`;
    case "meta":
      return isObject(r.metadata) ? null : "metadata is not an object";
    case "system":
      return checkSystem(r);
    case "console":
      return checkConsole(r.lines);
    case "update":
      if (r.name !== undefined && (typeof r.name !== "string" || r.name.length === 0)) return "name is not a non-empty string";
      if (r.notes !== undefined && !isStringOrNull(r.notes)) return "notes is not a string or null";
      if (r.tags !== undefined && !isStringArray(r.tags)) return "tags is not an array of strings";
      return null;
    case "exit":
      if (!RUN_STATES.includes(r.state as RunState)) return `state ${JSON.stringify(r.state)} is not one of ${RUN_STATES.join(", ")}`;
      if (r.exitCode !== null && !Number.isInteger(r.exitCode)) return "exitCode is not an integer or null";
      if (!isStringOrNull(r.signal)) return "signal is not a string or null";
      if (!isStringOrNull(r.error)) return "error is not a string or null";
      if (!isFiniteNumber(r.finishedAt)) return "finishedAt is not a time in ms";
      return null;
  }
  return null;
}

function checkRunInfo(run: unknown, runId: string): string | null {
  if (!isObject(run)) return "run is not an object";
  if (run.id !== runId) return `run.id ${JSON.stringify(run.id)} is not the run id of the URL (${JSON.stringify(runId)})`;
  if (typeof run.name !== "string" || run.name.length === 0) return "run.name is not a non-empty string";
  if (!isStringOrNull(run.notes)) return "run.notes is not a string or null";
  if (!isStringArray(run.tags)) return "run.tags is not an array of strings";
  if (!isStringOrNull(run.group)) return "run.group is not a string or null";
  if (!isStringOrNull(run.jobType)) return "run.jobType is not a string or null";
  if (!isObject(run.config)) return "run.config is not an object";
  if (!isFiniteNumber(run.createdAt)) return "run.createdAt is not a time in ms";
  if (!isObject(run.program)) return "run.program is not an object";
  return null;
}

function checkSystem(r: Obj): string | null {
  if (r.seq !== 0) return "seq is not 0 (system samples are the daemon's, keyed by their time)";
  if (!isFiniteNumber(r.at)) return "at is not a time in ms";
  if (!isObject(r.values)) return "values is not an object";
  for (const [key, v] of Object.entries(r.values)) {
    // NaN and the infinities are numbers too (a GPU that reports no temperature): kept as sent.
    if (typeof v !== "number") return `value of ${JSON.stringify(key)} is not a number`;
    if (key === "at") return `key "at" is reserved (it names the sample's time in the API)`;
  }
  return null;
}

function checkConsole(lines: unknown): string | null {
  if (!Array.isArray(lines)) return "lines is not an array";
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as Obj;
    if (!isObject(line)) return `line ${i} is not an object`;
    if (!isFiniteNumber(line.at)) return `line ${i}: at is not a time in ms`;
    if (typeof line.stream !== "string" || !STREAMS.has(line.stream)) return `line ${i}: stream ${JSON.stringify(line.stream)} is not "stdout" or "stderr"`;
    if (typeof line.text !== "string") return `line ${i}: text is not a string`;
    if (line.text.length > MAX_CONSOLE_LINE) return `line ${i}: text is ${line.text.length} characters, over the limit of ${MAX_CONSOLE_LINE} (split it)`;
  }
  return null;
}

function checkRows(rows: unknown): string | null {
  if (!Array.isArray(rows)) return "rows is not an array";
  // The hot loop of validation: two typeof checks per row, nothing per value.
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as Obj;
    if (!isObject(row)) return `row ${i} is not an object`;
    if (!isFiniteNumber(row._step)) return `row ${i} has no numeric _step`;
    if (!isFiniteNumber(row._timestamp)) return `row ${i} has no numeric _timestamp`;
  }
  return null;
}

function checkColumns(n: unknown, cols: unknown): string | null {
  if (!Number.isSafeInteger(n) || (n as number) < 0) return "n is not a non-negative integer";
  if (!isObject(cols)) return "cols is not an object";
  for (const [key, col] of Object.entries(cols)) {
    const ok = Array.isArray(col) || col instanceof Float64Array;
    if (!ok) return `column ${JSON.stringify(key)} is not an array`;
    if ((col as ArrayLike<unknown>).length !== n) return `column ${JSON.stringify(key)} has ${(col as ArrayLike<unknown>).length} values for ${n} steps`;
  }
  for (const key of ["_step", "_timestamp"]) {
    const col = cols[key] as ArrayLike<unknown> | undefined;
    if (!col) return `no ${key} column`;
    for (let i = 0; i < (n as number); i++) if (!isFiniteNumber(col[i])) return `step ${i} has no numeric ${key}`;
  }
  return null;
}
