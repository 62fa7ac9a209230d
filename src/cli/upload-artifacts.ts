/**
 * `trackside sync`'s second half: a run directory's artifact queue, uploaded after its WAL (a
 * version names its run, which the WAL makes) with the daemon's own queue, so that sync sends
 * exactly what a daemon would. Sync only reads the run directory: the entries' results and the
 * multipart upload state stay in memory (a second sync asks the server again, which answers that
 * the blobs are there and the version exists).
 */
import type { Logger } from "pino";
import { ArtifactQueue } from "../daemon/index.js";
import { versionRef } from "../protocol/index.js";
import { printable } from "./output.js";

export interface ArtifactsUpload {
  /** Every entry is done (uploaded or refused) within the time. */
  done: boolean;
  /** One line per entry uploaded: `artifact name:v3`, `artifact input name:v3`. */
  uploaded: string[];
  /** One line per entry refused for good: what, and why. */
  refused: string[];
  /** Entries still not uploaded at the timeout. */
  pending: number;
}

export async function uploadArtifacts(options: {
  runDir: string;
  target: { baseUrl: string; apiKey: string; entity: string; project: string; runId: string };
  log: Logger;
  timeoutMs: number;
}): Promise<ArtifactsUpload> {
  const queue = new ArtifactQueue({ runDir: options.runDir, target: options.target, log: options.log, upload: true, persist: false, runExists: true });
  queue.start();
  const total = queue.status();
  let progress: NodeJS.Timeout | null = null;
  if (total.entries > 0) {
    const tty = process.stderr.isTTY;
    progress = setInterval(
      () => {
        const s = queue.status();
        const line = `syncing artifacts of ${options.target.runId}: ${total.entries - s.entries} of ${total.entries} (${(s.bytes / 1e6).toFixed(1)} MB to upload)`;
        process.stderr.write(tty ? `\r${printable(line)}` : `${printable(line)}\n`);
      },
      tty ? 200 : 2000,
    );
  }
  let done: boolean;
  try {
    done = await queue.drain(options.timeoutMs);
  } finally {
    if (progress) clearInterval(progress);
    if (progress && process.stderr.isTTY) process.stderr.write("\r\x1b[K");
  }
  const pending = queue.status().entries;
  await queue.close();
  const uploaded: string[] = [];
  const refused: string[] = [];
  for (const r of queue.results) {
    const what = r.name === null ? `queue entry ${r.entry}` : r.kind === "use" ? `use of ${r.name}` : r.name;
    if (r.result.error !== null) refused.push(`artifact ${what} not uploaded: ${r.result.error}`);
    else if (r.result.version !== null && r.name !== null) uploaded.push(`${r.kind === "use" ? "artifact input" : "artifact"} ${versionRef(r.name, r.result.version)}`);
  }
  return { done, uploaded, refused, pending };
}
