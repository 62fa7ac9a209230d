/**
 * SQLite's ingest writer thread (src/server/sqlite/ingest-writer.ts), really started: uploads
 * stored on a second connection while the main thread writes too, the thread's start, and its
 * death. The store contract runs on the thread as well (store-contract.sqlite.test.ts).
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Worker } from "node:worker_threads";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RunRecord } from "../../src/protocol/records.js";
import { SqliteStore, type IngestThreadMode } from "../../src/server/index.js";
import { WANT, type WriterGate } from "../../src/server/sqlite/writer-gate.js";
import type { IngestTarget } from "../../src/server/store/store.js";
import { cli, makeEnv } from "../helpers/processes.js";
import { runInfo, T0 } from "./helpers.js";

let dir: string;
let store: SqliteStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "trackside-writer-"));
});
afterEach(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function open(ingestThread: IngestThreadMode): Promise<{ target: (runId: string) => IngestTarget; userId: number; entityId: number }> {
  store = SqliteStore.open(join(dir, "trackside.db"), { ingestThread });
  const user = await store.createUser("alice", T0);
  const entity = (await store.getEntity("alice"))!;
  return { target: (runId) => ({ entityId: entity.id, project: "mnist", runId, authorUserId: user.id }), userId: user.id, entityId: entity.id };
}

/** A history record of `n` steps from `from` in columns, as the daemon uploads them. */
function columns(seq: number, from: number, n: number): RunRecord {
  const step = Float64Array.from({ length: n }, (_, i) => from + i);
  return { k: "history", seq, n, cols: { _step: step, loss: step.map((s) => 1 / (s + 1)) } };
}

/** The thread of the store's writer (private: only a test kills it). */
function writerThread(): Worker | null {
  return (store as unknown as { writer: { worker: Worker | null } }).writer.worker;
}

/**
 * Keeps the thread from starting its next upload, as a main-thread write that wants the turn
 * does (writer-gate.ts: slot WANT is 1). Only the thread's death undoes it here: the store
 * resets the gate then.
 */
function stallWriter(): void {
  const gate = (store as unknown as { writer: { gate: WriterGate } }).writer.gate;
  Atomics.store(new Int32Array(gate.shared), WANT, 1);
}

describe("the ingest writer thread", () => {
  it("stores uploads while the main thread's own write transactions go on, none of them refused", async () => {
    const { target, userId, entityId } = await open("always");
    const scope = { userId, entityId, project: "mnist" };
    const view = await store.createView(scope, { name: "v", state: {}, isDefault: false });
    const runs = ["run00001", "run00002", "run00003"];
    let uploading = true;
    const uploads = Promise.all(
      runs.map(async (runId) => {
        await store.ingest(target(runId), [{ k: "run", seq: 1, run: runInfo(runId) }], T0);
        for (let b = 0; b < 20; b++) await store.ingest(target(runId), [columns(2 + b * 2_000, b * 2_000, 2_000)], T0);
      }),
    ).finally(() => (uploading = false));
    // A read, then a write, in one transaction, over and over while the thread commits uploads:
    // as a deferred transaction it would be refused (SQLITE_BUSY_SNAPSHOT) whenever an upload
    // committed between the two.
    let edits = 0;
    while (uploading) {
      await store.updateView(scope, view.id, { isDefault: edits % 2 === 0, state: { edits } });
      edits++;
      await new Promise((resolve) => setImmediate(resolve));
    }
    await uploads;
    expect(edits).toBeGreaterThan(5);
    expect((await store.listViews(scope))[0].state).toEqual({ edits: edits - 1 });
    for (const runId of runs) {
      const run = (await store.getRun("alice", "mnist", runId))!;
      expect(await store.countHistory(run.pk)).toBe(40_000);
      expect(await store.readHistory(run.pk, { minStep: 39_999, limit: 1 })).toEqual([{ _step: 39_999, loss: 1 / 40_000 }]);
    }
  });

  it("a main-thread write waits for the upload being stored, not for every upload queued behind it", async () => {
    const { target, userId, entityId } = await open("always");
    // SQLite's own wait gives up after a quarter of a second here: alone, it would keep missing
    // the instants between two queued uploads, and refuse the edit (SQLITE_BUSY).
    store.db.pragma("busy_timeout = 250");
    const scope = { userId, entityId, project: "mnist" };
    const view = await store.createView(scope, { name: "v", state: {}, isDefault: false });
    await store.ingest(target("run00001"), [{ k: "run", seq: 1, run: runInfo("run00001") }], T0);
    let storing = true;
    const uploads = Promise.all(Array.from({ length: 40 }, (_, b) => store.ingest(target("run00001"), [columns(2 + b * 5_000, b * 5_000, 5_000)], T0))).finally(
      () => (storing = false),
    );
    let edits = 0;
    while (storing) {
      await store.updateView(scope, view.id, { state: { edits } });
      edits++;
      await new Promise((resolve) => setImmediate(resolve));
    }
    await uploads;
    expect(edits).toBeGreaterThan(5);
    expect((await store.listViews(scope))[0].state).toEqual({ edits: edits - 1 });
    expect(await store.countHistory((await store.getRun("alice", "mnist", "run00001"))!.pk)).toBe(200_000);
  });

  it("starts once the store has taken 16,384 rows, and the store reads back every row either side of the start", async () => {
    const { target } = await open("auto");
    await store.ingest(target("run00001"), [{ k: "run", seq: 1, run: runInfo("run00001") }, columns(2, 0, 10_000)], T0);
    expect(writerThread()).toBeNull();
    await store.ingest(target("run00001"), [columns(10_002, 10_000, 10_000)], T0);
    expect(writerThread()).not.toBeNull();
    await store.ingest(target("run00001"), [columns(20_002, 20_000, 5)], T0);
    const run = (await store.getRun("alice", "mnist", "run00001"))!;
    expect(await store.countHistory(run.pk)).toBe(20_005);
    expect(await store.readHistory(run.pk, { minStep: 9_999, maxStep: 10_000, limit: 2 })).toEqual([
      { _step: 9_999, loss: 1 / 10_000 },
      { _step: 10_000, loss: 1 / 10_001 },
    ]);
  });

  it("when the thread dies, the uploads it held are refused as a server fault and later ones are stored on the main thread", async () => {
    const { target } = await open("always");
    await store.ingest(target("run00001"), [{ k: "run", seq: 1, run: runInfo("run00001") }], T0);
    // The thread must still hold the upload when it dies: unstalled, a busy machine could let it
    // store and answer before terminate() reaches it.
    stallWriter();
    const held = store.ingest(target("run00001"), [columns(2, 0, 50_000)], T0);
    await writerThread()!.terminate();
    await expect(held).rejects.toMatchObject({ code: "TRK_ERR_INTERNAL" });
    // The daemon sends the refused upload again: it is stored, on the main thread now.
    await store.ingest(target("run00001"), [columns(2, 0, 50_000)], T0);
    expect(writerThread()).toBeNull();
    expect(await store.countHistory((await store.getRun("alice", "mnist", "run00001"))!.pk)).toBe(50_000);
    expect(await store.heartbeat("alice", "mnist", "run00001", T0 + 1)).toBe(true);
  });
});

describe("the ingestThread option", () => {
  it("refuses a mode it does not know (the environment variable's on and off too) with a coded error, before the file is opened", () => {
    // A program that passes the environment's spelling must not get the thread for "off".
    for (const mode of ["off", "on", "yes"]) {
      expect(() => SqliteStore.open(join(dir, "trackside.db"), { ingestThread: mode as IngestThreadMode })).toThrow(
        expect.objectContaining({ code: "TRK_ERR_INVALID_OPTION", message: expect.stringContaining('"auto", "always" or "never"') }),
      );
    }
    expect(existsSync(join(dir, "trackside.db"))).toBe(false);
  });
});

describe("TRACKSIDE_INGEST_THREAD", () => {
  it("takes auto, on or off; anything else stops `trackside server` with a coded error naming the variable", async () => {
    const t = makeEnv();
    const bad = await cli(["server", "--port", "0", "--data-dir", join(t.home, "data")], { ...t.env, TRACKSIDE_INGEST_THREAD: "yes" });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('TRK_ERR_INVALID_OPTION: Invalid option TRACKSIDE_INGEST_THREAD="yes"');
    expect(bad.stderr).toContain("auto, on or off");
  });
});
