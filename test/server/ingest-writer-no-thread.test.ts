/**
 * A system that refuses the ingest writer its thread (ingest-writer.ts): `new Worker()` throws
 * ERR_WORKER_INIT_FAILED at once when the thread cannot be created (a container's pids limit,
 * no memory for its stack). Uploads must then be stored on the HTTP thread, as before the thread.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { RunRecord } from "../../src/protocol/records.js";
import type { SqliteStore } from "../../src/server/index.js";
import { runInfo, T0 } from "./helpers.js";

vi.mock("node:worker_threads", async (importOriginal) => ({
  ...(await importOriginal<typeof import("node:worker_threads")>()),
  Worker: class {
    constructor() {
      // What node's Worker throws when uv_thread_create fails.
      throw Object.assign(new Error("ERR_WORKER_INIT_FAILED: Resource temporarily unavailable"), { code: "ERR_WORKER_INIT_FAILED" });
    }
  },
}));

let dir: string;
let store: SqliteStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "trackside-no-thread-"));
});
afterEach(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

function columns(seq: number, from: number, n: number): RunRecord {
  const step = Float64Array.from({ length: n }, (_, i) => from + i);
  return { k: "history", seq, n, cols: { _step: step, loss: step.map((s) => 1 / (s + 1)) } };
}

describe("the ingest writer when the system refuses it a thread", () => {
  it('"auto" goes on storing every upload on the HTTP thread past 16,384 rows', async () => {
    vi.resetModules(); // the setup file may have loaded the server before the mock
    const { SqliteStore } = await import("../../src/server/index.js");
    store = SqliteStore.open(join(dir, "trackside.db"), { ingestThread: "auto" });
    const user = await store.createUser("alice", T0);
    const target = { entityId: (await store.getEntity("alice"))!.id, project: "mnist", runId: "run00001", authorUserId: user.id };
    await store.ingest(target, [{ k: "run", seq: 1, run: runInfo("run00001") }, columns(2, 0, 10_000)], T0);
    await store.ingest(target, [columns(10_002, 10_000, 10_000)], T0);
    await store.ingest(target, [columns(20_002, 20_000, 5)], T0);
    expect(await store.heartbeat("alice", "mnist", "run00001", T0 + 1)).toBe(true);
    expect(await store.countHistory((await store.getRun("alice", "mnist", "run00001"))!.pk)).toBe(20_005);
  });

  it('"always" refuses the upload as a server fault that names the cause', async () => {
    vi.resetModules();
    const { SqliteStore } = await import("../../src/server/index.js");
    store = SqliteStore.open(join(dir, "trackside.db"), { ingestThread: "always" });
    const user = await store.createUser("alice", T0);
    const target = { entityId: (await store.getEntity("alice"))!.id, project: "mnist", runId: "run00001", authorUserId: user.id };
    await expect(store.ingest(target, [{ k: "run", seq: 1, run: runInfo("run00001") }], T0)).rejects.toMatchObject({
      code: "TRK_ERR_INTERNAL",
      message: expect.stringContaining("ERR_WORKER_INIT_FAILED"),
    });
  });
});
