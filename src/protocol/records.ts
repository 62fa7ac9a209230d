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
  | { k: "history"; seq: number; rows: HistoryRow[] }
  | { k: "config"; seq: number; config: JsonObject }
  | { k: "summary"; seq: number; summary: JsonObject }
  | { k: "update"; seq: number; name?: string; notes?: string | null; tags?: string[] }
  | { k: "meta"; seq: number; metadata: JsonObject }
  | { k: "exit"; seq: number; state: RunState; exitCode: number | null; signal: string | null; error: string | null; finishedAt: number };

export type RecordKind = RunRecord["k"];

/** How many sequence numbers a record takes. */
export function seqSpan(r: RunRecord): number {
  return r.k === "history" ? r.rows.length : 1;
}
