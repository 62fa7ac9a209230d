/**
 * A gathered W&B run (wandb-run.ts) as trackside's run records, numbered as a client numbers
 * its own, in batches for the uploader. The same file gives the same records with the same
 * sequence numbers every time, so importing it again overwrites and never duplicates.
 */
import { PACKAGE_VERSION } from "../../protocol/version.js";
import type { JsonObject, RunInfo, RunRecord } from "../../protocol/records.js";
import type { WandbRun } from "./wandb-run.js";
import { wandbExitState } from "../../protocol/wandb-mapping.js";
import { wandbMetadata } from "../../protocol/wandb-metadata.js";

/** Rows or lines per record: a few hundred KB of msgpack, far under the server's body limit. */
const CHUNK = 1000;

/** How the import ends a run whose file holds no exit record (the process died, or the file is damaged before it). */
export interface Ending {
  /** Why the run has no exit of its own: the run's error text, as it ends `crashed`. */
  noExit: string;
}

/**
 * What the run's metadata says: W&B's environment record in trackside's overview fields, read as
 * the server reads a client's `wandb-metadata.json` (protocol/wandb-metadata.ts), and where the
 * run came from, with W&B's own fields kept.
 */
function metadata(run: WandbRun): JsonObject {
  const env = run.environment ?? {};
  const facts = wandbMetadata(env);
  return {
    ...facts,
    ...(facts.host === undefined && run.host ? { host: run.host } : {}),
    importedFrom: { tracker: "wandb", sdkVersion: run.sdkVersion, runId: run.runId, entity: run.entity, project: run.project },
    wandb: { environment: env, config: run.wandbConfig },
  };
}

/**
 * The records of `run` under `entity/project`, in upload batches: the run (with its final name,
 * notes, tags and config) and its metadata first, then history, console and system samples, then
 * the summary, and the exit last, so that the run is over only once everything else is stored.
 *
 * @example
 * const batches = wandbRunRecords(gatherWandbRun(records), "alice", "mnist", { noExit: "the process ended without finishing" });
 */
export function wandbRunRecords(run: WandbRun, entity: string, project: string, ending: Ending): RunRecord[][] {
  const env = run.environment ?? {};
  const createdAt = run.startedAt ?? run.history[0]?._timestamp ?? run.lastSeenAt ?? Date.now();
  const info: RunInfo = {
    id: run.runId,
    entity,
    project,
    name: run.name ?? run.runId,
    notes: run.notes,
    tags: run.tags,
    group: run.group,
    jobType: run.jobType,
    config: run.config,
    createdAt,
    program: {
      executable: typeof env.executable === "string" ? env.executable : "python",
      args: Array.isArray(env.args) ? env.args.map(String) : [],
      cwd: typeof env.root === "string" ? env.root : "",
      pid: 0,
      host: run.host ?? (typeof env.host === "string" ? env.host : ""),
      nodeVersion: "",
      os: typeof env.os === "string" ? env.os : "",
      tracksideVersion: PACKAGE_VERSION,
    },
  };
  let seq = 1;
  const batches: RunRecord[][] = [[{ k: "run", seq: seq++, run: info }, { k: "meta", seq: 0, metadata: metadata(run) }]];
  for (let i = 0; i < run.history.length; i += CHUNK) {
    const rows = run.history.slice(i, i + CHUNK);
    batches.push([{ k: "history", seq, rows }]);
    seq += rows.length;
  }
  for (let i = 0; i < run.console.length; i += CHUNK) {
    const lines = run.console.slice(i, i + CHUNK);
    batches.push([{ k: "console", seq, lines }]);
    seq += lines.length;
  }
  for (let i = 0; i < run.system.length; i += CHUNK) {
    batches.push(run.system.slice(i, i + CHUNK).map((s) => ({ k: "system", seq: 0, at: s.at, values: s.values })));
  }
  const last: RunRecord[] = [];
  if (run.summary) last.push({ k: "summary", seq: seq++, summary: run.summary });
  const finishedAt = Math.max(run.lastSeenAt ?? createdAt, createdAt + (run.exit?.runtimeS ?? 0) * 1000);
  if (run.exit) {
    const { state, error } = wandbExitState(run.exit.code);
    last.push({ k: "exit", seq: seq++, state, exitCode: run.exit.code, signal: null, error, finishedAt });
  } else {
    last.push({ k: "exit", seq: seq++, state: "crashed", exitCode: null, signal: null, error: ending.noExit, finishedAt });
  }
  batches.push(last);
  return batches;
}
