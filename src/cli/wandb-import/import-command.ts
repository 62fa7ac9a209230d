/**
 * `trackside import wandb <offline-run-dir>`: brings a W&B offline run (`wandb/offline-run-*`,
 * or its `run-<id>.wandb` file) into trackside, without W&B's servers or SDK.
 *
 * It reads the file here and uploads through the tracking server's own records API, with the
 * user's credentials and the daemon's uploader (retries, refusals), as `trackside sync` does: so
 * it works against a remote server, takes the same access checks, and importing twice stores
 * nothing twice (the same file makes the same records with the same sequence numbers).
 *
 * A damaged file (a CRC mismatch, a record cut short, bytes that are not W&B's records) is
 * TRK_ERR_CORRUPT_FILE naming the byte offset and the damage, and nothing is imported; with
 * `--partial` the records before the damage are imported, the run ends `crashed` with the damage
 * in its error text, and the command still exits non-zero with the same coded line.
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import type { Command } from "commander";
import pino from "pino";
import { runUrl, type ViewerView } from "../../protocol/api.js";
import { errors } from "../../protocol/errors.js";
import { validateEntity, validateProject, validateRunId } from "../../protocol/ids.js";

import type { RunRecord } from "../../protocol/records.js";
import { encodeRecords } from "../../protocol/codec.js";
import { WAL_MAGIC, frameHeader } from "../../protocol/wal-format.js";
import { ApiClient, BASE_URL_HELP, signedInConnection } from "../api-client.js";
import { printable } from "../output.js";
import { uploadWal } from "../upload-wal.js";
import { hasWandbHeader, readWandbLog, type LogDamage } from "./wandb-log-reader.js";
import { gatherWandbRun, type WandbRun } from "./wandb-run.js";
import { WANDB_SCHEMA_VERSION, decodeWandbRecord, type WandbRecord } from "./wandb-schema.js";
import { wandbRunRecords } from "./wandb-records.js";

interface ImportOptions {
  baseUrl?: string;
  entity?: string;
  project?: string;
  partial?: boolean;
  timeout: string;
}

function say(line: string): void {
  process.stderr.write(`${printable(line)}\n`);
}

export function registerImportCommands(program: Command): void {
  const imp = program.command("import").description("bring runs logged with other trackers into trackside");
  imp
    .command("wandb")
    .description(`import a W&B offline run (a wandb/offline-run-* directory, or its .wandb file; schema of wandb ${WANDB_SCHEMA_VERSION})`)
    .argument("<offline-run-dir>", "a wandb/offline-run-YYYYMMDD_HHMMSS-<id> directory, or its run-<id>.wandb file")
    .option("--entity <entity>", "where the run goes (default: the W&B run's entity if it has one, else yours)")
    .option("--project <project>", "the project (default: the W&B run's project, else uncategorized)")
    .option("--partial", "import the records before a damaged part of the file (the run then ends crashed)")
    .option("--timeout <seconds>", "give up uploading after this long", "600")
    .option("--base-url <url>", BASE_URL_HELP)
    .action(async (path: string, opts: ImportOptions) => {
      await importWandbRun(path, opts);
    });
}

/** The `.wandb` file of an offline run directory, or the file itself. */
function wandbFile(path: string): string {
  const full = resolve(path);
  let st;
  try {
    st = statSync(full);
  } catch {
    throw errors.invalidOption("offline-run-dir", path, "an existing W&B offline run directory (wandb/offline-run-*) or its .wandb file");
  }
  if (st.isFile()) return full;
  const files = readdirSync(full).filter((f) => /^run-.+\.wandb$/.test(f));
  if (files.length !== 1) throw errors.invalidOption("offline-run-dir", path, `a W&B run directory holding one run-<id>.wandb file (found ${files.length})`);
  return join(full, files[0]);
}

/**
 * The run in `file`, gathered from its records before any damage, and the damage. The records
 * are decoded one at a time as they are gathered: a run of 100,000 steps holds 300,000 of them.
 * Progress on stderr for big files.
 */
function readRun(file: string): { run: WandbRun; records: number; damage: LogDamage | null; bytes: number } {
  const buf = readFileSync(file);
  if (!hasWandbHeader(buf)) throw errors.corruptFile(file, "not a W&B transaction log (its first bytes are not `:W&B` and version 0); nothing was imported");
  const log = readWandbLog(buf);
  let damage = log.damage;
  let decodedCount = 0;
  const big = log.records.length > 50_000;
  let nextReport = Date.now() + 2000;
  function* decoded(): Generator<WandbRecord> {
    for (const r of log.records) {
      let record: WandbRecord;
      try {
        record = decodeWandbRecord(r.bytes);
      } catch (err) {
        damage = { offset: r.offset, why: `a record whose CRC-32 holds but is not a W&B Record of wandb ${WANDB_SCHEMA_VERSION}'s schema (${(err as Error).message})` };
        return;
      }
      decodedCount++;
      if (big && Date.now() > nextReport) {
        say(`reading ${basename(file)}: ${decodedCount} of ${log.records.length} records`);
        nextReport = Date.now() + 2000;
      }
      yield record;
    }
  }
  const run = gatherWandbRun(decoded());
  return { run, records: decodedCount, damage, bytes: buf.length };
}

/** The run's frames back to back, as a WAL in memory for the uploader. */
function inMemoryWal(batches: RunRecord[][]): Buffer {
  const parts: Buffer[] = [WAL_MAGIC];
  for (const b of batches) {
    const payload = encodeRecords(b);
    parts.push(frameHeader(payload), payload);
  }
  return Buffer.concat(parts);
}

async function importWandbRun(path: string, opts: ImportOptions): Promise<void> {
  const timeoutS = Number(opts.timeout);
  if (!(timeoutS > 0)) throw errors.invalidOption("--timeout", opts.timeout, "a number of seconds above 0");
  const file = wandbFile(path);
  const started = Date.now();
  const { run, records, damage, bytes } = readRun(file);
  const damageText = damage ? `at byte ${damage.offset}: ${damage.why}` : null;
  if (damage && !opts.partial) {
    throw errors.corruptFile(file, `damaged ${damageText}. Nothing was imported. \`--partial\` imports the ${records} records before the damage and marks the run crashed`);
  }
  if (!run.runId) throw errors.corruptFile(file, `no run record${damageText ? ` before the damage ${damageText}` : ""}; nothing was imported`);
  const id = validateRunId(run.runId);
  const connection = signedInConnection(opts);
  const api = new ApiClient(connection);
  const entity = validateEntity(opts.entity || run.entity || (await api.get<ViewerView>("/viewer")).entity);
  const project = validateProject(opts.project || run.project || "uncategorized");
  const noExit = damageText
    ? `imported with --partial from a damaged W&B file, ${damageText}; the records after it were not read`
    : "the W&B run has no exit record: its process ended without finishing (killed, crashed, or still running when imported)";
  const batches = wandbRunRecords(run, entity, project, { noExit });
  const wal = inMemoryWal(batches);
  const runPath = `${entity}/${project}/${id}`;
  if (Date.now() - started > 2000 || wal.length > 8e6) say(`read ${records} records of ${runPath} (${(bytes / 1e6).toFixed(1)} MB) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const synced = await upload(file, wal, connection, entity, project, id, timeoutS * 1000);
  if (!synced) return;
  const state = run.exit ? batches[batches.length - 1].find((r) => r.k === "exit") : null;
  const ending = state && state.k === "exit" ? `${state.state}${state.exitCode ? ` (exit code ${state.exitCode})` : ""}` : "crashed (no exit record)";
  process.stdout.write(
    printable(
      `imported ${runPath}: ${run.history.length} steps, ${run.console.length} console lines, ${run.system.length} system samples, ${ending} -> ${runUrl(connection.baseUrl, entity, project, id)}`,
    ) + "\n",
  );
  reportLeftOut(run);
  if (damage) {
    const err = errors.corruptFile(file, `damaged ${damageText}. The ${records} records before the damage were imported (--partial); the rest of the file was not read, and the run ends crashed`);
    say(`trackside: ${err.code}: ${err.message}`);
    process.exitCode = 1;
  }
}

/** What the run held that trackside does not import (W&B media, artifacts...), named on stderr. */
function reportLeftOut(run: WandbRun): void {
  for (const [what, count] of run.leftOut) {
    const why = what.startsWith("media:") ? `W&B media values (${what.slice(6)}) in history: not imported, only trackside's scalars are` : `W&B "${what}" records: not imported`;
    say(`trackside: left out ${count} ${why}`);
  }
}

/** Uploads the in-memory WAL with the daemon's uploader; false (after saying why) when it did not all go. */
async function upload(file: string, wal: Buffer, connection: { baseUrl: string; apiKey: string }, entity: string, project: string, runId: string, timeoutMs: number): Promise<boolean> {
  const path = `${entity}/${project}/${runId}`;
  const target = { baseUrl: connection.baseUrl, apiKey: connection.apiKey, entity, project, runId };
  const { synced, status } = await uploadWal({ wal, walPath: `(import of ${path})`, target, log: pino({ level: "silent" }), verb: "importing", timeoutMs });
  if (!synced) {
    const why = status.fatalError ?? `${(status.pendingBytes / 1e6).toFixed(1)} MB still not uploaded after ${timeoutMs / 1000} s`;
    say(`trackside: could not import ${path}: ${why}. Run the same command again; nothing is stored twice.`);
    process.exitCode = 1;
    return false;
  }
  if (status.refused) {
    const err = errors.recordsRefused(status.refused.records, status.refused.error, file, "server");
    say(`trackside: ${err.code}: ${err.message}`);
    process.exitCode = 1;
  }
  return true;
}
