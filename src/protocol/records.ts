/**
 * Records: what a run is made of. The client numbers them, the daemon writes them to the run's
 * WAL and uploads them, the server applies them. Every record carries `seq`, unique within its
 * run; a history record of n rows takes the n sequence numbers seq .. seq+n-1, one per row.
 * Applying a record twice changes nothing (the server keys rows by (run, seq) and ignores state
 * older than what it holds), which is what makes retries and replays safe.
 */

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
  | { k: "meta"; seq: number; metadata: JsonObject }
  | { k: "exit"; seq: number; state: RunState; exitCode: number | null; signal: string | null; error: string | null; finishedAt: number };

export type RecordKind = RunRecord["k"];

/** How many steps a history record holds. */
export function historyLength(r: HistoryRecord): number {
  return "cols" in r ? r.n : r.rows.length;
}

/** How many sequence numbers a record takes. */
export function seqSpan(r: RunRecord): number {
  return r.k === "history" ? historyLength(r) : 1;
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
