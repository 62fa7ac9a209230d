/**
 * A run's dead-letter file: the frames the server refused for good, set aside so that the upload
 * goes on with the next one. Two files beside the WAL:
 *
 * - `dead-letter.wal`: the refused frames, byte for byte as they were in the WAL (same magic,
 *   same framing: src/protocol/wal-format.ts reads it, and so does anything that reads a WAL);
 * - `dead-letter.jsonl`: one JSON line per frame, written after it, with the server's answer:
 *   `{ at, walOffset, offset, bytes, records, error, own?, first?, last? }` (`walOffset`: where
 *   the frame was in the run's WAL; `offset`: where it is in dead-letter.wal; `own`: it held only
 *   the daemon's refusal reports).
 *
 * The daemon sets aside here too the client batches it refuses at its door (run-stream.ts
 * `refuse`): they never were in the WAL, so their `walOffset` is -1, and `first`/`last` say
 * which of the run's sequence numbers they took (absent when the batch did not say: a spill
 * frame that does not decode). Both kinds count alike in what finish() reports.
 *
 * A daemon that takes the run over reads the notes back: finish() still counts what an earlier
 * daemon set aside, a frame refused again after a crash is not set aside twice, and the run's
 * sequence goes on after the last batch refused at the door (lastSeq).
 */
import { appendFileSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { WAL_MAGIC, decode, type RefusedSummary } from "../protocol/index.js";

/** One refused frame, as the notes file keeps it. */
export interface Refusal {
  /** ms since the epoch */
  at: number;
  walOffset: number;
  /** Header and payload. */
  bytes: number;
  records: number;
  /** The server's answer: its TRK_ERR_* code and message, or the HTTP status. */
  error: string;
  /**
   * The frame held nothing but the daemon's own refusal reports (an older server that does not
   * know the `refused` kind): set aside like the others, but not counted as the user's records.
   */
  own?: boolean;
  /** A batch refused at the daemon's door (walOffset -1): the sequence numbers it took. */
  first?: number;
  last?: number;
}

/** The walOffset of a batch the daemon refused before it reached the WAL. */
export const NOT_IN_WAL = -1;

export const DEAD_LETTER_FILE = "dead-letter.wal";
export const DEAD_LETTER_NOTES = "dead-letter.jsonl";

export class DeadLetter {
  readonly path: string;
  private readonly notesPath: string;
  private readonly seen = new Set<number>();
  private summary: RefusedSummary | null = null;
  private highestLast = 0;

  constructor(runDir: string) {
    this.path = join(runDir, DEAD_LETTER_FILE);
    this.notesPath = join(runDir, DEAD_LETTER_NOTES);
    for (const note of readNotes(this.notesPath)) this.count(note);
  }

  /** Everything set aside so far (by this daemon or an earlier one), or null when nothing was. */
  refused(): RefusedSummary | null {
    return this.summary;
  }

  /** Whether the frame that was at `walOffset` in the WAL is already set aside. */
  has(walOffset: number): boolean {
    return walOffset !== NOT_IN_WAL && this.seen.has(walOffset);
  }

  /** The highest sequence number of a batch refused at the daemon's door, or 0. */
  lastSeq(): number {
    return this.highestLast;
  }

  /** Appends one frame (header and payload, as in the WAL) and its note. */
  add(frame: Uint8Array, refusal: Refusal): void {
    if (this.has(refusal.walOffset)) return;
    if (!existsSync(this.path) || statSync(this.path).size < WAL_MAGIC.length) writeFileSync(this.path, WAL_MAGIC, { mode: 0o600 });
    const offset = statSync(this.path).size;
    appendFileSync(this.path, frame);
    appendFileSync(this.notesPath, `${JSON.stringify({ ...refusal, offset })}\n`, { mode: 0o600 });
    this.count(refusal);
  }

  private count(r: Refusal): void {
    this.seen.add(r.walOffset);
    if (typeof r.last === "number" && Number.isSafeInteger(r.last)) this.highestLast = Math.max(this.highestLast, r.last);
    if (r.own) return;
    const s = this.summary ?? { frames: 0, records: 0, bytes: 0, error: r.error, file: this.path };
    this.summary = { ...s, frames: s.frames + 1, records: s.records + r.records, bytes: s.bytes + r.bytes };
  }
}

/** The notes of an earlier daemon; a torn last line (a crash mid-write) is skipped. */
function readNotes(path: string): Refusal[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return [];
  }
  const notes: Refusal[] = [];
  for (const line of text.split("\n")) {
    try {
      const n = JSON.parse(line) as Refusal;
      if (typeof n.walOffset === "number" && typeof n.records === "number" && typeof n.bytes === "number") notes.push(n);
    } catch {
      // an empty or torn line
    }
  }
  return notes;
}

/**
 * How many records a frame's payload holds, counted as finish() counts pending ones: a history
 * or console record takes one per row or line, any other one. Defensive: the payload is what the
 * server refused, so it may be anything; what does not decode counts 0.
 */
export function countRecords(payload: Uint8Array): number {
  const batch = decodeBatch(payload);
  let n = 0;
  for (const r of batch ?? []) {
    const o = r as { k?: unknown; n?: unknown; rows?: unknown; lines?: unknown; cols?: unknown };
    if (o?.k === "history" && o.cols !== undefined && Number.isSafeInteger(o.n) && (o.n as number) > 0) n += o.n as number;
    else if (o?.k === "history" && Array.isArray(o.rows)) n += Math.max(1, o.rows.length);
    else if (o?.k === "console" && Array.isArray(o.lines)) n += Math.max(1, o.lines.length);
    else n++;
  }
  return n;
}

/** The kinds of a payload's records (`k`), or null when it is not an array. */
export function kindsOf(payload: Uint8Array): unknown[] | null {
  return decodeBatch(payload)?.map((r) => (r as { k?: unknown } | null)?.k) ?? null;
}

function decodeBatch(payload: Uint8Array): unknown[] | null {
  try {
    const v = decode<unknown>(payload);
    return Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}
