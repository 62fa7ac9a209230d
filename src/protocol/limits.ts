/**
 * One set of limits for everything a run holds, checked in three places that must agree: the
 * client (init() options, the run's setters, log() and config values), the daemon (a client's
 * batch, through record-check.ts, before it enters the WAL) and the server (ingest through the
 * same record-check.ts, and the PATCH of a run). docs/api.md lists them ("Limits"); a value over
 * one is TRK_ERR_TOO_LARGE, wherever it is caught.
 *
 * Lengths are JavaScript string lengths (UTF-16 code units), as `.length` counts them.
 */

/** A run's display name: a line in a table, not a paragraph. */
export const MAX_NAME = 128;
/** A run's notes (its description): 64 Ki characters is pages of text. */
export const MAX_NOTES = 64 * 1024;
/** Tags per run: a table cell shows a handful; 100 is already a list nobody reads. */
export const MAX_TAGS = 100;
/** One tag: a label, like a name. */
export const MAX_TAG = 64;
/** A run's group and job type: labels, like names. */
export const MAX_GROUP = 128;
export const MAX_JOB_TYPE = 128;
/** A project name; also why the server's maxParamLength must exceed it (app.ts). */
export const MAX_PROJECT = 128;
/** A run id given by the user (generated ones are 8 characters). */
export const MAX_RUN_ID = 64;
/**
 * A metric, config or summary key (one level of it: "lr", or "optimizer/lr" once flattened).
 * 256 characters is a long path of nested names; a 1 MB key is a mistake.
 */
export const MAX_KEY = 256;
/** A string value (a metric's text, a config entry): 64 Ki characters, like the notes. */
export const MAX_STRING_VALUE = 64 * 1024;
/**
 * Keys in one history step. A stored row is one msgpack map, and msgpackr's plain maps hold at
 * most 65,535 entries (map 16): 10,000 stays far below that and far above any real model's metrics.
 */
export const MAX_ROW_KEYS = 10_000;
/**
 * Nesting of config, summary and metadata values (objects and arrays). JSON that deep still
 * parses, but JSON.stringify and msgpack recurse once per level: 20,000 levels overflow the stack.
 */
export const MAX_DEPTH = 32;
/**
 * A config, summary or metadata object, estimated as JSON (keys and strings by length, other
 * values 8 bytes): each is sent whole with every change and shown on the run's page.
 */
export const MAX_OBJECT_BYTES = 16 * 1024 * 1024;
/** 64 Ki characters: far above any line a person reads, low enough that one cannot swamp a page. */
export const MAX_CONSOLE_LINE = 64 * 1024;
/**
 * The highest sequence number a record may take (its last one: seq + span - 1). 2^52 leaves
 * room above it, so that "the next seq" of any stored run is still a safe integer; at a million
 * records a second it is 142 years of logging.
 */
export const MAX_SEQ = 2 ** 52;

/**
 * The largest time in ms (either side of 1970) that a JavaScript Date holds: 100,000,000 days
 * (ECMA-262, "Time Values and Time Range"). A stored time beyond it made every read of its run
 * a 500 (`toISOString` throws a RangeError), so every time field is checked against it.
 */
export const MAX_TIME_MS = 8.64e15;

/** What one key of an object costs in objectCost: its characters, its quotes, a colon and a comma. */
export function keyCost(key: string): number {
  return key.length + 4;
}

/**
 * What a (plain, checked) value costs against MAX_OBJECT_BYTES, about as JSON would spell it:
 * numbers and booleans 8, null 4, strings their length + 2, arrays 2 + one per item, objects 2 +
 * each key's keyCost, plus what they hold, a Float64Array its bytes. Stops counting once over
 * `stopAt`. The one measure of the limit: the daemon's and server's checks (record-check.ts)
 * charge a config, summary, metadata or opaque record with it, and the client charges config
 * and summary changes with it, so that one too large is left out with a warning rather than
 * refused by the daemon with the batch it travels in.
 */
export function objectCost(v: unknown, stopAt = Infinity): number {
  let cost = 0;
  const walk = (x: unknown): void => {
    if (cost > stopAt) return;
    switch (typeof x) {
      case "number":
      case "boolean":
        cost += 8;
        return;
      case "string":
        cost += x.length + 2;
        return;
      case "object":
        if (x === null) cost += 4;
        else if (x instanceof Float64Array) cost += x.byteLength;
        else if (Array.isArray(x)) {
          cost += 2 + x.length;
          for (const item of x) walk(item);
        } else {
          cost += 2;
          for (const key in x) {
            cost += keyCost(key);
            walk((x as Record<string, unknown>)[key]);
          }
        }
        return;
      default:
        return;
    }
  };
  walk(v);
  return cost;
}
