/** The few lines printed when a run ends: its state, a short summary, where it is, what is pending. */
import { errors, type TracksideError } from "../protocol/index.js";
import type { FinishResult, Run } from "./run.js";

const SUMMARY_KEYS = 8;

function fmt(v: unknown): string {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : Number(v.toPrecision(5)).toString();
  if (typeof v === "string") return v.length > 40 ? `${v.slice(0, 37)}...` : v;
  return JSON.stringify(v) ?? String(v);
}

/** What a run has left to upload, as the daemon counts it. */
export interface PendingCounts {
  pendingRecords: number;
  pendingArtifacts?: number;
  pendingMedia?: number;
}

/**
 * `4 records, 1 artifact and 3 media files`: the records always, artifacts and media files when
 * there are some, each by its own name (a run that logged only images has no artifact to wait for).
 */
export function pendingWhat(m: PendingCounts): string {
  const parts = [`${m.pendingRecords} records`];
  if (m.pendingArtifacts) parts.push(`${m.pendingArtifacts} artifact${m.pendingArtifacts === 1 ? "" : "s"}`);
  if (m.pendingMedia) parts.push(`${m.pendingMedia} media file${m.pendingMedia === 1 ? "" : "s"}`);
  return parts.length === 1 ? parts[0] : `${parts.slice(0, -1).join(", ")} and ${parts[parts.length - 1]}`;
}

export function formatFooter(run: Run, r: FinishResult): string {
  const lines = [`run ${run.name} ${r.state}${r.exitCode !== 0 ? ` (exit code ${r.exitCode})` : ""} after ${run.step} steps`];
  const keys = Object.keys(run.summary.toJSON()).filter((k) => !k.startsWith("_"));
  if (keys.length > 0) {
    const shown = keys.slice(0, SUMMARY_KEYS).map((k) => `${k}=${fmt(run.summary.get(k))}`);
    lines.push(`summary: ${shown.join(" ")}${keys.length > SUMMARY_KEYS ? ` (+${keys.length - SUMMARY_KEYS} more)` : ""}`);
  }
  if (run.mode === "offline") {
    lines.push(`offline run saved in ${run.dir}; upload it with: trackside sync ${run.dir}`);
  } else if (r.synced && r.refused) {
    lines.push(`synced, except ${r.refused.records} records that were refused (see the warning below); view it at ${run.url}`);
  } else if (r.synced) {
    lines.push(`synced; view it at ${run.url}`);
  } else {
    const mb = (r.pendingBytes / 1e6).toFixed(1);
    lines.push(
      `${pendingWhat(r)} (${mb} MB) not uploaded yet; the daemon keeps trying in the background.`,
      `check with: trackside runs show ${run.path}   (data is safe in ${run.dir})`,
      `view it at ${run.url}`,
    );
  }
  return lines.join("\ntrackside: ");
}

/** The TRK_ERR_RECORDS_REFUSED warning for what the daemon or the server refused of the run, or null when nothing was. */
export function refusedWarning(r: FinishResult): TracksideError | null {
  if (!r.refused) return null;
  return errors.recordsRefused(r.refused.records, r.refused.error, r.refused.file);
}
