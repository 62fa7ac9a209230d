/**
 * `trackside sync RUN_DIR...`: uploads runs written offline, or left behind by a daemon that could
 * not reach the server. It sends the run's frames through the daemon's own uploader, so the same
 * idempotent (run, seq) rules apply: syncing twice stores nothing twice.
 *
 * Sync only reads the run directory (run-dir-reader.ts): no file in it is written, cut, or
 * removed, not even a damaged one. It keeps no progress there either: every readable frame is
 * sent again each time, which the server's idempotence makes harmless. It exits non-zero when it
 * skipped an unreadable range (TRK_ERR_SYNC_INCOMPLETE), when the server refused records
 * (TRK_ERR_RECORDS_REFUSED), or when not everything was uploaded in time.
 *
 * After the WAL, the run's artifact queue (`artifacts/queue/`): every entry a daemon has not
 * marked done, uploaded as a daemon would (upload-artifacts.ts), with nothing written back.
 */
import { resolve } from "node:path";
import type { Command } from "commander";
import pino from "pino";
import { countRecords } from "../daemon/index.js";
import {
  DEFAULT_BASE_URL,
  FRAME_HEADER_BYTES,
  WAL_MAGIC,
  credentialsPath,
  errors,
  isTracksideError,
  normalizeBaseUrl,
  readCredential,
  runUrl,
} from "../protocol/index.js";
import { printable } from "./output.js";
import { readRunDir, type ReadFrame } from "./run-dir-reader.js";
import { queueWhat, uploadArtifacts } from "./upload-artifacts.js";
import { uploadWal } from "./upload-wal.js";

/**
 * One line for the terminal. What it names comes from files and from the server (a run's path,
 * a WAL's name, the server's message), so control characters are shown as escapes, never sent.
 */
function say(line: string): void {
  process.stderr.write(`${printable(line)}\n`);
}

interface SyncOptions {
  baseUrl?: string;
  timeout: string;
  verbose?: boolean;
}

export function registerSyncCommand(program: Command): void {
  program
    .command("sync")
    .description("upload run directories (offline runs, or runs whose upload did not finish); the directories are only read")
    .argument("<run-dir...>", "trackside/run-YYYYMMDD_HHMMSS-<id> directories")
    .option("--base-url <url>", "tracking server (default: TRACKSIDE_BASE_URL or http://127.0.0.1:8421)")
    .option("--timeout <seconds>", "give up on a run after this long", "600")
    .option("--verbose", "print the uploader's log (retries, refusals) to stderr")
    .action(async (dirs: string[], opts: SyncOptions) => {
      const baseUrl = normalizeBaseUrl(opts.baseUrl ?? process.env.TRACKSIDE_BASE_URL ?? DEFAULT_BASE_URL);
      const apiKey = process.env.TRACKSIDE_API_KEY ?? readCredential(baseUrl)?.apiKey;
      if (!apiKey) throw errors.noCredentials(baseUrl, credentialsPath());
      let failed = 0;
      for (const dir of dirs) {
        try {
          if (!(await syncRunDir(resolve(dir), baseUrl, apiKey, Number(opts.timeout) * 1000, opts.verbose === true))) failed++;
        } catch (err) {
          // One bad directory is reported, and the others are still synced.
          if (!isTracksideError(err)) throw err;
          say(`trackside: ${err.code}: ${err.message}`);
          failed++;
        }
      }
      if (failed > 0) process.exitCode = 1;
    });
}

/** Where each frame of the upload starts in memory, and where it came from. */
function frameIndex(frames: ReadFrame[]): Map<number, ReadFrame> {
  const at = new Map<number, ReadFrame>();
  let offset = WAL_MAGIC.length;
  for (const f of frames) {
    at.set(offset, f);
    offset += f.bytes.length;
  }
  return at;
}

async function syncRunDir(dir: string, baseUrl: string, apiKey: string, timeoutMs: number, verbose: boolean): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const contents = readRunDir(dir);
  const { info, frames, unreadable } = contents;
  for (const r of unreadable) say(`trackside: ${r.file}: skipped bytes ${r.offset}..${r.offset + r.bytes} (${r.bytes} bytes): ${r.why}`);
  if (!info) throw errors.corruptFile(contents.walPath, "no readable run record (the WAL's first frame), without which the server takes nothing of the run");
  if (contents.spilled > 0) say(`trackside: took in ${contents.spilled} records from spill files in ${dir} (the files are left as they are)`);
  const path = `${info.entity}/${info.project}/${info.id}`;
  // The upload reads a copy in memory of the readable frames, back to back as in a WAL.
  const wal = Buffer.concat([WAL_MAGIC, ...frames.map((f) => f.bytes)]);
  const origin = frameIndex(frames);
  const log = pino({ base: { runId: info.id, component: "sync" }, level: verbose ? "info" : "silent" }, pino.destination(2));
  const target = { baseUrl, apiKey, entity: info.entity, project: info.project, runId: info.id };
  const { synced, status, refusals } = await uploadWal({ wal, walPath: contents.walPath, target, log, verb: "syncing", timeoutMs });
  if (!synced) {
    say(
      `trackside: could not sync ${path}: ${status.fatalError ?? `${(status.pendingBytes / 1e6).toFixed(1)} MB still not uploaded after ${timeoutMs / 1000} s`}. Run the same command again; nothing is sent twice.`,
    );
    return false;
  }
  for (const r of refusals) {
    const from = origin.get(r.walOffset);
    const where = from ? `the frame at byte ${from.offset} of ${from.file}` : `a frame`;
    say(`trackside: the server refused ${where} (${r.records} records): ${r.error}`);
  }
  const records = frames.reduce((n, f) => n + countRecords(f.bytes.subarray(FRAME_HEADER_BYTES)), 0);
  const refused = status.refused;
  process.stdout.write(`synced ${printable(path)}: ${records - (refused?.records ?? 0)} records -> ${runUrl(baseUrl, info.entity, info.project, info.id)}\n`);
  if (refused) {
    const err = errors.recordsRefused(refused.records, refused.error, null, "server");
    say(`trackside: ${err.code}: ${err.message}`);
  }
  if (unreadable.length > 0) {
    const err = errors.syncIncomplete(dir, unreadable.length);
    say(`trackside: ${err.code}: ${err.message}`);
  }
  // The artifact queue goes after the WAL: its versions name the run, which is now on the server.
  const artifacts = await uploadArtifacts({ runDir: dir, target, log, timeoutMs: Math.max(0, deadline - Date.now()) });
  for (const line of artifacts.uploaded) process.stdout.write(`${printable(line)}\n`);
  for (const line of artifacts.refused) say(`trackside: ${line}`);
  if (artifacts.pendingArtifacts + artifacts.pendingMedia > 0) {
    const what = queueWhat(artifacts.pendingArtifacts, artifacts.pendingMedia);
    say(`trackside: could not sync ${what} of ${path} within ${timeoutMs / 1000} s. Run the same command again; nothing is sent twice.`);
  }
  return refused === null && unreadable.length === 0 && artifacts.done && artifacts.refused.length === 0;
}
