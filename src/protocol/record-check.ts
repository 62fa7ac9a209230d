/**
 * Checks records that come from outside (a daemon's upload body on the server, a client's batch
 * in the daemon) before anything is applied: a body is applied whole or not at all, so every
 * record is checked first and the first fault is thrown.
 *
 * Two kinds of fault. The shape of a record (the fields the store reads, and their types) is
 * TRK_ERR_BAD_REQUEST naming the record and the field. A value that could not be stored and read
 * back (a BigInt, a Set, a map with a key that is not a string, a cycle, nesting past MAX_DEPTH)
 * is TRK_ERR_BAD_VALUE naming its key, and one over a limit of limits.ts is TRK_ERR_TOO_LARGE.
 * Every value that passes is plain JSON-like data (numbers, NaN and the infinities included,
 * strings, booleans, null, arrays, objects with string keys), plus Float64Array history columns
 * and `undefined` (a column's gap; an absent field elsewhere): what JSON.stringify and the
 * server's msgpack codec write and read back.
 *
 * A msgpack map (another library's object, or a JS Map) is turned into a plain object in place
 * when every key is a string, and refused otherwise: the record returned is then all objects.
 */
import { errors, show, type TracksideError } from "./errors.js";
import {
  MAX_CONSOLE_LINE,
  MAX_DEPTH,
  MAX_GROUP,
  MAX_JOB_TYPE,
  MAX_KEY,
  MAX_NAME,
  MAX_NOTES,
  MAX_OBJECT_BYTES,
  MAX_ROW_KEYS,
  MAX_SEQ,
  MAX_STRING_VALUE,
  MAX_TAG,
  MAX_TAGS,
  MAX_TIME_MS,
  objectCost,
} from "./limits.js";
import { checkMediaValue } from "./media-check.js";
import { FINAL_STATES, type RunRecord, type RunState } from "./records.js";

const RUN_STATES: readonly RunState[] = ["running", ...FINAL_STATES];
/** The kinds this version applies; any other kind is kept opaque (see isKnownKind). */
const KINDS = new Set(["run", "history", "config", "summary", "update", "meta", "system", "console", "exit", "refused", "media"]);
/** A record kind's name: short, so a newer daemon's kind fits the server's table and page. */
const MAX_KIND = 64;
const STREAMS = new Set(["stdout", "stderr"]);

type Obj = Record<string, unknown>;

const isStringOrNull = (v: unknown) => v === null || typeof v === "string";
/** A time in ms that a Date can hold (MAX_TIME_MS), so that every read can show it. */
const isTimeMs = (v: unknown): v is number => typeof v === "number" && v >= -MAX_TIME_MS && v <= MAX_TIME_MS;
/**
 * A time the server keeps in a column of its own (a run's start and end, a line's or a sample's
 * time): whole ms, as Date.now() gives them. A database's integer column cannot hold 0.5 ms, and
 * both backends must take the same records.
 */
const isWholeTimeMs = (v: unknown): v is number => Number.isSafeInteger(v) && isTimeMs(v);
/** A step: a whole number, as the client counts them (history is indexed and ranged by it). */
const isStep = (v: unknown): v is number => Number.isSafeInteger(v);
/** Exit codes are 32-bit integers on every system (Node's process.exitCode is one too). */
const isExitCode = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= -(2 ** 31) && (v as number) < 2 ** 31;

/** True for the kinds this version of trackside applies; the rest are stored opaque. */
export function isKnownKind(kind: string): boolean {
  return KINDS.has(kind);
}

/**
 * Flattens the decoded batches of a msgpack body (each one a RunRecord[]) into one list.
 *
 * @example
 * flattenBatches(decodeUntrusted(body)) // [[r1, r2], [r3]] -> [r1, r2, r3]
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
 * Checks every record of a body and returns them typed, or throws (see the file's comment).
 * `runId` is the id in the URL: a run record for another run is refused rather than guessed at.
 * Records of a kind this version does not know are returned too, for the store to keep opaque.
 *
 * @example
 * const records = validateRecords(JSON.parse(body), "a1b2c3d4");
 */
export function validateRecords(input: unknown, runId: string): RunRecord[] {
  if (!Array.isArray(input)) throw errors.badRequest("the body is not an array of records");
  for (let i = 0; i < input.length; i++) {
    where = i;
    kindOf = undefined;
    const r = objectOf(input[i], ["record"]);
    if (r === null) throw errors.badRequest(`record ${i}: not an object; nothing in this body was applied`);
    if (r !== input[i]) input[i] = r;
    kindOf = r.k;
    const why = checkRecord(r, runId);
    if (why !== null) throw errors.badRequest(`record ${i}${context()}: ${why}; nothing in this body was applied`);
  }
  return input as RunRecord[];
}

// Where the check is, for the messages: set per record by validateRecords (checks are synchronous).
let where = 0;
let kindOf: unknown;

const context = () => (kindOf === undefined ? "" : ` (k ${show(kindOf)})`);

/** A key path for a message: `config.optimizer.lr`; a long one keeps its ends. */
function pathText(path: readonly (string | number)[]): string {
  const segs = path.map(String);
  return segs.length <= 12 ? segs.join(".") : [...segs.slice(0, 6), "…", ...segs.slice(-5)].join(".");
}

function badValue(path: readonly (string | number)[], why: string): TracksideError {
  return errors.badValue(pathText(path), `${why} (record ${where}${context()})`);
}

function tooLarge(what: string, size: number | string, limit: number | string): TracksideError {
  return errors.tooLarge(`${what} (record ${where}${context()})`, size, limit);
}

/**
 * The plain object that `v` stands for: `v` itself, or a new object for a Map whose keys are all
 * strings (a msgpack map); null for anything else. A Map with another key throws TRK_ERR_BAD_VALUE.
 */
function objectOf(v: unknown, path: (string | number)[]): Obj | null {
  if (typeof v !== "object" || v === null) return null;
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto === Object.prototype || proto === null) return v as Obj;
  if (!(v instanceof Map)) return null;
  const out: Obj = {};
  for (const [key, value] of v) {
    if (typeof key !== "string") throw badValue(path, `a map with a key that is not a string (${describe(key)}); keys must be strings`);
    // An own property named __proto__ would set the object's prototype instead.
    if (key === "__proto__") throw badValue([...path, key], "the key __proto__ is not allowed");
    out[key] = value;
  }
  return out;
}

/** Why a value that is not plain data cannot be stored, for a message. */
function notPlain(v: unknown): string {
  if (typeof v === "bigint") return `${describe(v)} cannot be read back as a number (send it as a string, or as a number if it fits)`;
  return `${describe(v)} is not plain data`;
}

/** What a value is, in a few words, for a message. */
function describe(v: unknown): string {
  if (typeof v === "bigint") return v >= -(2n ** 53n) && v <= 2n ** 53n ? "a BigInt" : "a 64-bit integer beyond 2^53";
  if (typeof v !== "object" || v === null) return typeof v === "string" ? "a string" : `a ${typeof v}`;
  if (Array.isArray(v)) return "an array";
  const name = (Object.getPrototypeOf(v) as { constructor?: { name?: string } } | null)?.constructor?.name;
  return name ? `${/^[AEIOU]/.test(name) ? "an" : "a"} ${name}` : "an object";
}

/**
 * Checks a config, summary, metadata (or opaque record) value in depth and returns it, turned
 * into plain objects where it held msgpack maps; throws TRK_ERR_BAD_VALUE or TRK_ERR_TOO_LARGE.
 * Its size is charged by the caller, with objectCost, once it is known to be plain and shallow.
 * Recursion stops at MAX_DEPTH, so a value nested 20,000 deep costs 32 calls, not a stack.
 */
function plainValue(v: unknown, path: (string | number)[], depth: number, typed: boolean): unknown {
  switch (typeof v) {
    case "number":
    case "boolean":
      return v;
    case "string":
      if (v.length > MAX_STRING_VALUE) throw tooLarge(`The string at ${show(pathText(path))}`, `${v.length} characters`, `${MAX_STRING_VALUE}`);
      return v;
    case "undefined":
      return v;
    case "object": {
      if (v === null) return v;
      if (depth >= MAX_DEPTH) throw tooLarge(`The value at ${show(pathText(path))}`, `nested deeper than ${MAX_DEPTH} levels`, `${MAX_DEPTH} levels`);
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          path.push(i);
          const c = plainValue(v[i], path, depth + 1, typed);
          path.pop();
          if (c !== v[i]) v[i] = c;
        }
      } else if (typed && v instanceof Float64Array) {
        // plain enough: a column of numbers
      } else {
        const o = objectOf(v, path);
        if (o === null) throw badValue(path, notPlain(v));
        for (const key in o) {
          if (key.length > MAX_KEY) throw tooLarge(`A key in ${show(pathText(path))}`, `${key.length} characters`, `${MAX_KEY}`);
          path.push(key);
          const item = o[key];
          const c = plainValue(item, path, depth + 1, typed);
          path.pop();
          if (c !== item) o[key] = c;
        }
        v = o;
      }
      return v;
    }
    default:
      throw badValue(path, notPlain(v));
  }
}

/** TRK_ERR_TOO_LARGE for a value that objectCost charges more than MAX_OBJECT_BYTES, `field` the one it is in. */
function overBudget(field: string): TracksideError {
  return tooLarge(`The value of ${show(field)}`, `over ${MAX_OBJECT_BYTES} bytes as JSON`, `${MAX_OBJECT_BYTES} bytes`);
}

/** Checks the object `r[field]` in depth (see plainValue) within MAX_OBJECT_BYTES; null when it is not an object. */
function checkObjectField(r: Obj, field: string, typed = false): string | null {
  const o = objectOf(r[field], [field]);
  if (o === null) return `${field} is not an object`;
  r[field] = plainValue(o, [field], 0, typed);
  if (objectCost(r[field], MAX_OBJECT_BYTES) > MAX_OBJECT_BYTES) throw overBudget(field);
  return null;
}

/** A history value: a number, string, boolean or null (undefined: no value at that step). */
function checkScalar(v: unknown, key: string): void {
  const t = typeof v;
  if (t === "number" || t === "boolean" || v === null || t === "undefined") return;
  if (t === "string") {
    if ((v as string).length > MAX_STRING_VALUE) throw tooLarge(`The history value of ${show(key)}`, `${(v as string).length} characters`, `${MAX_STRING_VALUE}`);
    return;
  }
  const nested = t === "object" && (Array.isArray(v) || objectOf(v, [key]) !== null);
  throw badValue([key], nested ? `${describe(v)} is not a history value (log a number, string, boolean or null; nested objects as keys a/b)` : notPlain(v));
}

function checkKey(key: string, what: string): void {
  if (key.length > MAX_KEY) throw tooLarge(`${what} ${show(key.slice(0, 64) + "…")}`, `${key.length} characters`, `${MAX_KEY}`);
}

/** The number of sequence numbers a record takes (records.ts seqSpan), from unchecked fields. */
function spanOf(r: Obj): number {
  if (r.k === "history") return "cols" in r ? Number(r.n) : Array.isArray(r.rows) ? r.rows.length : 1;
  if (r.k === "console") return Array.isArray(r.lines) ? r.lines.length : 1;
  return 1;
}

/** The fault of one record's shape, or null when it is well formed; value faults are thrown. */
function checkRecord(r: Obj, runId: string): string | null {
  if (typeof r.k !== "string" || r.k.length === 0) return `kind ${show(r.k)} is not a non-empty string`;
  if (!Number.isSafeInteger(r.seq) || (r.seq as number) < 0) return "seq is not a non-negative integer";
  const last = (r.seq as number) + Math.max(1, spanOf(r)) - 1;
  if (last > MAX_SEQ) throw tooLarge("The sequence number", last, MAX_SEQ);
  switch (r.k) {
    case "run":
      return checkRunInfo(r, runId);
    case "history":
      return "cols" in r ? checkColumns(r) : checkRows(r);
    case "config":
    case "summary":
    case "meta": {
      const field = r.k === "meta" ? "metadata" : r.k;
      return checkObjectField(r, field);
    }
    case "system":
      return checkSystem(r);
    case "console":
      return checkConsole(r.lines);
    case "update":
      if (r.name !== undefined) {
        if (typeof r.name !== "string" || r.name.length === 0) return "name is not a non-empty string";
        if (r.name.length > MAX_NAME) throw tooLarge("The run's name", `${r.name.length} characters`, MAX_NAME);
      }
      if (r.notes !== undefined) {
        if (!isStringOrNull(r.notes)) return "notes is not a string or null";
        if (r.notes !== null && r.notes.length > MAX_NOTES) throw tooLarge("The run's notes", `${r.notes.length} characters`, MAX_NOTES);
      }
      return r.tags === undefined ? null : checkTags(r.tags, "tags");
    case "exit":
      if (!RUN_STATES.includes(r.state as RunState)) return `state ${show(r.state)} is not one of ${RUN_STATES.join(", ")}`;
      if (r.exitCode !== null && !isExitCode(r.exitCode)) return "exitCode is not a 32-bit integer or null";
      if (!isStringOrNull(r.signal)) return "signal is not a string or null";
      if (!isStringOrNull(r.error)) return "error is not a string or null";
      if (!isWholeTimeMs(r.finishedAt)) return "finishedAt is not a whole time in ms (within a Date's range)";
      return null;
    case "refused":
      return checkRefused(r);
    case "media":
      return checkMedia(r);
    default:
      return checkUnknown(r);
  }
}

function checkTags(tags: unknown, field: string): string | null {
  if (!Array.isArray(tags) || !tags.every((t) => typeof t === "string" && t.length > 0)) return `${field} is not an array of non-empty strings`;
  if (tags.length > MAX_TAGS) throw tooLarge("The run's tag list", `${tags.length} tags`, MAX_TAGS);
  const long = (tags as string[]).find((t) => t.length > MAX_TAG);
  if (long !== undefined) throw tooLarge(`The tag ${show(long.slice(0, 64) + "…")}`, `${long.length} characters`, MAX_TAG);
  return null;
}

function checkRunInfo(r: Obj, runId: string): string | null {
  const run = objectOf(r.run, ["run"]);
  if (run === null) return "run is not an object";
  r.run = run;
  if (run.id !== runId) return `run.id ${show(run.id)} is not the run id of the URL (${show(runId)})`;
  if (typeof run.name !== "string" || run.name.length === 0) return "run.name is not a non-empty string";
  if (run.name.length > MAX_NAME) throw tooLarge("The run's name", `${run.name.length} characters`, MAX_NAME);
  if (!isStringOrNull(run.notes)) return "run.notes is not a string or null";
  if (run.notes !== null && run.notes.length > MAX_NOTES) throw tooLarge("The run's notes", `${run.notes.length} characters`, MAX_NOTES);
  const tags = checkTags(run.tags, "run.tags");
  if (tags !== null) return tags;
  if (!isStringOrNull(run.group)) return "run.group is not a string or null";
  if (run.group !== null && run.group.length > MAX_GROUP) throw tooLarge("The run's group", `${run.group.length} characters`, MAX_GROUP);
  if (!isStringOrNull(run.jobType)) return "run.jobType is not a string or null";
  if (run.jobType !== null && run.jobType.length > MAX_JOB_TYPE) throw tooLarge("The run's job type", `${run.jobType.length} characters`, MAX_JOB_TYPE);
  if (!isWholeTimeMs(run.createdAt)) return "run.createdAt is not a whole time in ms (within a Date's range)";
  const config = checkObjectField(run, "config");
  if (config !== null) return `run.${config}`;
  const program = checkObjectField(run, "program");
  return program === null ? null : `run.${program}`;
}

function checkSystem(r: Obj): string | null {
  if (r.seq !== 0) return "seq is not 0 (system samples are the daemon's, keyed by their time)";
  if (!isWholeTimeMs(r.at)) return "at is not a whole time in ms (within a Date's range)";
  const values = objectOf(r.values, ["values"]);
  if (values === null) return "values is not an object";
  r.values = values;
  let count = 0;
  for (const key in values) {
    // NaN and the infinities are numbers too (a GPU that reports no temperature): kept as sent.
    if (typeof values[key] !== "number") return `value of ${show(key)} is not a number`;
    if (key === "at") return `key "at" is reserved (it names the sample's time in the API)`;
    checkKey(key, "The system metric key");
    count++;
  }
  if (count > MAX_ROW_KEYS) throw tooLarge("The key count of the system sample", count, MAX_ROW_KEYS);
  return null;
}

function checkConsole(lines: unknown): string | null {
  if (!Array.isArray(lines)) return "lines is not an array";
  for (let i = 0; i < lines.length; i++) {
    const line = objectOf(lines[i], ["lines", i]);
    if (line === null) return `line ${i} is not an object`;
    lines[i] = line;
    if (!isWholeTimeMs(line.at)) return `line ${i}: at is not a whole time in ms`;
    if (typeof line.stream !== "string" || !STREAMS.has(line.stream)) return `line ${i}: stream ${show(line.stream)} is not "stdout" or "stderr"`;
    if (typeof line.text !== "string") return `line ${i}: text is not a string`;
    if (line.text.length > MAX_CONSOLE_LINE) throw tooLarge(`Console line ${i}`, `${line.text.length} characters`, `${MAX_CONSOLE_LINE} (split it)`);
  }
  return null;
}

function checkRows(r: Obj): string | null {
  const rows = r.rows;
  if (!Array.isArray(rows)) return "rows is not an array";
  // The hot loop of the row form: per value one typeof (checkScalar returns at once for a number).
  for (let i = 0; i < rows.length; i++) {
    const row = objectOf(rows[i], ["rows", i]);
    if (row === null) return `row ${i} is not an object`;
    if (row !== rows[i]) rows[i] = row;
    if (!isStep(row._step)) return `row ${i} has no whole-number _step`;
    if (!isTimeMs(row._timestamp)) return `row ${i} has no numeric _timestamp`;
    let count = 0;
    for (const key in row) {
      const v = row[key];
      if (typeof v !== "number") checkScalar(v, key);
      if (key.length > MAX_KEY) checkKey(key, "The history key");
      count++;
    }
    if (count > MAX_ROW_KEYS) throw tooLarge(`The key count of history row ${i}`, count, MAX_ROW_KEYS);
  }
  return null;
}

function checkColumns(r: Obj): string | null {
  const n = r.n;
  if (!Number.isSafeInteger(n) || (n as number) < 0) return "n is not a non-negative integer";
  const cols = objectOf(r.cols, ["cols"]);
  if (cols === null) return "cols is not an object";
  r.cols = cols;
  // Nothing per value for a Float64Array (the client's numeric columns, nearly all of them).
  let keys = 0;
  for (const key in cols) {
    const col = cols[key];
    keys++;
    checkKey(key, "The history key");
    if (col instanceof Float64Array) {
      if (col.length !== n) return `column ${show(key)} has ${col.length} values for ${n} steps`;
      continue;
    }
    if (!Array.isArray(col)) return `column ${show(key)} is not an array or a Float64Array`;
    if (col.length !== n) return `column ${show(key)} has ${col.length} values for ${n} steps`;
    for (let i = 0; i < col.length; i++) {
      const v: unknown = col[i];
      if (typeof v !== "number") checkScalar(v, key);
    }
  }
  for (const key of ["_step", "_timestamp"]) {
    const col = cols[key] as ArrayLike<unknown> | undefined;
    if (!col) return `no ${key} column`;
    const ok = key === "_timestamp" ? isTimeMs : isStep;
    for (let i = 0; i < (n as number); i++) if (!ok(col[i])) return `step ${i} has no ${key === "_step" ? "whole-number" : "numeric"} ${key}`;
  }
  // More columns than a row may hold keys: count each step's values (only then, it costs n x keys).
  if (keys > MAX_ROW_KEYS) {
    const columns = Object.values(cols) as ArrayLike<unknown>[];
    for (let i = 0; i < (n as number); i++) {
      let count = 0;
      for (const col of columns) if (col[i] !== undefined) count++;
      if (count > MAX_ROW_KEYS) throw tooLarge(`The key count of history step ${i}`, count, MAX_ROW_KEYS);
    }
  }
  return null;
}

function checkRefused(r: Obj): string | null {
  if (r.seq !== 0) return "seq is not 0 (refusal reports are the daemon's, keyed by their time)";
  if (!isWholeTimeMs(r.at)) return "at is not a whole time in ms (within a Date's range)";
  if (!Number.isSafeInteger(r.records) || (r.records as number) < 0) return "records is not a non-negative integer";
  if (!Number.isSafeInteger(r.bytes) || (r.bytes as number) < 0) return "bytes is not a non-negative integer";
  if (typeof r.error !== "string") return "error is not a string";
  if (r.error.length > MAX_STRING_VALUE) throw tooLarge("The refusal's error text", `${r.error.length} characters`, MAX_STRING_VALUE);
  return null;
}

/**
 * A media record (protocol/media.ts): a step, a key like a metric's, and a value checked field by
 * field (media-check.ts), within MAX_OBJECT_BYTES like a config (a table is logged whole).
 */
function checkMedia(r: Obj): string | null {
  if (!isStep(r.step)) return "step is not a whole number";
  if (typeof r.key !== "string" || r.key.length === 0) return "key is not a non-empty string";
  checkKey(r.key, "The media key");
  const value = objectOf(r.value, ["value"]);
  if (value === null) return "value is not an object";
  r.value = plainValue(value, [r.key], 0, false);
  const why = checkMediaValue(r.value);
  if (why !== null) return `${show(r.key)}: ${why}`;
  if (objectCost(r.value, MAX_OBJECT_BYTES) > MAX_OBJECT_BYTES) throw overBudget(r.key);
  return null;
}

/**
 * A record of a kind this version does not know (a newer daemon's): kept opaque, so it must be
 * plain data like a config (typed arrays allowed: a newer kind may carry columns), with a short
 * kind and, when it has one, a time `at` that keys it as the daemon's records are keyed.
 */
function checkUnknown(r: Obj): string | null {
  const kind = r.k as string;
  if (kind.length > MAX_KIND) return `kind is ${kind.length} characters long (at most ${MAX_KIND})`;
  if (r.at !== undefined && !isWholeTimeMs(r.at)) return "at is not a whole time in ms (within a Date's range)";
  let spent = 0;
  for (const key in r) {
    if (key === "k" || key === "seq") continue;
    checkKey(key, "The field");
    const c = plainValue(r[key], [key], 0, true);
    if (c !== r[key]) r[key] = c;
    spent += objectCost(c, MAX_OBJECT_BYTES);
    if (spent > MAX_OBJECT_BYTES) throw overBudget(key);
  }
  return null;
}
