/**
 * `trackside sync` of damaged run directories, with a real server and the real CLI: it reads
 * past what it cannot read, names each range, uploads everything else, exits non-zero, and
 * leaves every file of the directory byte for byte as it was.
 */
import { appendFileSync, lutimesSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WAL_MAGIC, encodeRecords, frameHeader, type RunRecord } from "../../src/protocol/index.js";
import { cli, serverWithEnv, showRun, type TestEnv, type TestServer } from "../helpers/processes.js";
import { fingerprint, localUser, rows, runInfo, writeRunDir } from "../helpers/run-dir.js";

let t: TestEnv;
let server: TestServer;
let entity: string;
beforeAll(async () => {
  ({ t, server } = await serverWithEnv());
  entity = localUser(t.home, server.url).user;
});
afterAll(() => server?.stop());

/** A run of 30 steps in 6 frames: the run record with steps 0-4, then five steps per frame, the last one with the exit. */
function sixFrames(id: string): RunRecord[][] {
  const batches: RunRecord[][] = [];
  for (let f = 0; f < 6; f++) {
    const b: RunRecord[] = [];
    if (f === 0) b.push({ k: "run", seq: 1, run: runInfo(entity, id, t.runDir) });
    b.push({ k: "history", seq: 2 + f * 5, rows: rows(f * 5, 5) });
    if (f === 5) b.push({ k: "exit", seq: 32, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: Date.now() });
    batches.push(b);
  }
  return batches;
}

describe("trackside sync of a damaged run directory", () => {
  it("one flipped bit in frame 3 of 6: names the range, uploads every other step, exits non-zero, changes no file", async () => {
    const { dir, wal, frames } = writeRunDir(t.runDir, "flip0001", sixFrames("flip0001"));
    const buf = readFileSync(wal);
    buf[frames[2][0] + 20] ^= 0x04;
    writeFileSync(wal, buf);
    const before = fingerprint(dir);
    const r = await cli(["sync", dir], t.env);
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toContain(`${wal}: skipped bytes ${frames[2][0]}..${frames[2][1]} (${frames[2][1] - frames[2][0]} bytes): not a valid frame: CRC-32 mismatch`);
    expect(r.stderr).toContain("TRK_ERR_SYNC_INCOMPLETE");
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(fingerprint(dir)).toEqual(before);
    const run = await showRun(`${entity}/fixtures/flip0001`, t.env);
    expect(run).toMatchObject({ state: "finished", historySteps: 25 });
  });

  it("names a file whose name holds terminal control codes with visible escapes, never the codes", async () => {
    const { dir, wal, frames } = writeRunDir(t.runDir, "escname1", sixFrames("escname1"));
    const buf = readFileSync(wal);
    buf[frames[2][0] + 20] ^= 0x04;
    const evil = join(dir, "run-\x1b]0;pwned\x07\x1b[2J.wal"); // sets the title, clears the screen
    writeFileSync(evil, buf);
    rmSync(wal);
    const r = await cli(["sync", dir], t.env);
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toContain("run-\\x1b]0;pwned\\x07\\x1b[2J.wal: skipped bytes");
    expect(r.stderr + r.stdout).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
  });

  it("does not follow a symbolic link in the directory: it would upload another run's WAL under this run", async () => {
    const batches = sixFrames("link0001");
    const { dir } = writeRunDir(t.runDir, "link0001", batches.slice(0, 2));
    const other = writeRunDir(t.runDir, "link0002", sixFrames("link0002").map((b) => b.map((r) => (r.k === "run" ? { ...r, run: { ...r.run, id: "link0001" } } : r))));
    const spill = join(dir, "spill-999998.wal");
    symlinkSync(other.wal, spill);
    const old = new Date(Date.now() - 60_000);
    lutimesSync(spill, old, old);
    const r = await cli(["sync", dir], t.env);
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toContain(`${spill}: skipped bytes 0..`);
    expect(r.stderr).toContain("a symbolic link, not followed");
    expect(await showRun(`${entity}/fixtures/link0001`, t.env)).toMatchObject({ state: "running", historySteps: 10 });
  });

  it("an old spill file: its records are uploaded, and neither the WAL nor the spill file changes", async () => {
    const batches = sixFrames("spill001");
    const { dir } = writeRunDir(t.runDir, "spill001", batches.slice(0, 2));
    // The spill repeats an acknowledged batch (it may) and carries the rest, exit included.
    const spill = join(dir, "spill-999999.wal");
    writeFileSync(spill, Buffer.concat([WAL_MAGIC, ...batches.slice(1).flatMap((b) => [frameHeader(encodeRecords(b)), encodeRecords(b)])]));
    const old = new Date(Date.now() - 60_000);
    utimesSync(spill, old, old);
    const before = fingerprint(dir);
    const r = await cli(["sync", dir], t.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("took in");
    expect(fingerprint(dir)).toEqual(before);
    expect(await showRun(`${entity}/fixtures/spill001`, t.env)).toMatchObject({ state: "finished", historySteps: 30 });
  });

  it("a frame with a valid CRC that is not msgpack: a coded message naming it, no stack trace, the rest uploaded", async () => {
    const batches = sixFrames("nomsgp01");
    const { dir, wal, frames } = writeRunDir(t.runDir, "nomsgp01", batches.slice(0, 2));
    const junk = Buffer.from([0xc1, 0xc1, 0xc1, 0xc1]); // 0xc1 is never used in msgpack
    const rest = batches.slice(2).flatMap((b) => [frameHeader(encodeRecords(b)), encodeRecords(b)]);
    appendFileSync(wal, Buffer.concat([frameHeader(junk), junk, ...rest]));
    const before = fingerprint(dir);
    const r = await cli(["sync", dir], t.env);
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toContain(`${wal}: skipped bytes ${frames[1][1]}..${frames[1][1] + 12} (12 bytes): its CRC-32 holds but it is not msgpack`);
    expect(r.stderr).toContain("TRK_ERR_SYNC_INCOMPLETE");
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(fingerprint(dir)).toEqual(before);
    expect(await showRun(`${entity}/fixtures/nomsgp01`, t.env)).toMatchObject({ state: "finished", historySteps: 30 });
  });

  it("a frame the server refuses: says how many records and why, exits non-zero, uploads the rest", async () => {
    const batches = sixFrames("refuse01");
    batches[2] = [{ k: "history", seq: 12, rows: [{ _step: "ten" } as never] }, ...batches[2].slice(1)];
    const { dir } = writeRunDir(t.runDir, "refuse01", batches);
    const before = fingerprint(dir);
    const r = await cli(["sync", dir], t.env);
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toMatch(/the server refused the frame at byte \d+ of .*run-refuse01\.wal \(1 records\): TRK_ERR_BAD_REQUEST/);
    expect(r.stderr).toContain("TRK_ERR_RECORDS_REFUSED: The server refused 1 record(s)");
    expect(fingerprint(dir)).toEqual(before);
    expect(await showRun(`${entity}/fixtures/refuse01`, t.env)).toMatchObject({ state: "finished", historySteps: 25 });
  });
});
