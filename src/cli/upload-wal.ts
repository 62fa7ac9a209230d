/**
 * Uploads a WAL held in memory (`trackside sync`'s readable frames, `trackside import wandb`'s
 * records) with the daemon's own uploader, so that both send exactly what a daemon would: the same
 * batching, retries, idempotent seqs and refusals. Progress goes to stderr: a line redrawn in
 * place on a terminal, a line every 2 seconds otherwise.
 */
import type { Logger } from "pino";
import { Uploader, type Refusal, type UploadStatus } from "../daemon/index.js";
import { printable } from "./output.js";

export interface WalUpload {
  /** Whether every byte was taken (or refused) before the time ran out or a fatal error. */
  synced: boolean;
  status: UploadStatus;
  refusals: Refusal[];
}

/**
 * @param wal the WAL's bytes, magic first
 * @param walPath what the uploader names in its errors
 * @param verb what the progress line says ("syncing", "importing")
 */
export async function uploadWal(options: {
  wal: Buffer;
  walPath: string;
  target: { baseUrl: string; apiKey: string; entity: string; project: string; runId: string };
  log: Logger;
  verb: string;
  timeoutMs: number;
}): Promise<WalUpload> {
  const { wal, target } = options;
  const path = `${target.entity}/${target.project}/${target.runId}`;
  const refusals: Refusal[] = [];
  const uploader = new Uploader({
    walPath: options.walPath,
    target,
    log: options.log,
    readAt: (into, offset, length, position) => wal.copy(into, offset, position, Math.min(wal.length, position + length)),
    offsetPath: null,
    deadLetter: null,
    onRefused: (refusal) => void refusals.push(refusal),
  });
  uploader.start(wal.length);
  const tty = process.stderr.isTTY;
  const progress = setInterval(
    () => {
      const s = uploader.status();
      const line = `${options.verb} ${path}: ${Math.floor((100 * s.uploadedBytes) / wal.length)}% (${(s.uploadedBytes / 1e6).toFixed(1)} of ${(wal.length / 1e6).toFixed(1)} MB)`;
      process.stderr.write(tty ? `\r${printable(line)}` : `${printable(line)}\n`);
    },
    tty ? 200 : 2000,
  );
  let synced: boolean;
  try {
    synced = await uploader.drain(options.timeoutMs);
  } finally {
    clearInterval(progress);
    if (tty) process.stderr.write("\r\x1b[K");
  }
  const status = uploader.status();
  await uploader.close();
  return { synced, status, refusals };
}
