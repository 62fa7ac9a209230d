/**
 * W&B's values as trackside stores them, one rule for both ways a W&B run comes in: the server's
 * W&B routes (server/wandb/, a client logging online) and `trackside import wandb` (cli/wandb-import/,
 * a run logged offline). A run must look the same whichever way it came
 * (test/wandb-import/same-as-online.test.ts), so each rule lives here once.
 *
 * JSON as W&B writes it (the Go core's file_stream lines, the `value_json` of its `.wandb`
 * records): standard JSON plus bare `NaN`, `Infinity` and `-Infinity` tokens (Go's encoder writes
 * a float as it is), which `JSON.parse` refuses. A logged NaN is a value like any other in
 * trackside, so it must be read as the number, not dropped with its line.
 */
import type { JsonObject, RunState, Scalar } from "./records.js";


/** A marker no JSON string from a client can hold as is: U+0000 cannot appear raw inside a JSON string. */
const MARK = "\u0000wandb-nonfinite:";
const TOKENS: readonly [string, number][] = [
  ["-Infinity", -Infinity],
  ["Infinity", Infinity],
  ["NaN", NaN],
];

/**
 * Parses one JSON text, reading the bare tokens `NaN`, `Infinity` and `-Infinity` (outside
 * strings) as those numbers.
 * @throws SyntaxError for anything else that is not JSON.
 *
 * @example
 * parseWandbJson('{"loss":NaN,"x":-Infinity}') // { loss: NaN, x: -Infinity }
 */
export function parseWandbJson(text: string): unknown {
  if (!/NaN|Infinity/.test(text)) return JSON.parse(text);
  let out = "";
  let from = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      continue;
    }
    for (const [token] of TOKENS) {
      if (text.startsWith(token, i)) {
        out += text.slice(from, i) + JSON.stringify(MARK + token);
        i += token.length - 1;
        from = i + 1;
        break;
      }
    }
  }
  out += text.slice(from);
  return JSON.parse(out, (_key, value: unknown) => {
    if (typeof value === "string" && value.startsWith(MARK)) {
      const token = value.slice(MARK.length);
      return TOKENS.find(([t]) => t === token)?.[1] ?? value;
    }
    return value;
  });
}

const isPlainObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

/** W&B's bookkeeping key in a config, a summary or a history row: never a user's value. */
export const WANDB_OWN_KEY = "_wandb";

/**
 * How deep a logged value flattens into `a.b.c` keys; deeper, the rest is one cell of JSON text.
 * A value nested thousands deep (JSON.parse takes it) would otherwise overflow the stack here.
 */
const MAX_FLATTEN_DEPTH = 32;

/**
 * JSON text of `value` down to `depth` levels, deeper levels as `"…"`: JSON.stringify itself
 * recurses, and overflows the stack on a value nested thousands deep.
 */
function cappedJson(value: unknown, depth: number): string {
  if (Array.isArray(value)) return depth <= 0 ? '"…"' : `[${value.map((v) => cappedJson(v, depth - 1)).join(",")}]`;
  if (isPlainObject(value)) {
    if (depth <= 0) return '"…"';
    return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}:${cappedJson(v, depth - 1)}`).join(",")}}`;
  }
  // As JSON.stringify writes them: NaN, the infinities and undefined as null.
  return JSON.stringify(value) ?? "null";
}

/** What a logged value became in a history row: a cell, or left out because trackside cannot chart it (a W&B media object). */
export type WandbCell = { key: string; value: Scalar } | { key: string; media: string };

/**
 * A logged W&B value as history cells: nested plain objects flatten to `a.b` keys (W&B's own
 * spelling of a nested metric); a list is kept as its JSON text (it has no place in a column of
 * numbers, and dropping it would hide that it was logged); an object with `_type` (W&B's images,
 * tables, histograms...) is named as left out, for the caller to report or skip.
 *
 * @example
 * flattenWandbValue("nested", { x: 1, y: [1, 2] }) // [{key: "nested.x", value: 1}, {key: "nested.y", value: "[1,2]"}]
 */
export function flattenWandbValue(key: string, value: unknown, out: WandbCell[] = [], depth = 0): WandbCell[] {
  if (isPlainObject(value) && depth >= MAX_FLATTEN_DEPTH) {
    out.push({ key, value: cappedJson(value, MAX_FLATTEN_DEPTH) });
  } else if (isPlainObject(value)) {
    if (typeof value._type === "string") out.push({ key, media: value._type });
    else for (const [k, v] of Object.entries(value)) flattenWandbValue(`${key}.${k}`, v, out, depth + 1);
  } else if (Array.isArray(value)) {
    out.push({ key, value: cappedJson(value, MAX_FLATTEN_DEPTH) });
  } else if (typeof value === "number" || typeof value === "string" || typeof value === "boolean" || value === null) {
    out.push({ key, value });
  }
  return out;
}

/** The largest time a Date holds, in ms either side of the epoch (ECMAScript's time range). */
const MAX_TIME_MS = 8.64e15;

/**
 * W&B's `_timestamp` (seconds since the epoch, a float) in trackside's whole ms; `fallback` when
 * it is not a finite number or lies outside a Date's range (1e300: the record check refuses it,
 * and with it the whole request).
 */
export function wandbTimeMs<T>(seconds: unknown, fallback: T): number | T {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return fallback;
  const ms = Math.round(seconds * 1000);
  return Math.abs(ms) <= MAX_TIME_MS ? ms : fallback;
}

/**
 * A W&B summary as the run's summary: W&B's own `_wandb` left out, `_timestamp` from W&B's
 * seconds to ms as in history rows; nested objects stay nested, as W&B shows them.
 *
 * @example
 * wandbSummary({ acc: 1, _timestamp: 1700000000.5, _wandb: { runtime: 3 } }) // { acc: 1, _timestamp: 1700000000500 }
 */
export function wandbSummary(summary: JsonObject): JsonObject {
  const { [WANDB_OWN_KEY]: _own, ...values } = summary;
  void _own;
  if (typeof values._timestamp === "number") values._timestamp = wandbTimeMs(values._timestamp, values._timestamp);
  return values;
}

/**
 * How a W&B exit code ends a run: 0 finished; 255, which the Python SDK sets on KeyboardInterrupt
 * (wandb/sdk/lib/exit_hooks.py), killed; any other failed.
 */
export function wandbExitState(exitCode: number): { state: RunState; error: string | null } {
  if (exitCode === 0) return { state: "finished", error: null };
  if (exitCode === 255) return { state: "killed", error: "interrupted (W&B exit code 255: KeyboardInterrupt)" };
  return { state: "failed", error: null };
}
