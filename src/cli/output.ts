/**
 * Output of CLI commands: where it goes (injectable, so tests read it without touching the
 * process's stdout), an aligned table, and times and durations in the same shape as the
 * server's pages, so the terminal and the browser read alike.
 */

/** Where a command writes its results; tests pass their own. */
export interface CommandIo {
  out(text: string): void;
}

/** The process's stdout. */
export const stdoutIo: CommandIo = { out: (text) => void process.stdout.write(text) };

/**
 * Columns padded to their widest cell, two spaces apart; the last column is not padded.
 *
 * @example
 * formatTable(["ID", "STATE"], [["a1b2c3d4", "running"]])
 * // "ID        STATE\na1b2c3d4  running\n"
 */
export function formatTable(headers: string[], rows: string[][]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  return all
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i])))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")
    .concat("\n");
}

/** "2024-05-01 12:00:00 UTC" from an ISO string; "-" for none. */
export function formatIsoTime(iso: string | null): string {
  if (!iso) return "-";
  return iso.replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC");
}

/** "1h 2m 3s", "4m 5s", "6s"; "-" for none. */
export function formatSeconds(seconds: number | null): string {
  if (seconds === null) return "-";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h ${m}m ${s % 60}s`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}
