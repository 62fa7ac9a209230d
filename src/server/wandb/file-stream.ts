/**
 * W&B's `file_stream` body turned into trackside records (docs/wandb.md has the mapping).
 *
 * W&B numbers each file's lines on its own (`offset`), trackside numbers a run's records in one
 * `seq` space where a field changes only for a higher seq. So (docs/wandb.md, "Sequence numbers"):
 * - history and console lines take the seq `offset + i + 1` in their own tables, so a resent
 *   request puts the same lines at the same place (idempotent) and a rewritten console line (a
 *   progress bar) replaces the old one;
 * - summary and the exit take seqs the server hands out above the run's last seq (`nextSeq`),
 *   so the summary, which W&B always sends at offset 0, changes every time;
 * - system samples are keyed by their time, as the daemon's are.
 */
import { errors } from "../../protocol/errors.js";
import type { ConsoleLine, HistoryRow, JsonObject, RunRecord, Scalar } from "../../protocol/records.js";
import { flattenWandbValue, parseWandbJson, WANDB_OWN_KEY, wandbExitState, wandbSummary, wandbTimeMs } from "../../protocol/wandb-mapping.js";

/** The files of a file_stream body that trackside reads; others (a newer client's) are ignored. */
export const HISTORY_FILE = "wandb-history.jsonl";
export const EVENTS_FILE = "wandb-events.jsonl";
export const SUMMARY_FILE = "wandb-summary.json";
export const CONSOLE_FILE = "output.log";

/** One file's chunk: `content[i]` is line `offset + i`. */
interface FileChunk {
  offset: number;
  content: string[];
}

/** A file_stream body, checked. */
export interface FileStreamBody {
  files: Map<string, FileChunk>;
  complete: boolean;
  exitcode: number | null;
  preempting: boolean;
}

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Checks a file_stream body's shape.
 * @throws TRK_ERR_BAD_REQUEST naming the fault.
 */
export function checkFileStreamBody(body: unknown): FileStreamBody {
  if (body === undefined || body === null || body === "") return { files: new Map(), complete: false, exitcode: null, preempting: false };
  if (!isObject(body)) throw errors.badRequest("a file_stream body is a JSON object");
  const files = new Map<string, FileChunk>();
  if (body.files !== undefined && body.files !== null) {
    if (!isObject(body.files)) throw errors.badRequest("files is not an object of file name -> {offset, content}");
    for (const [name, chunk] of Object.entries(body.files)) {
      if (!isObject(chunk)) throw errors.badRequest(`files[${JSON.stringify(name)}] is not an object`);
      const offset = chunk.offset ?? 0;
      if (!Number.isSafeInteger(offset) || (offset as number) < 0) throw errors.badRequest(`files[${JSON.stringify(name)}].offset is not a whole number >= 0`);
      const content = chunk.content ?? [];
      if (!Array.isArray(content) || !content.every((c) => typeof c === "string")) {
        throw errors.badRequest(`files[${JSON.stringify(name)}].content is not an array of strings`);
      }
      files.set(name, { offset: offset as number, content });
    }
  }
  const exitcode = body.exitcode;
  if (exitcode !== undefined && exitcode !== null && !Number.isSafeInteger(exitcode)) throw errors.badRequest("exitcode is not a whole number");
  return { files, complete: body.complete === true, exitcode: (exitcode as number | undefined) ?? null, preempting: body.preempting === true };
}

/** A JSON line as an object; TRK_ERR_BAD_REQUEST names the file and line otherwise. */
function lineObject(file: string, line: number, text: string): JsonObject {
  let value: unknown;
  try {
    value = parseWandbJson(text);
  } catch (err) {
    throw errors.badRequest(`line ${line} of ${file} is not JSON (${(err as Error).message})`);
  }
  if (!isObject(value)) throw errors.badRequest(`line ${line} of ${file} is not a JSON object`);
  return value;
}

/** History line `line` as a trackside row: `_step` from the row (the line number if it has none), `_timestamp` in ms. */
export function historyRow(text: string, line: number, now: number): HistoryRow {
  const obj = lineObject(HISTORY_FILE, line, text);
  const { _step, _timestamp, _runtime, [WANDB_OWN_KEY]: _own, ...rest } = obj;
  void _own; // W&B's own bookkeeping, not a metric
  const row: Record<string, Scalar> = {};
  // Media and other rich values (objects with `_type`) have no place in a history row: left out
  // (docs/wandb.md, "What does not work").
  for (const [key, v] of Object.entries(rest)) for (const cell of flattenWandbValue(key, v)) if (!("media" in cell)) row[cell.key] = cell.value;
  const step = typeof _step === "number" && Number.isSafeInteger(_step) && _step >= 0 ? _step : line;
  return { ...row, _step: step, _timestamp: wandbTimeMs(_timestamp, now), _runtime: typeof _runtime === "number" && Number.isFinite(_runtime) ? _runtime : 0 };
}

/** An events line as a system sample: `system.cpu` becomes `system/cpu`; null when it holds no number. */
export function systemSample(text: string, line: number, now: number): Extract<RunRecord, { k: "system" }> | null {
  const obj = lineObject(EVENTS_FILE, line, text);
  const values: Record<string, number> = {};
  for (const [key, v] of Object.entries(obj)) {
    if (key.startsWith("system.") && typeof v === "number") values[`system/${key.slice("system.".length)}`] = v;
  }
  if (Object.keys(values).length === 0) return null;
  return { k: "system", seq: 0, at: wandbTimeMs(obj._timestamp, now), values };
}

/** `[ERROR ]<UTC time, microseconds, no Z>[ [label]] <text>`: W&B's console line. */
const CONSOLE_LINE = /^(ERROR )?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?) ?/;

/** A console line: `ERROR ` marks stderr; the time is UTC; a line without one takes `now`. */
export function consoleLine(text: string, now: number): ConsoleLine {
  const m = CONSOLE_LINE.exec(text);
  if (!m) return { at: now, stream: "stdout", text };
  const at = Date.parse(`${m[2].slice(0, 23)}Z`);
  return { at: Number.isFinite(at) ? at : now, stream: m[1] ? "stderr" : "stdout", text: text.slice(m[0].length) };
}

/**
 * The records of a file_stream body. `nextSeq` is the first seq above the run's last one; the
 * summary and the exit take seqs from it (in that order, so the exit is the newest).
 */
export function fileStreamRecords(body: FileStreamBody, nextSeq: number, now: number): RunRecord[] {
  const records: RunRecord[] = [];
  let seq = nextSeq;
  const history = body.files.get(HISTORY_FILE);
  if (history && history.content.length > 0) {
    const rows = history.content.map((text, i) => historyRow(text, history.offset + i, now));
    records.push({ k: "history", seq: history.offset + 1, rows });
  }
  const events = body.files.get(EVENTS_FILE);
  if (events) {
    events.content.forEach((text, i) => {
      const sample = systemSample(text, events.offset + i, now);
      if (sample) records.push(sample);
    });
  }
  const output = body.files.get(CONSOLE_FILE);
  if (output && output.content.length > 0) {
    records.push({ k: "console", seq: output.offset + 1, lines: output.content.map((text) => consoleLine(text, now)) });
  }
  const summary = body.files.get(SUMMARY_FILE);
  if (summary && summary.content.length > 0) {
    // The whole summary each time: the last line is the newest.
    const last = summary.content.length - 1;
    records.push({ k: "summary", seq: seq++, summary: wandbSummary(lineObject(SUMMARY_FILE, summary.offset + last, summary.content[last])) });
  }
  if (body.complete) {
    const exitCode = body.exitcode ?? 0;
    const { state, error } = wandbExitState(exitCode);
    records.push({ k: "exit", seq: seq++, state, exitCode, signal: null, error, finishedAt: now });
  }
  return records;
}
