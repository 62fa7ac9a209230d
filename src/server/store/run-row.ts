/**
 * A run as both backends select it (RUN_COLUMNS of sqlite-run-queries.ts and
 * postgres-run-queries.ts: the same columns, the same names), and the one mapping to StoredRun.
 * Only the JSON columns differ: SQLite gives their text, PostgreSQL's jsonb the parsed value.
 */
import type { JsonObject, RunState } from "../../protocol/records.js";
import type { Privacy, StoredRun } from "./store.js";

/** A selected run row; `J` is how the JSON columns (tags, config, summary, metadata, program) come back. */
export interface RunRow<J> {
  pk: number;
  run_id: string;
  name: string;
  notes: string | null;
  tags: J;
  run_group: string | null;
  job_type: string | null;
  privacy: Privacy;
  state: RunState;
  exit_code: number | null;
  signal: string | null;
  error: string | null;
  created_at: number;
  heartbeat_at: number | null;
  finished_at: number | null;
  config: J;
  summary: J;
  metadata: J;
  program: J | null;
  last_seq: number;
  revision: number;
  sweeper_crashed_at: number | null;
  entity: string;
  entity_id: number;
  project: string;
  author: string;
}

/** The StoredRun of a row; `json` turns a JSON column into its value (JSON.parse for SQLite's text). */
export function storedRunOf<J>(row: RunRow<J>, json: (value: J) => unknown): StoredRun {
  return {
    pk: row.pk,
    entity: row.entity,
    entityId: row.entity_id,
    project: row.project,
    id: row.run_id,
    name: row.name,
    notes: row.notes,
    tags: json(row.tags) as string[],
    group: row.run_group,
    jobType: row.job_type,
    privacy: row.privacy,
    author: row.author,
    state: row.state,
    exitCode: row.exit_code,
    signal: row.signal,
    error: row.error,
    createdAt: row.created_at,
    heartbeatAt: row.heartbeat_at,
    finishedAt: row.finished_at,
    config: json(row.config) as JsonObject,
    summary: json(row.summary) as JsonObject,
    metadata: json(row.metadata) as JsonObject,
    program: row.program === null ? null : (json(row.program) as JsonObject),
    lastSeq: row.last_seq,
    revision: row.revision,
    sweeperCrashedAt: row.sweeper_crashed_at,
  };
}
