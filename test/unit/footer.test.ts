/** The footer's lines and the refused-records warning that finish() prints. */
import { describe, expect, it } from "vitest";
import { formatFooter, refusedWarning } from "../../src/client/footer.js";
import type { FinishResult, Run } from "../../src/client/run.js";

const run = { name: "likely-lion-9", step: 20, mode: "online", url: "http://h/e/p/runs/r1", dir: "/d", path: "e/p/r1", summary: { toJSON: () => ({}) } } as unknown as Run;
const refused = { frames: 1, records: 3, bytes: 120, error: "TRK_ERR_BAD_VALUE: key \"x\" ...", file: "/d/dead-letter.wal" };

describe("the footer", () => {
  it("says how many records the server refused and why, as a TRK_ERR_RECORDS_REFUSED warning", () => {
    const r: FinishResult = { state: "finished", exitCode: 0, synced: true, pendingRecords: 0, pendingBytes: 0, refused };
    expect(formatFooter(run, r)).toContain("synced, except 3 records that were refused");
    const w = refusedWarning(r);
    expect(w?.code).toBe("TRK_ERR_RECORDS_REFUSED");
    expect(w?.message).toContain("3 record(s) of this run were refused, by the daemon's checks or by the server (the first reason: TRK_ERR_BAD_VALUE");
    expect(w?.message).toContain("/d/dead-letter.wal");
  });

  it("warns of nothing when nothing was refused", () => {
    const r: FinishResult = { state: "finished", exitCode: 0, synced: true, pendingRecords: 0, pendingBytes: 0, refused: null };
    expect(formatFooter(run, r)).toContain("synced; view it at");
    expect(refusedWarning(r)).toBeNull();
  });
});
