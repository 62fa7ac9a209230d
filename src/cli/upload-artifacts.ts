/**
 * `trackside sync`'s second half: a run directory's artifact queue (artifact versions and uses,
 * and the media files of logged images), uploaded after its WAL (a version names its run, which the WAL makes) with the daemon's own queue, so that sync sends
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
  /** Artifact versions and uses still not uploaded at the timeout. */
  pendingArtifacts: number;
  /** Media files (images) still not uploaded at the timeout. */
  pendingMedia: number;
}

/** `2 artifacts and 5 media files`: the kinds there are some of, each by its own name. */
export function queueWhat(artifacts: number, mediaFiles: number): string {
  const parts: string[] = [];
  if (artifacts > 0) parts.push(`${artifacts} artifact${artifacts === 1 ? "" : "s"}`);
  if (mediaFiles > 0) parts.push(`${mediaFiles} media file${mediaFiles === 1 ? "" : "s"}`);
  return parts.join(" and ");
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
        const line = `syncing ${queueWhat(total.artifacts, total.mediaFiles)} of ${options.target.runId}: ${queueWhat(s.artifacts, s.mediaFiles) || "nothing"} left (${(s.bytes / 1e6).toFixed(1)} MB to upload)`;
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
  const left = queue.status();
  await queue.close();
  const uploaded: string[] = [];
  const refused: string[] = [];
  for (const r of queue.results) {
    const what = r.name === null ? `queue entry ${r.entry}` : r.kind === "use" ? `use of ${r.name}` : r.name;
    if (r.result.error !== null) refused.push(`${r.kind === "blobs" ? `media files of queue entry ${r.entry}` : `artifact ${what}`} not uploaded: ${r.result.error}`);
    else if (r.result.version !== null && r.name !== null) uploaded.push(`${r.kind === "use" ? "artifact input" : "artifact"} ${versionRef(r.name, r.result.version)}`);
  }
  return { done, uploaded, refused, pendingArtifacts: left.artifacts, pendingMedia: left.mediaFiles };
}
