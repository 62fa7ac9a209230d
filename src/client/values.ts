/**
 * What can be logged, and how: nested plain objects flatten to `a/b` keys; numbers (NaN and the
 * infinities included), booleans, strings and null are kept; anything else is refused with
 * TRK_ERR_UNLOGGABLE naming its key, and the rest of the call goes through. A key, a string or a
 * step over the limits of protocol/limits.ts is TRK_ERR_TOO_LARGE, the same way: the daemon and
 * the server check the same limits, and would otherwise refuse the whole batch it travels in.
 */
import { errors, MAX_DEPTH, MAX_KEY, MAX_ROW_KEYS, MAX_STRING_VALUE, type Scalar, type TracksideError } from "../protocol/index.js";
import { ImageMedia, Media } from "./media.js";

const RESERVED = new Set(["_step", "_timestamp", "_runtime"]);

function describe(v: unknown): string | null {
  switch (typeof v) {
    case "function":
      return "a function";
    case "symbol":
      return "a symbol";
    case "bigint":
      return "a BigInt";
    case "object": {
      if (Array.isArray(v)) return "an array (log its elements or statistics as separate keys)";
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) return `an instance of ${proto?.constructor?.name ?? "a class"}`;
      return null;
    }
    default:
      return null;
  }
}

/** Where flattened values go: a step's column batch, or a pending row. */
export interface ValueSink {
  put(key: string, value: Scalar): void;
}

/** A media value (or a list of images) found under its flattened key. */
export type FoundMedia = [key: string, value: Media | ImageMedia[]];

/**
 * Media values found by the current top-level flattenInto() call, for the caller to take
 * (takeMedia): they are not history values, and null (no allocation) when there are none.
 */
let foundMedia: FoundMedia[] | null = null;

/** Whether the last flattenInto() call found media values (a read of one variable: log()'s common path). */
export function hasMedia(): boolean {
  return foundMedia !== null;
}

/** The media values the last flattenInto() call found, or null; clears them. */
export function takeMedia(): FoundMedia[] | null {
  const found = foundMedia;
  foundMedia = null;
  return found;
}

function isMedia(v: unknown): v is Media | ImageMedia[] {
  return v instanceof Media || (Array.isArray(v) && v.length > 0 && v[0] instanceof ImageMedia);
}

/** Keeps a media value found under `full` for the caller, or reports its key over the limit. */
function noteMedia(full: string, v: Media | ImageMedia[], problems: TracksideError[] | null): TracksideError[] | null {
  if (full.length > MAX_KEY) (problems ??= []).push(errors.tooLarge(`The key ${JSON.stringify(full.slice(0, 64) + "…")}`, `${full.length} characters`, MAX_KEY));
  else (foundMedia ??= []).push([full, v]);
  return problems;
}

/** Keys put by the current top-level flattenInto() call (one log() call). */
let putCount = 0;
/** A step's keys, less the three that trackside adds (_step, _timestamp, _runtime). */
export const MAX_LOGGED_KEYS = MAX_ROW_KEYS - RESERVED.size;

/** The problem of a leaf over a limit (its key, or a string value), or null; checked before it is put. */
function overLimit(full: string, v: unknown): TracksideError | null {
  if (full.length > MAX_KEY) return errors.tooLarge(`The key ${JSON.stringify(full.slice(0, 64) + "…")}`, `${full.length} characters`, MAX_KEY);
  if (typeof v === "string" && v.length > MAX_STRING_VALUE) return errors.tooLarge(`The string logged as ${JSON.stringify(full)}`, `${v.length} characters`, MAX_STRING_VALUE);
  if (++putCount > MAX_LOGGED_KEYS) {
    return putCount === MAX_LOGGED_KEYS + 1 ? errors.tooLarge("The key count of one log() call", `over ${MAX_LOGGED_KEYS}`, `${MAX_LOGGED_KEYS} (the keys after it were not logged)`) : null;
  }
  return null;
}

/**
 * Puts the loggable leaves of `data` into `sink` under flattened keys and returns the problems
 * found (null in the common case: no allocation); the good keys go in all the same.
 * This runs once per log() call: keep it free of allocations on the flat-numbers path.
 */
export function flattenInto(sink: ValueSink, data: Record<string, unknown>, prefix = "", seen: object[] | null = null, problems: TracksideError[] | null = null): TracksideError[] | null {
  // foundMedia is null here: History takes it after every top-level call (takeMedia).
  if (seen === null) putCount = 0;
  for (const key in data) {
    const v = data[key];
    const t = typeof v;
    if (t === "number" || t === "string" || t === "boolean" || v === null) {
      // The common case costs two comparisons; a leaf over a limit is left out and reported.
      if (putCount >= MAX_LOGGED_KEYS || key.length + prefix.length > MAX_KEY || (t === "string" && (v as string).length > MAX_STRING_VALUE)) {
        const problem = overLimit(prefix + key, v);
        if (problem) (problems ??= []).push(problem);
        continue;
      }
      putCount++;
      if (prefix !== "") sink.put(prefix + key, v as Scalar);
      else if (key.charCodeAt(0) === 95 /* "_" */ && RESERVED.has(key)) {
        (problems ??= []).push(errors.unloggable(key, "a reserved key (trackside sets _step, _timestamp and _runtime itself)"));
      } else sink.put(key, v as Scalar);
      continue;
    }
    if (v === undefined) continue;
    const full = prefix + key;
    // Media (and a list of images) are records of their own, not history values: off the scalar path.
    // (In a function of its own: flattenInto stays small enough for V8 to inline.)
    if (isMedia(v)) {
      problems = noteMedia(full, v, problems);
      continue;
    }
    const bad = describe(v);
    if (bad) {
      (problems ??= []).push(errors.unloggable(full, bad));
      continue;
    }
    seen ??= [data];
    if (seen.includes(v as object)) {
      (problems ??= []).push(errors.unloggable(full, "a circular reference"));
      continue;
    }
    // Each level adds at least two characters to the key: the key limit bounds the depth.
    if (full.length >= MAX_KEY) {
      (problems ??= []).push(errors.tooLarge(`The key ${JSON.stringify(full.slice(0, 64) + "…")}`, "nested deeper than a key can name", `${MAX_KEY} characters`));
      continue;
    }
    seen.push(v as object);
    problems = flattenInto(sink, v as Record<string, unknown>, `${full}/`, seen, problems);
    seen.pop();
  }
  return problems;
}

/**
 * A JSON-safe deep copy of a config value: plain objects, arrays and scalars. Bad entries are left
 * out and reported.
 */
export function cleanConfigValue(v: unknown, path: string, problems: TracksideError[], seen: object[] = []): unknown {
  const t = typeof v;
  if (t === "string" && (v as string).length > MAX_STRING_VALUE) {
    problems.push(errors.tooLarge(`The string at ${JSON.stringify(path)}`, `${(v as string).length} characters`, MAX_STRING_VALUE));
    return undefined;
  }
  if (v === null || t === "number" || t === "string" || t === "boolean") return v;
  if (t === "function" || t === "symbol" || t === "bigint") {
    problems.push(errors.unloggable(path, describe(v) ?? t));
    return undefined;
  }
  if (t === "undefined") return undefined;
  if (seen.includes(v as object)) {
    problems.push(errors.unloggable(path, "a circular reference"));
    return undefined;
  }
  // The depth the daemon and the server accept (protocol/limits.ts), less one: a summary value
  // sits one level below the summary object that the server counts from.
  if (seen.length >= MAX_DEPTH - 1) {
    problems.push(errors.tooLarge(`The value at ${JSON.stringify(path)}`, `nested deeper than ${MAX_DEPTH} levels`, `${MAX_DEPTH} levels`));
    return undefined;
  }
  seen.push(v as object);
  try {
    if (Array.isArray(v)) return v.map((item, i) => cleanConfigValue(item, `${path}/${i}`, problems, seen) ?? null);
    if (v instanceof Date) return v.toISOString();
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) {
      problems.push(errors.unloggable(path, `an instance of ${proto?.constructor?.name ?? "a class"}`));
      return undefined;
    }
    const out: Record<string, unknown> = {};
    for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
      if (k.length > MAX_KEY) {
        problems.push(errors.tooLarge(`The key ${JSON.stringify(k.slice(0, 64) + "…")}`, `${k.length} characters`, MAX_KEY));
        continue;
      }
      const c = cleanConfigValue(item, path ? `${path}/${k}` : k, problems, seen);
      if (c !== undefined) out[k] = c;
    }
    return out;
  } finally {
    seen.pop();
  }
}

/** Throws the first problem of a config object given to init(). */
export function checkConfigObject(config: unknown, name: string): void {
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw errors.invalidOption(name, config, "a plain object");
  }
  const problems: TracksideError[] = [];
  cleanConfigValue(config, "", problems);
  if (problems.length > 0) throw problems[0];
}
