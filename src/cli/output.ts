/**
 * Output of CLI commands: where it goes (injectable, so tests read it without touching the
 * process's stdout), text from the server made safe for a terminal, an aligned table, and times
 * and durations in the same shape as the server's pages, so the terminal and the browser read
 * alike.
 */
import { jsonReplacer } from "../protocol/api.js";
export { formatBytes } from "../protocol/metadata-format.js";

/** Where a command writes its results; tests pass their own. */
export interface CommandIo {
  out(text: string): void;
}

/** The process's stdout. */
export const stdoutIo: CommandIo = { out: (text) => void process.stdout.write(text) };

/**
 * What a terminal would act on instead of showing: C0 control characters (ESC starts the escape
 * sequences that retitle the window, clear the screen or move the cursor), DEL, C1 (0x80-0x9F:
 * 0x9B is a one-character CSI on some terminals) and the bidirectional overrides and isolates
 * (U+202A-U+202E, U+2066-U+2069), which make text read in another order than it is stored.
 */
const UNSAFE_LINE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
/** The same, but newline and tab pass: text shown as lines (console output, notes, an error). */
const UNSAFE_TEXT = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
/** What JSON.stringify leaves as it is among those (it escapes only C0). */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

function escaped(c: string): string {
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
}

/**
 * Text stored on the server (names, tags, notes, console lines: anything a run's process chose),
 * made safe to print on a terminal: each character a terminal would act on becomes a visible
 * escape (`\x1b`, `\u202e`), so a run name cannot retitle the window or clear the screen.
 * `multiline` lets newline and tab through. `--json` output keeps the exact text instead
 * ({@link terminalJson}).
 *
 * @example
 * printable("evil\x1b]0;pwned\x07") // "evil\\x1b]0;pwned\\x07"
 */
export function printable(text: string, multiline = false): string {
  return text.replace(multiline ? UNSAFE_TEXT : UNSAFE_LINE, escaped);
}

/**
 * JSON for a terminal: what JSON.stringify leaves raw among the characters a terminal acts on
 * (DEL, C1, bidirectional controls) is written as a `\uXXXX` escape too. They only ever occur
 * inside strings, so the text is still the same JSON: JSON.parse gives back the exact value.
 */
export function terminalJson(value: unknown): string {
  return JSON.stringify(value, jsonReplacer, 2).replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

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

