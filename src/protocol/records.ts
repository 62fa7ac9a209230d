/**
 * Records: what a run is made of. The client numbers them, the daemon writes them to the run's
 * WAL and uploads them, the server applies them. Every record carries `seq`, unique within its
 * run; a history record of n rows takes the n sequence numbers seq .. seq+n-1, one per row.
 * Applying a record twice changes nothing (the server keys rows by (run, seq) and ignores state
 * older than what it holds), which is what makes retries and replays safe.
 */

import type { MediaValue } from "./media.js";

export type RunState = "running" | "finished" | "failed" | "killed" | "crashed";
export const FINAL_STATES: readonly RunState[] = ["finished", "failed", "killed", "crashed"];

export type JsonObject = { [key: string]: unknown };

/** A logged value once flattened: what a history row may hold. */
export type Scalar = number | boolean | string | null;

/** One history step: flattened metric keys plus `_step`, `_timestamp` (ms since epoch) and `_runtime` (s). */
export type HistoryRow = { _step: number; _timestamp: number; _runtime: number; [key: string]: Scalar };

/**
 * A batch of history steps in columns, as the client sends them: `cols[key][i]` is the value of
 * `key` at the batch's i-th step, `undefined` where that step has no such key. Numeric columns
 * are Float64Arrays, which msgpack carries as one block of bytes: this is what keeps log() cheap.
 * `_step`, `_timestamp` and `_runtime` are columns like the others.
 */
export type HistoryColumns = { [key: string]: Float64Array | Array<Scalar | undefined> };

export type HistoryRecord =
  /** Row form: simple to write by hand (the JSON API, tests). */
  | { k: "history"; seq: number; rows: HistoryRow[] }
  /** Column form: what the client sends; n steps. */
  | { k: "history"; seq: number; n: number; cols: HistoryColumns };

/** A line the run's process wrote; `\r` redraws are collapsed to the line's last state. */
export interface ConsoleLine {
  /** ms since the epoch */
  at: number;
  stream: "stdout" | "stderr";
  text: string;
}

/** Everything known about a run when it starts. */
export interface RunInfo {
  id: string;
  entity: string;
  project: string;
  name: string;
  notes: string | null;
  tags: string[];
  group: string | null;
  jobType: string | null;
  config: JsonObject;
  /** ms since epoch */
  createdAt: number;
  /** The command that started the run. */
  program: { executable: string; args: string[]; cwd: string; pid: number; host: string; nodeVersion: string; os: string; tracksideVersion: string };
  /** Whether this open resumes an existing run (set by the resume logic). */
  resumed?: boolean;
}

export type RunRecord =
  | { k: "run"; seq: number; run: RunInfo }
  | HistoryRecord
  | { k: "config"; seq: number; config: JsonObject }
  | { k: "summary"; seq: number; summary: JsonObject }
  | { k: "update"; seq: number; name?: string; notes?: string | null; tags?: string[] }
  /** The daemon's probe of where the run runs (host, OS, git, hardware...); seq 0: it has its own stream. */
  | { k: "meta"; seq: number; metadata: JsonObject }
  /**
   * One sample of system metrics, taken by the daemon (`system/...` keys). Not in the client's
   * sequence: `seq` is 0 and the sample is keyed by its time `at` (ms), so a resend overwrites it.
   */
  | { k: "system"; seq: 0; at: number; values: { [key: string]: number } }
  /** Console output, one entry per line; n lines take the n numbers seq .. seq+n-1. */
  | { k: "console"; seq: number; lines: ConsoleLine[] }
  /**
   * The daemon's report that the server refused a frame of this run: the frame went to the
   * run's dead-letter file (`dead-letter.wal` beside the WAL) with the server's error, and the
   * upload went on. seq 0, keyed by its time `at`; the server counts them for the run's page.
   */
  | { k: "refused"; seq: 0; at: number; records: number; bytes: number; error: string }
  /** A rich value (protocol/media.ts) logged at `step` under `key`: an image, images, a histogram or a table. */
  | { k: "media"; seq: number; step: number; key: string; value: MediaValue }
  | { k: "exit"; seq: number; state: RunState; exitCode: number | null; signal: string | null; error: string | null; finishedAt: number };

export type RecordKind = RunRecord["k"];

/** How many steps a history record holds. */
export function historyLength(r: HistoryRecord): number {
  return "cols" in r ? r.n : r.rows.length;
}

/** How many sequence numbers a record takes (0 for the daemon's records, outside the client's sequence). */
export function seqSpan(r: RunRecord): number {
  if (r.k === "history") return historyLength(r);
  if (r.k === "console") return r.lines.length;
  return isDaemonRecord(r) ? 0 : 1;
}

/** The highest client sequence number a batch takes (0 when it holds only the daemon's records). */
export function lastClientSeq(batch: readonly RunRecord[]): number {
  let last = 0;
  for (const r of batch) if (!isDaemonRecord(r)) last = Math.max(last, r.seq + seqSpan(r) - 1);
  return last;
}

/** Records the daemon makes itself (system samples, the metadata probe, refusal reports): they carry seq 0. */
export function isDaemonRecord(r: RunRecord): boolean {
  return (r.k === "system" || r.k === "meta" || r.k === "refused") && r.seq === 0;
}

/** The steps of a history record as rows (a column form is turned around). */
export function historyRows(r: HistoryRecord): HistoryRow[] {
  if (!("cols" in r)) return r.rows;
  const keys = Object.keys(r.cols);
  const columns = keys.map((k) => r.cols[k]);
  const rows: HistoryRow[] = new Array(r.n);
  for (let i = 0; i < r.n; i++) {
    const row: Record<string, Scalar> = {};
    for (let c = 0; c < keys.length; c++) {
      const v = columns[c][i];
      if (v !== undefined) row[keys[c]] = v;
    }
    rows[i] = row as HistoryRow;
  }
  return rows;
}
