/** How times, durations and values read in the app (the same forms as the CLI and old pages). */

export { formatBytes } from "../../protocol/metadata-format";

/** "2024-05-01 12:00:00 UTC", or an em dash. */
export function formatTime(iso: string | number | null): string {
  if (iso === null) return "—";
  return new Date(iso).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

/** "1h 2m 3s", "4m 5s", "6s", or an em dash. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null) return "—";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const parts = h > 0 ? [`${h}h`, `${m}m`, `${s % 60}s`] : m > 0 ? [`${m}m`, `${s % 60}s`] : [`${s}s`];
  return parts.join(" ");
}

/** A config or summary value in a table cell. */
export function formatValue(v: unknown): string {
  if (v === undefined || v === null) return "—";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : Math.abs(v) >= 1e-3 && Math.abs(v) < 1e6 ? String(+v.toPrecision(6)) : v.toExponential(4);
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

/** Dotted paths of the leaves of a nested object: {a: {b: 1}} -> ["a.b"]. */
export function leafKeys(obj: Record<string, unknown>, prefix = ""): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(obj)) {
    const path = prefix + k;
    if (v !== null && typeof v === "object" && !Array.isArray(v)) out.push(...leafKeys(v as Record<string, unknown>, `${path}.`));
    else out.push(path);
  }
  return out;
}

/** The value at a dotted path. */
export function atPath(obj: Record<string, unknown>, path: string): unknown {
  let cur: unknown = obj;
  for (const seg of path.split(".")) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

