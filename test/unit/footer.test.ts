/** The footer's lines and the refused-records warning that finish() prints. */
import { describe, expect, it } from "vitest";
import { formatFooter, refusedWarning } from "../../src/client/footer.js";
import { progressLine, type FinishResult, type Run } from "../../src/client/run.js";

const run = { name: "likely-lion-9", step: 20, mode: "online", url: "http://h/e/p/runs/r1", dir: "/d", path: "e/p/r1", summary: { toJSON: () => ({}) } } as unknown as Run;
const refused = { frames: 1, records: 3, bytes: 120, error: "TRK_ERR_BAD_VALUE: key \"x\" ...", file: "/d/dead-letter.wal" };

describe("the footer", () => {
  it("says how many records the server refused and why, as a TRK_ERR_RECORDS_REFUSED warning", () => {
    const r: FinishResult = { state: "finished", exitCode: 0, synced: true, pendingRecords: 0, pendingBytes: 0, pendingArtifacts: 0, pendingMedia: 0, refused };
    expect(formatFooter(run, r)).toContain("synced, except 3 records that were refused");
    const w = refusedWarning(r);
    expect(w?.code).toBe("TRK_ERR_RECORDS_REFUSED");
    expect(w?.message).toContain("3 record(s) of this run were refused, by the daemon's checks or by the server (the first reason: TRK_ERR_BAD_VALUE");
    expect(w?.message).toContain("/d/dead-letter.wal");
  });

  it("warns of nothing when nothing was refused", () => {
    const r: FinishResult = { state: "finished", exitCode: 0, synced: true, pendingRecords: 0, pendingBytes: 0, pendingArtifacts: 0, pendingMedia: 0, refused: null };
    expect(formatFooter(run, r)).toContain("synced; view it at");
    expect(refusedWarning(r)).toBeNull();
  });

  it("counts the artifacts still to upload, in the footer and in finish()'s progress line", () => {
    const r: FinishResult = { state: "finished", exitCode: 0, synced: false, pendingRecords: 4, pendingBytes: 3_500_000, pendingArtifacts: 2, pendingMedia: 0, refused: null };
    expect(formatFooter(run, r)).toContain("4 records and 2 artifacts (3.5 MB) not uploaded yet");
    expect(progressLine("likely-lion-9", { pendingRecords: 0, pendingBytes: 2_000_000, pendingArtifacts: 1, error: null }, 3)).toBe("finishing run likely-lion-9: uploading 0 records and 1 artifact (2.0 MB) left, 3 s");
    expect(progressLine("likely-lion-9", { pendingRecords: 5, pendingBytes: 0, pendingArtifacts: 0, error: null }, 1)).toBe("finishing run likely-lion-9: uploading 5 records (0.0 MB) left, 1 s");
  });

  it("counts a run's images still to upload as media files, apart from its artifacts", () => {
    const images: FinishResult = { state: "finished", exitCode: 0, synced: false, pendingRecords: 4, pendingBytes: 1_200_000, pendingArtifacts: 0, pendingMedia: 3, refused: null };
    expect(formatFooter(run, images)).toContain("4 records and 3 media files (1.2 MB) not uploaded yet");
    expect(formatFooter(run, { ...images, pendingArtifacts: 1 })).toContain("4 records, 1 artifact and 3 media files (1.2 MB) not uploaded yet");
    expect(progressLine("likely-lion-9", { pendingRecords: 0, pendingBytes: 50_000, pendingArtifacts: 0, pendingMedia: 1, error: null }, 2)).toBe("finishing run likely-lion-9: uploading 0 records and 1 media file (0.1 MB) left, 2 s");
  });
});
