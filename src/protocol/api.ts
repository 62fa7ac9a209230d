/**
 * Shapes of the HTTP API (docs/api.md). The server produces them; the CLI and the web app read
 * them. Non-finite numbers travel in JSON as the strings "NaN", "Infinity" and "-Infinity".
 */
import type { JsonObject, RunState } from "./records.js";

export const API_PREFIX = "/api/v1";

/** Content type of an upload body: RunRecord[] batches, msgpack-encoded, back to back. */
export const RECORDS_CONTENT_TYPE = "application/vnd.trackside.records+msgpack";

export interface ViewerView {
  user: string;
  entity: string;
}

export interface ProjectView {
  entity: string;
  name: string;
  runCount: number;
  lastRunAt: string | null;
}

/** A row of a project's runs table. */
export interface RunListItem {
  id: string;
  name: string;
  entity: string;
  project: string;
  state: RunState;
  createdAt: string;
  durationSeconds: number | null;
  tags: string[];
  notes: string | null;
  author: string;
  jobType: string | null;
  group: string | null;
  summary: JsonObject;
}

/** One run with every overview field. */
export interface RunView extends RunListItem {
  path: string;
  url: string;
  exitCode: number | null;
  signal: string | null;
  error: string | null;
  privacy: "private" | "public";
  heartbeatAt: string | null;
  finishedAt: string | null;
  config: JsonObject;
  metadata: JsonObject;
  historySteps: number;
  lastSeq: number;
}

export interface HistoryView {
  keys: string[];
  /** One object per step, holding `_step` and the chosen keys present at that step. */
  rows: JsonObject[];
}

export interface IngestResult {
  /** Records applied (a resent record counts too; applying it again changed nothing). */
  records: number;
  /** The highest sequence number the server holds for the run. */
  lastSeq: number;
}

export interface ErrorBody {
  error: { code: string; message: string };
}

/** `<baseUrl>/<entity>/<project>/runs/<id>`: the page a person opens. */
export function runUrl(baseUrl: string, entity: string, project: string, id: string): string {
  return `${baseUrl.replace(/\/+$/, "")}/${encodeURIComponent(entity)}/${encodeURIComponent(project)}/runs/${encodeURIComponent(id)}`;
}

/** JSON.stringify replacer that keeps NaN and the infinities as strings instead of null. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return value;
}
