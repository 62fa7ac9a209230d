/**
 * W&B's values as trackside stores them: the JSON that W&B writes (with bare NaN and
 * infinities), nested keys, and exit codes.
 */
import type { RunState, Scalar } from "../../protocol/records.js";

const SPECIAL: Record<string, number> = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity };
const MARK = "\u0000trackside-number:";

/**
 * JSON.parse that also reads the bare `NaN`, `Infinity` and `-Infinity` tokens W&B's Go and Python
 * writers emit for those floats (JSON has no spelling for them). Strings are left alone.
 *
 * @example
 * parseWandbJson('{"bad": NaN, "s": "NaN"}') // { bad: NaN, s: "NaN" }
 */
export function parseWandbJson(text: string): unknown {
  if (!/NaN|Infinity/.test(text)) return JSON.parse(text);
  let out = "";
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      out += c;
      if (c === "\\") out += text[++i] ?? "";
      else if (c === '"') quoted = false;
      i++;
      continue;
    }
    if (c === '"') {
      quoted = true;
      out += c;
      i++;
      continue;
    }
    const token = ["-Infinity", "Infinity", "NaN"].find((t) => text.startsWith(t, i));
    if (token) {
      out += JSON.stringify(MARK + token);
      i += token.length;
      continue;
    }
    out += c;
    i++;
  }
  return JSON.parse(out, (_k, v: unknown) => (typeof v === "string" && v.startsWith(MARK) ? SPECIAL[v.slice(MARK.length)] : v));
}

/** A W&B item's key path: `nested_key` when set, else `[key]`. */
export function itemPath(item: { key?: string; nested_key?: string[] }): string[] {
  return item.nested_key && item.nested_key.length > 0 ? item.nested_key : [item.key ?? ""];
}

export const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Sets `value` at `path` in `target`, making the objects on the way (a non-object on the way is replaced). */
export function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let at = target;
  for (const key of path.slice(0, -1)) {
    if (!isPlainObject(at[key])) at[key] = {};
    at = at[key] as Record<string, unknown>;
  }
  at[path[path.length - 1]] = value;
}

/** Removes the value at `path`, if there is one. */
export function deletePath(target: Record<string, unknown>, path: string[]): void {
  let at: unknown = target;
  for (const key of path.slice(0, -1)) {
    if (!isPlainObject(at)) return;
    at = at[key];
  }
  if (isPlainObject(at)) delete at[path[path.length - 1]];
}

/** What a history value became: stored, or left out because trackside cannot chart it (a W&B media object). */
export type Flattened = { key: string; value: Scalar } | { key: string; media: string };

/**
 * A logged W&B value as history cells: nested plain objects flatten to `a.b` keys (W&B's own
 * spelling of a nested metric); a list is kept as its JSON text; an object with `_type` (W&B's
 * images, tables, histograms...) is named as left out, for the importer to report.
 *
 * @example
 * flattenValue("nested", { x: 1, y: [1, 2] }) // [{key: "nested.x", value: 1}, {key: "nested.y", value: "[1,2]"}]
 */
export function flattenValue(key: string, value: unknown, out: Flattened[] = []): Flattened[] {
  if (isPlainObject(value)) {
    if (typeof value._type === "string") out.push({ key, media: value._type });
    else for (const [k, v] of Object.entries(value)) flattenValue(`${key}.${k}`, v, out);
  } else if (Array.isArray(value)) {
    out.push({ key, value: JSON.stringify(value) });
  } else if (typeof value === "number" || typeof value === "string" || typeof value === "boolean" || value === null) {
    out.push({ key, value });
  }
  return out;
}

/**
 * A W&B exit code as trackside's final state: 0 finished; 255, which the Python SDK sets on
 * KeyboardInterrupt (wandb/sdk/lib/exit_hooks.py), killed; any other failed.
 */
export function stateOfExitCode(code: number): RunState {
  return code === 0 ? "finished" : code === 255 ? "killed" : "failed";
}

/** ms since the epoch of a protobuf Timestamp; null when unset. */
export function timestampMs(t: { seconds?: number; nanos?: number } | undefined): number | null {
  if (!t || (t.seconds === undefined && t.nanos === undefined)) return null;
  return (t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}
