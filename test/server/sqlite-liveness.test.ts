/**
 * Liveness in the SQLite backend: several connections (server processes, threads) sweeping one
 * database file at once, and migration 2 on a file from before liveness. What every backend
 * must do is in the store contract (store-contract.ts); these reach into SQLite itself.
 */
import { createRequire } from "node:module";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RunView } from "../../src/protocol/api.js";
import { MIGRATIONS, migrate, SqliteStore, staleRunError } from "../../src/server/index.js";
import { SWEEP_SQL } from "../../src/server/sqlite/sqlite-liveness.js";
import { get, makeEnv, postRecords, runInfo, T0, type TestEnv } from "./helpers.js";

const TIMEOUT_S = 120;
const TIMEOUT_MS = TIMEOUT_S * 1000;
const SWEPT_ERROR = staleRunError(TIMEOUT_S);

let env: TestEnv;
beforeEach(async () => {
  env = await makeEnv();
});
afterEach(async () => {
  await env.close();
});

const at = (ms: number) => void (env.clock.now = T0 + ms);
const view = async (id: string) => (await get(env, `/api/v1/runs/alice/mnist/${id}`)).json() as RunView;

/** Opens a run at the current clock (its first heartbeat). */
async function open(id: string): Promise<void> {
  const res = await postRecords(env, `alice/mnist/${id}`, [{ k: "run", seq: 0, run: runInfo(id) }]);
  expect(res.statusCode).toBe(200);
}

describe("several servers on one database", () => {
  const STALE = 40;
  const FRESH = 5;

  async function seed(): Promise<void> {
    at(0);
    for (let i = 0; i < STALE; i++) await open(`stale${String(i).padStart(3, "0")}`);
    at(TIMEOUT_MS);
    for (let i = 0; i < FRESH; i++) await open(`fresh${String(i).padStart(3, "0")}`);
    at(TIMEOUT_MS + 1);
  }

  const states = () =>
    env.store.db.prepare("SELECT state, COUNT(*) AS n FROM runs GROUP BY state ORDER BY state").all() as { state: string; n: number }[];

  it("two stores sweeping the same file at once mark each stale run once", async () => {
    await seed();
    const other = SqliteStore.open(join(env.dir, "trackside.db"));
    try {
      const cutoff = env.clock.now - TIMEOUT_MS;
      // Each store stamps its own sweep time, so the rows tell which one marked them.
      const counts = await Promise.all([
        env.store.sweepStaleRuns(cutoff, 1, SWEPT_ERROR),
        other.sweepStaleRuns(cutoff, 2, SWEPT_ERROR),
        env.store.sweepStaleRuns(cutoff, 1, SWEPT_ERROR),
        other.sweepStaleRuns(cutoff, 2, SWEPT_ERROR),
      ]);
      expect(counts.reduce((a, b) => a + b, 0)).toBe(STALE);
      const byMarker = env.store.db
        .prepare("SELECT sweeper_crashed_at AS marker, COUNT(*) AS n FROM runs WHERE sweeper_crashed_at IS NOT NULL GROUP BY marker")
        .all() as { marker: number; n: number }[];
      const marked = (m: number) => byMarker.find((r) => r.marker === m)?.n ?? 0;
      expect(marked(1)).toBe(counts[0] + counts[2]);
      expect(marked(2)).toBe(counts[1] + counts[3]);
      expect(states()).toEqual([
        { state: "crashed", n: STALE },
        { state: "running", n: FRESH },
      ]);
      // The other store sees the same state and revives through its own connection.
      expect((await other.getRun("alice", "mnist", "stale000"))!.state).toBe("crashed");
      expect(await other.heartbeat("alice", "mnist", "stale000", env.clock.now)).toBe(true);
      expect(await view("stale000")).toMatchObject({ state: "running", error: null });
    } finally {
      await other.close();
    }
  });

  it("two threads running the sweep on their own connections in parallel mark each stale run once", async () => {
    await seed();
    const file = join(env.dir, "trackside.db");
    const cutoff = env.clock.now - TIMEOUT_MS;
    // Both threads wait at a barrier, then run the store's sweep statement at the same moment.
    const barrier = new Int32Array(new SharedArrayBuffer(4));
    const sqlite = createRequire(import.meta.url).resolve("better-sqlite3");
    const source = `
      const { workerData, parentPort } = require("node:worker_threads");
      const Database = require(workerData.sqlite);
      const db = new Database(workerData.file);
      db.pragma("busy_timeout = 5000");
      const sweep = db.prepare(workerData.sql);
      Atomics.add(workerData.barrier, 0, 1);
      while (Atomics.load(workerData.barrier, 0) < 2) Atomics.wait(workerData.barrier, 0, Atomics.load(workerData.barrier, 0), 5);
      const changes = sweep.run({ cutoff: workerData.cutoff, now: workerData.marker, error: workerData.error }).changes;
      db.close();
      parentPort.postMessage(changes);`;
    const sweepIn = (marker: number) =>
      new Promise<number>((resolve, reject) => {
        const worker = new Worker(source, { eval: true, workerData: { sqlite, file, sql: SWEEP_SQL, barrier, cutoff, marker, error: SWEPT_ERROR } });
        worker.once("message", resolve);
        worker.once("error", reject);
      });
    const counts = await Promise.all([sweepIn(1), sweepIn(2)]);
    expect(counts[0] + counts[1]).toBe(STALE);
    const marked = env.store.db.prepare("SELECT COUNT(*) FROM runs WHERE sweeper_crashed_at = ?").pluck();
    expect([marked.get(1), marked.get(2)]).toEqual(counts);
    expect(states()).toEqual([
      { state: "crashed", n: STALE },
      { state: "running", n: FRESH },
    ]);
  });
});

describe("migration 2 on a database from before liveness", () => {
  it("adds the marker to existing runs (NULL), and the sweep and repair work on them", async () => {
    const file = join(env.dir, "old.db");
    const old = new Database(file);
    migrate(old, MIGRATIONS.filter((m) => m.version === 1));
    old.exec(`
      INSERT INTO users (id, name, created_at) VALUES (1, 'alice', 0);
      INSERT INTO entities (id, name, owner_user_id, created_at) VALUES (1, 'alice', 1, 0);
      INSERT INTO projects (id, entity_id, name, created_at) VALUES (1, 1, 'mnist', 0);
      INSERT INTO runs (project_id, run_id, name, author_user_id, created_at, heartbeat_at, state_seq) VALUES (1, 'old00001', 'n', 1, 0, 0, 0);`);
    old.close();

    const store = SqliteStore.open(file);
    try {
      expect((await store.getRun("alice", "mnist", "old00001"))!).toMatchObject({ state: "running", sweeperCrashedAt: null });
      expect(await store.sweepStaleRuns(1, 5, SWEPT_ERROR)).toBe(1);
      expect((await store.getRun("alice", "mnist", "old00001"))!).toMatchObject({ state: "crashed", error: SWEPT_ERROR, sweeperCrashedAt: 5 });
      expect(await store.heartbeat("alice", "mnist", "old00001", 6)).toBe(true);
      expect((await store.getRun("alice", "mnist", "old00001"))!).toMatchObject({ state: "running", error: null, sweeperCrashedAt: null, heartbeatAt: 6 });
    } finally {
      await store.close();
    }
  });
});

