/**
 * `trackside sync RUN_DIR...`: uploads runs written offline, or left behind by a daemon that could
 * not reach the server. It sends the run's WAL through the daemon's own uploader, so the same
 * idempotent (run, seq) rules apply: syncing twice stores nothing twice.
 */
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import pino from "pino";
import { Uploader, WalWriter } from "../daemon/index.js";
import {
  DEFAULT_BASE_URL,
  WAL_MAGIC,
  credentialsPath,
  decode,
  errors,
  hasWalMagic,
  lastClientSeq,
  normalizeBaseUrl,
  readCredential,
  runUrl,
  scanFrames,
  seqSpan,
  type RunInfo,
  type RunRecord,
} from "../protocol/index.js";

interface SyncOptions {
  baseUrl?: string;
  timeout: string;
}

export function registerSyncCommand(program: Command): void {
  program
    .command("sync")
    .description("upload run directories (offline runs, or runs whose upload did not finish)")
    .argument("<run-dir...>", "trackside/run-YYYYMMDD_HHMMSS-<id> directories")
    .option("--base-url <url>", "tracking server (default: TRACKSIDE_BASE_URL or http://127.0.0.1:8421)")
    .option("--timeout <seconds>", "give up on a run after this long", "600")
    .action(async (dirs: string[], opts: SyncOptions) => {
      const baseUrl = normalizeBaseUrl(opts.baseUrl ?? process.env.TRACKSIDE_BASE_URL ?? DEFAULT_BASE_URL);
      const apiKey = process.env.TRACKSIDE_API_KEY ?? readCredential(baseUrl)?.apiKey;
      if (!apiKey) throw errors.noCredentials(baseUrl, credentialsPath());
      let failed = 0;
      for (const dir of dirs) {
        const ok = await syncRunDir(resolve(dir), baseUrl, apiKey, Number(opts.timeout) * 1000);
        if (!ok) failed++;
      }
      if (failed > 0) process.exitCode = 1;
    });
}

function findWal(dir: string): string {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw errors.invalidOption("run-dir", dir, "an existing run directory");
  const wal = readdirSync(dir).find((f) => /^run-.+\.wal$/.test(f));
  if (!wal) throw errors.invalidOption("run-dir", dir, "a run directory holding a run-<id>.wal file");
  return join(dir, wal);
}

function readRunInfo(walPath: string): { info: RunInfo; records: number; end: number } {
  const buf = readFileSync(walPath);
  if (!hasWalMagic(buf)) throw errors.invalidOption("run-dir", walPath, "a trackside WAL");
  const scan = scanFrames(buf.subarray(WAL_MAGIC.length), WAL_MAGIC.length);
  let info: RunInfo | null = null;
  let records = 0;
  for (const frame of scan.frames) {
    for (const r of decode<RunRecord[]>(frame.payload)) {
      if (r.k === "run" && !info) info = r.run;
      records += seqSpan(r);
    }
  }
  if (!info) throw errors.invalidOption("run-dir", walPath, "a WAL that starts with its run record");
  return { info, records, end: scan.end };
}

/** A spill file this old was never taken in: its daemon was gone when the process exited. */
const ORPHAN_SPILL_MS = 10_000;

/**
 * Appends to the WAL what orphaned spill files hold beyond it (records a process wrote on its
 * way out while no daemon was there to take them), then removes them: the upload then carries
 * them like everything else.
 */
function takeOrphanSpills(dir: string, walPath: string): number {
  const spills = readdirSync(dir).filter((f) => /^spill-\d+\.wal$/.test(f) && Date.now() - statSync(join(dir, f)).mtimeMs > ORPHAN_SPILL_MS);
  if (spills.length === 0) return 0;
  let lastSeq = walLastClientSeq(walPath);
  let taken = 0;
  const wal = new WalWriter(walPath);
  try {
    for (const f of spills) {
      const buf = readFileSync(join(dir, f));
      if (!hasWalMagic(buf)) continue;
      for (const frame of scanFrames(buf.subarray(WAL_MAGIC.length), WAL_MAGIC.length).frames) {
        const batch = decode<RunRecord[]>(frame.payload);
        const last = lastClientSeq(batch);
        if (last > lastSeq) {
          wal.append(frame.payload);
          lastSeq = last;
          taken += batch.length;
        }
      }
    }
  } finally {
    wal.close();
  }
  for (const f of spills) rmSync(join(dir, f), { force: true });
  return taken;
}

function walLastClientSeq(walPath: string): number {
  const buf = readFileSync(walPath);
  let last = 0;
  for (const frame of scanFrames(buf.subarray(WAL_MAGIC.length), WAL_MAGIC.length).frames) last = Math.max(last, lastClientSeq(decode<RunRecord[]>(frame.payload)));
  return last;
}

async function syncRunDir(dir: string, baseUrl: string, apiKey: string, timeoutMs: number): Promise<boolean> {
  const walPath = findWal(dir);
  const spilled = takeOrphanSpills(dir, walPath);
  if (spilled > 0) process.stderr.write(`trackside: took in ${spilled} records from spill files in ${dir}\n`);
  const { info, records, end } = readRunInfo(walPath);
  const path = `${info.entity}/${info.project}/${info.id}`;
  const log = pino({ base: { runId: info.id, component: "sync" } }, pino.destination({ dest: join(dir, "logs", "sync.log"), mkdir: true, sync: true }));
  const uploader = new Uploader({ walPath, target: { baseUrl, apiKey, entity: info.entity, project: info.project, runId: info.id }, log });
  uploader.start(end);
  const tty = process.stderr.isTTY;
  const progress = setInterval(() => {
    const s = uploader.status();
    const pct = end > 0 ? Math.floor((100 * s.uploadedBytes) / end) : 100;
    const line = `syncing ${path}: ${pct}% (${(s.uploadedBytes / 1e6).toFixed(1)} of ${(end / 1e6).toFixed(1)} MB)`;
    process.stderr.write(tty ? `\r${line}` : `${line}\n`);
  }, tty ? 200 : 2000);
  const synced = await uploader.drain(timeoutMs);
  clearInterval(progress);
  const status = uploader.status();
  await uploader.close();
  if (tty) process.stderr.write("\r\x1b[K");
  if (synced) {
    process.stdout.write(`synced ${path}: ${records} records -> ${runUrl(baseUrl, info.entity, info.project, info.id)}\n`);
    return true;
  }
  process.stderr.write(
    `trackside: could not sync ${path}: ${status.fatalError ?? `${(status.pendingBytes / 1e6).toFixed(1)} MB still not uploaded after ${timeoutMs / 1000} s`}. Run the same command again; nothing is sent twice.\n`,
  );
  return false;
}
