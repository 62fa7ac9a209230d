/**
 * A W&B offline run, gathered from its decoded records into what trackside stores: the run's
 * fields, its config with `_wandb` kept apart, history rows, console lines, system samples, the
 * last summary, the environment, and the exit. Pure: no files, no network.
 */
import type { ConsoleLine, HistoryRow, JsonObject, Scalar } from "../../protocol/records.js";
import type { WandbItem, WandbRecord } from "./wandb-schema.js";
import { flattenWandbValue, parseWandbJson, WANDB_OWN_KEY, wandbSummary, wandbTimeMs } from "../../protocol/wandb-mapping.js";
import { deletePath, isPlainObject, itemPath, setPath, timestampMs } from "./wandb-values.js";

/** The longest console line the server takes (docs/api.md); a longer one is cut into pieces of this size. */
const MAX_CONSOLE_TEXT = 65_536;

export interface WandbRun {
  runId: string;
  entity: string | null;
  project: string | null;
  name: string | null;
  notes: string | null;
  tags: string[];
  group: string | null;
  jobType: string | null;
  host: string | null;
  /** ms since the epoch; null when the run record had no start time. */
  startedAt: number | null;
  /** The user's config, its values as logged. */
  config: JsonObject;
  /** The config's `_wandb` entry (W&B's own bookkeeping: telemetry, define_metric, the writer's metadata). */
  wandbConfig: JsonObject | null;
  history: HistoryRow[];
  console: ConsoleLine[];
  system: { at: number; values: Record<string, number> }[];
  /** The run's last summary, `_wandb` left out; null when none was written. */
  summary: JsonObject | null;
  /** The environment records (W&B's metadata), merged in order; null when there were none. */
  environment: JsonObject | null;
  /** The SDK version that wrote the file, from its telemetry. */
  sdkVersion: string | null;
  exit: { code: number; runtimeS: number } | null;
  /** The latest time any record carried (ms): the end of a run that has no exit record. */
  lastSeenAt: number | null;
  /** What was not imported, for the report: `media:image-file` -> 3, `artifact` -> 1, ... */
  leftOut: Map<string, number>;
}

/** Record kinds that carry nothing trackside shows, and are skipped without a word. */
const BOOKKEEPING = new Set(["header", "footer", "final", "telemetry", "metric", "files", "request", "preempting", "output_logger", "noop_link_artifact"]);

/** Items applied to a config or summary object, in order: updates, then removes. */
function apply(target: JsonObject, updates: WandbItem[] | undefined, removes: WandbItem[] | undefined): void {
  for (const item of updates ?? []) setPath(target, itemPath(item), parseWandbJson(item.value_json ?? "null"));
  for (const item of removes ?? []) deletePath(target, itemPath(item));
}

/** Gathers the W&B records `records` (in file order; an iterable, so that a big file is decoded as it is gathered) into one run. */
export function gatherWandbRun(records: Iterable<WandbRecord>): WandbRun {
  const run: WandbRun = {
    runId: "",
    entity: null,
    project: null,
    name: null,
    notes: null,
    tags: [],
    group: null,
    jobType: null,
    host: null,
    startedAt: null,
    config: {},
    wandbConfig: null,
    history: [],
    console: [],
    system: [],
    summary: null,
    environment: null,
    sdkVersion: null,
    exit: null,
    lastSeenAt: null,
    leftOut: new Map(),
  };
  const config: JsonObject = {};
  let summary: JsonObject | null = null;
  const seen = (ms: number | null) => {
    if (ms !== null && Number.isFinite(ms)) run.lastSeenAt = Math.max(run.lastSeenAt ?? ms, ms);
  };
  const leave = (what: string) => run.leftOut.set(what, (run.leftOut.get(what) ?? 0) + 1);
  const consoleText = new ConsoleAssembler(run.console);
  for (const r of records) {
    const kind = r.record_type ?? "";
    if (r.run) {
      const v = r.run;
      // A later run record (a resumed writer) updates what it sets.
      run.runId ||= v.run_id ?? "";
      run.entity = v.entity || run.entity;
      run.project = v.project || run.project;
      run.name = v.display_name || run.name;
      run.notes = v.notes || run.notes;
      if (v.tags?.length) run.tags = v.tags;
      run.group = v.run_group || run.group;
      run.jobType = v.job_type || run.jobType;
      run.host = v.host || run.host;
      run.startedAt ??= timestampMs(v.start_time);
      apply(config, v.config?.update, v.config?.remove);
    } else if (r.config) {
      apply(config, r.config.update, r.config.remove);
    } else if (r.history) {
      run.history.push(historyRow(r.history, run.history.length, leave));
      seen(run.history[run.history.length - 1]._timestamp);
    } else if (r.summary) {
      summary ??= {};
      apply(summary, r.summary.update, r.summary.remove);
    } else if (r.output_raw || r.output) {
      const o = (r.output_raw ?? r.output)!;
      const at = timestampMs(o.timestamp) ?? run.lastSeenAt ?? 0;
      // OutputType: STDERR = 0 (and so absent, proto3's default), STDOUT = 1.
      consoleText.add(o.output_type === 1 ? "stdout" : "stderr", o.line ?? "", at);
      seen(at);
    } else if (r.stats) {
      const at = timestampMs(r.stats.timestamp);
      const values: Record<string, number> = {};
      for (const item of r.stats.item ?? []) {
        const v = parseWandbJson(item.value_json ?? "null");
        if (typeof v === "number") values[`system/${itemPath(item).join(".")}`] = v;
      }
      if (at !== null && Object.keys(values).length > 0) run.system.push({ at, values });
      seen(at);
    } else if (r.environment) {
      run.environment = { ...(run.environment ?? {}), ...r.environment };
    } else if (r.exit) {
      run.exit = { code: r.exit.exit_code ?? 0, runtimeS: r.exit.runtime ?? 0 };
    } else if (r.telemetry) {
      run.sdkVersion = r.telemetry.cli_version || run.sdkVersion;
    } else if (kind && !BOOKKEEPING.has(kind)) {
      leave(kind);
    }
  }
  consoleText.end();
  const { [WANDB_OWN_KEY]: own, ...userConfig } = config;
  run.config = userConfig;
  run.wandbConfig = isPlainObject(own) ? own : null;
  if (summary) run.summary = wandbSummary(summary);
  return run;
}

/** One history record as a row: `_step`, `_timestamp` (W&B's seconds, as ms) and `_runtime`, the rest flattened. */
function historyRow(h: NonNullable<WandbRecord["history"]>, index: number, leave: (what: string) => void): HistoryRow {
  const row: Record<string, Scalar> = {};
  let step: number | null = null;
  let timestamp = 0;
  let runtime = 0;
  for (const item of h.item ?? []) {
    const path = itemPath(item);
    const value = parseWandbJson(item.value_json ?? "null");
    if (path.length === 1 && path[0] === "_step" && typeof value === "number") step = value;
    else if (path.length === 1 && path[0] === "_timestamp" && typeof value === "number") timestamp = wandbTimeMs(value, 0);
    else if (path.length === 1 && path[0] === "_runtime" && typeof value === "number") runtime = value;
    else
      for (const cell of flattenWandbValue(path.join("."), value)) {
        if ("media" in cell) leave(`media:${cell.media}`);
        else row[cell.key] = cell.value;
      }
  }
  return { ...row, _step: step ?? h.step?.num ?? index, _timestamp: timestamp, _runtime: runtime };
}

/**
 * Console fragments as lines. The SDK records what each stream wrote, a fragment at a time (a
 * line's text and its newline may come apart); a `\r` redraw (progress bars) keeps the line's
 * last state, as trackside's own console capture does. A line is dated by its first fragment.
 */
class ConsoleAssembler {
  private readonly open = new Map<"stdout" | "stderr", { text: string; at: number }>();

  constructor(private readonly lines: ConsoleLine[]) {}

  add(stream: "stdout" | "stderr", fragment: string, at: number): void {
    const parts = fragment.split("\n");
    for (let i = 0; i < parts.length; i++) {
      const current = this.open.get(stream) ?? { text: "", at };
      current.text += parts[i];
      if (i < parts.length - 1) {
        this.emit(stream, current);
        this.open.delete(stream);
      } else if (current.text !== "") {
        this.open.set(stream, current);
      }
    }
  }

  /** The last unfinished line of each stream, as it stands. */
  end(): void {
    for (const [stream, line] of this.open) this.emit(stream, line);
    this.open.clear();
  }

  private emit(stream: "stdout" | "stderr", line: { text: string; at: number }): void {
    const text = line.text.replace(/\r+$/, "");
    const last = text.slice(text.lastIndexOf("\r") + 1);
    for (let i = 0; i === 0 || i < last.length; i += MAX_CONSOLE_TEXT) this.lines.push({ at: line.at, stream, text: last.slice(i, i + MAX_CONSOLE_TEXT) });
  }
}
