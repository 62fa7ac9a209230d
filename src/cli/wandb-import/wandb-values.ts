/**
 * The `.wandb` file's shapes of values: items' key paths, nested config and summary updates, and
 * protobuf timestamps. How a value becomes trackside's is protocol/wandb-mapping.ts, shared with
 * the server's W&B routes.
 */
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

/** ms since the epoch of a protobuf Timestamp; null when unset. */
export function timestampMs(t: { seconds?: number; nanos?: number } | undefined): number | null {
  if (!t || (t.seconds === undefined && t.nanos === undefined)) return null;
  return (t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}
