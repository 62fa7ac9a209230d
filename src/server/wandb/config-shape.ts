/**
 * W&B's config on the wire: the Python SDK wraps every top-level key as `{"value": v}` (older
 * SDKs `{"desc": null, "value": v}`) and puts its own bookkeeping under `_wandb`; the JS SDK sends
 * the user's config raw. trackside keeps the user's plain values as the run's config, and
 * `_wandb` apart (run metadata, `wandb` key), where a resume reads `t` back.
 */
import type { JsonObject } from "../../protocol/records.js";

/** The key W&B's clients keep their own bookkeeping under, in the config. */
export const WANDB_CONFIG_KEY = "_wandb";

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

/** Whether `v` is a wrapped entry: an object of `value` and, at most, `desc`. */
function isWrapped(v: unknown): v is { value: unknown; desc?: unknown } {
  return isObject(v) && "value" in v && Object.keys(v).every((k) => k === "value" || k === "desc");
}

/**
 * The user's config and W&B's own part of it. Entries are unwrapped only when every top-level
 * value is wrapped: a raw config (the JS SDK's) whose one key happens to be `{value: 1}` stays as
 * the user wrote it.
 *
 * @example
 * splitConfig({ lr: { value: 0.1 }, _wandb: { value: { t: {} } } }) // { config: { lr: 0.1 }, wandb: { t: {} } }
 */
export function splitConfig(raw: JsonObject): { config: JsonObject; wandb: JsonObject | null } {
  const entries = Object.entries(raw);
  const wrapped = entries.length > 0 && entries.every(([, v]) => isWrapped(v));
  const config: JsonObject = {};
  let wandb: JsonObject | null = null;
  for (const [key, v] of entries) {
    const value = wrapped ? (v as { value: unknown }).value : v;
    if (key === WANDB_CONFIG_KEY) wandb = isObject(value) ? value : { value };
    else config[key] = value;
  }
  return { config, wandb };
}

/** A config as the Python SDK reads it back on resume: every key wrapped as `{"value": v}`. */
export function wrapConfig(config: JsonObject, wandb: JsonObject | null): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(config)) out[key] = { value };
  if (wandb) out[WANDB_CONFIG_KEY] = { value: wandb };
  return out;
}
