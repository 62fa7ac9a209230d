/**
 * Reading a run's free-form metadata (the daemon's probe, daemon/metadata-probe.ts, plus the run
 * record's `program`) as text, for `trackside runs show` and the web app's run overview. Every
 * field is optional; one of an unexpected type reads as null rather than shown wrong.
 *
 * Pure and browser-safe (no Node.js imports): the one protocol module the web app may import as
 * code, not only as types.
 */
export type Obj = Record<string, unknown>;

export const obj = (v: unknown): Obj | null => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : null);
export const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);
export const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
/** The parts that are there, joined; null if none is. */
export const joined = (parts: (string | null)[], sep = " "): string | null => parts.filter((p) => p !== null).join(sep) || null;

/** "16.0 GB" for 16384 MB, "512 MB" below a gigabyte (the daemon's MB are 2^20 bytes). */
export function formatMB(mb: number): string {
  return mb >= 1024 ? `${(mb / 1024).toFixed(1)} GB` : `${Math.round(mb)} MB`;
}

/**
 * "512 B", "1.50 KiB", "20.0 MiB", "1.00 GiB": sizes in binary units, for artifacts and files
 * (the CLI and the web app alike).
 */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${units[i]}`;
}

/** A shell-like rendering of a command line: arguments with spaces or quotes get quoted. */
export function formatCommand(program: Obj | null): string | null {
  if (!program || typeof program.executable !== "string") return null;
  const args = Array.isArray(program.args) ? program.args.map(String) : [];
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return [program.executable, ...args].map(quote).join(" ");
}

/** "linux 6.1.0 (Ubuntu 22.04, x64)" from the probe's object; a plain string as it is. */
export function formatOs(os: unknown): string | null {
  const o = obj(os);
  if (!o) return str(os);
  const detail = joined([str(o.distro), str(o.arch)], ", ");
  return joined([str(o.platform), str(o.release), detail ? `(${detail})` : null]);
}
