/**
 * PostgresStore against a real throwaway cluster: migrations under the advisory lock, a run
 * ingested and read back, and what replicas on one database do at once (the same batch through
 * two stores, two sweeps). Backend-neutral behaviour is the contract suite's; raw SQL is here.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HistoryRecord, RunRecord } from "../../../src/protocol/records.js";
import type { HistoryQuery } from "../../../src/server/store/store.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PG_MIGRATIONS } from "../../../src/server/postgres/postgres-migrations.js";
import { PostgresStore, SqliteStore, Sweeper } from "../../../src/server/index.js";
import { SWEEP_LOCK_KEY } from "../../../src/server/postgres/postgres-liveness.js";
import type { IngestTarget } from "../../../src/server/index.js";
import type { HistoryBucketsQuery } from "../../../src/server/store/store.js";
import { postgresOrSkip, startPostgres, type PostgresCluster } from "../../helpers/postgres.js";
import { rows, runInfo, T0 } from "../helpers.js";

const bin = postgresOrSkip();

/** What SQLite answers to these history reads of the same records: PostgreSQL must answer the same. */
async function sqliteHistory(records: RunRecord[], queries: HistoryQuery[]) {
  const dir = mkdtempSync(join(tmpdir(), "pg-vs-sqlite-"));
  const store = SqliteStore.open(join(dir, "trackside.db"));
  try {
    const alice = await store.createUser("alice", T0);
    const target = { entityId: (await store.getEntity("alice"))!.id, project: "mnist", runId: "h1", authorUserId: alice.id };
    for (const r of records) await store.ingest(target, [r], T0);
    const run = (await store.getRun("alice", "mnist", "h1"))!;
    return { count: await store.countHistory(run.pk), reads: await Promise.all(queries.map((q) => store.readHistory(run.pk, q))) };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The chart SQLite answers for the same records: the PostgreSQL answer must be the same. */
async function sqliteChart(records: RunRecord[]) {
  return sqliteChartOf(records, { key: "loss", x: "step", buckets: 10 });
}

async function sqliteChartOf(records: RunRecord[], query: HistoryBucketsQuery) {
  const dir = mkdtempSync(join(tmpdir(), "pg-vs-sqlite-"));
  const store = SqliteStore.open(join(dir, "trackside.db"));
  try {
    const alice = await store.createUser("alice", T0);
    await store.ingest({ entityId: (await store.getEntity("alice"))!.id, project: "mnist", runId: "r1", authorUserId: alice.id }, records, T0);
    const run = (await store.getRun("alice", "mnist", "r1"))!;
    return await store.historyBuckets(run.pk, query);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(bin === null)("PostgresStore", () => {
  let pg: PostgresCluster;
  let dbs = 0;
  const stores: PostgresStore[] = [];
  beforeAll(async () => {
    pg = await startPostgres(bin as string);
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await pg?.stop();
  });

  /** A fresh database, opened by `count` stores at once (as replicas starting together). */
  async function open(count = 1): Promise<PostgresStore[]> {
    const url = await pg.createDatabase(`t${++dbs}`);
    const opened = await Promise.all(Array.from({ length: count }, () => PostgresStore.open(url, { max: 4 })));
    stores.push(...opened);
    return opened;
  }

  async function aliceTarget(store: PostgresStore, runId = "r1"): Promise<IngestTarget> {
    const alice = (await store.getUserByName("alice")) ?? (await store.createUser("alice", T0));
    const entity = (await store.getEntity("alice"))!;
    return { entityId: entity.id, project: "mnist", runId, authorUserId: alice.id };
  }

  function batch(runId = "r1"): RunRecord[] {
    const n = 500;
    const steps = Float64Array.from({ length: n }, (_, i) => i);
    return [
      { k: "run", seq: 1, run: runInfo(runId, { tags: ["baseline"], config: { lr: 0.001, opt: { name: "adam" } } }) },
      {
        k: "history",
        seq: 2,
        n,
        cols: {
          _step: steps,
          _timestamp: steps.map((s) => T0 + s * 1000),
          _runtime: steps.slice(),
          loss: steps.map((s) => (s === 7 ? NaN : 1 / (s + 1))),
          phase: Array.from({ length: n }, (_, i) => (i % 2 ? "train" : "eval")),
        },
      },
      { k: "summary", seq: 502, summary: { best: 0.5, nan: NaN } },
      { k: "console", seq: 503, lines: [{ at: T0, stream: "stdout", text: "epoch 1 Done" }, { at: T0 + 1, stream: "stderr", text: "warn: 50% _x_" }] },
      { k: "system", seq: 0, at: T0 + 5, values: { "system/cpu": 12.5, "system/mem": NaN } },
      { k: "exit", seq: 505, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: T0 + 600_000 },
    ];
  }

  it("migrates an empty database once when two replicas open it at once", async () => {
    const [a] = await open(2);
    const versions = await a.sql`SELECT version FROM schema_migrations`;
    expect(versions.map((r) => r.version).sort((x, y) => x - y)).toEqual(PG_MIGRATIONS.map((m) => m.version).sort((x, y) => x - y));
  });

  it("has autovacuum visit the runs-page sort index's table after 10,000 rows whatever its size, and no other table tuned (migration 10)", async () => {
    const [store] = await open();
    // PostgreSQL's defaults wait for a fifth of a table's rows: in a table shared by every
    // project's sort values, a project could double before its new values were vacuumed.
    const tuned = await store.sql<{ relname: string; reloptions: string[] }[]>`
      SELECT c.relname, c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = current_schema() AND c.reloptions IS NOT NULL`;
    expect(tuned.map((r) => ({ ...r, reloptions: [...r.reloptions].sort() }))).toEqual([
      {
        relname: "run_sort_values",
        reloptions: [
          "autovacuum_analyze_scale_factor=0",
          "autovacuum_analyze_threshold=10000",
          "autovacuum_vacuum_insert_scale_factor=0",
          "autovacuum_vacuum_insert_threshold=10000",
          "autovacuum_vacuum_scale_factor=0",
          "autovacuum_vacuum_threshold=10000",
        ],
      },
    ]);
  });

  it("stores a run and reads it back with numbers for ids and times, NaN kept", async () => {
    const [store] = await open();
    const target = await aliceTarget(store);
    const outcome = await store.ingest(target, batch(), T0 + 1000);
    expect(outcome).toEqual({ records: 6, lastSeq: 505 });

    const run = (await store.getRun("alice", "mnist", "r1"))!;
    expect(typeof run.pk).toBe("number");
    expect(run).toMatchObject({
      entity: "alice",
      entityId: target.entityId,
      state: "finished",
      exitCode: 0,
      createdAt: T0,
      heartbeatAt: T0 + 1000,
      finishedAt: T0 + 600_000,
      tags: ["baseline"],
      config: { lr: 0.001, opt: { name: "adam" } },
      summary: { best: 0.5, nan: "NaN" },
      author: "alice",
      lastSeq: 505,
    });
    expect(await store.countHistory(run.pk)).toBe(500);
    const history = await store.readHistory(run.pk, { minStep: 5, maxStep: 8, limit: 10 });
    expect(history.map((r) => r._step)).toEqual([5, 6, 7, 8]);
    expect(history[2].loss).toBeNaN();
    expect(history[1]).toMatchObject({ loss: 1 / 7, phase: "eval", _timestamp: T0 + 6000 });

    const chart = await store.historyBuckets(run.pk, { key: "loss", x: "step", buckets: 10 });
    // The same answer as SQLite gives for the same records (bucketing is shared code).
    expect(chart).toEqual(await sqliteChart(batch()));

    expect(await store.readConsole(run.pk, { after: -1, limit: 10, contains: "DONE" })).toEqual([
      { seq: 503, at: T0, stream: "stdout", text: "epoch 1 Done" },
    ]);
    // % and _ are literal in a search, not wildcards.
    expect((await store.readConsole(run.pk, { after: -1, limit: 10, contains: "50% _x" })).map((l) => l.seq)).toEqual([504]);
    expect(await store.systemMetricKeys(run.pk)).toEqual(["system/cpu", "system/mem"]);
    const [sample] = await store.readSystemMetrics(run.pk, { limit: 10 });
    expect(sample.at).toBe(T0 + 5);
    expect(sample.values["system/mem"]).toBeNaN();

    const page = await store.listRuns("alice", "mnist", {
      limit: 10,
      offset: 0,
      sort: "createdAt",
      sortJson: { column: "summary", path: ["best"] },
      descending: true,
      publicOnly: false,
      tag: "baseline",
    });
    expect(page?.total).toBe(1);
    expect(page?.runs[0].id).toBe("r1");
  });

  it("keeps the newer value when an older record arrives after it", async () => {
    const [store] = await open();
    const target = await aliceTarget(store);
    await store.ingest(target, [{ k: "run", seq: 1, run: runInfo("r1") }, { k: "config", seq: 5, config: { lr: 2 } }], T0);
    await store.ingest(target, [{ k: "config", seq: 3, config: { lr: 1 } }], T0);
    expect((await store.getRun("alice", "mnist", "r1"))!.config).toEqual({ lr: 2 });
  });

  it("applies the same batch reaching two replicas at once exactly once", async () => {
    const [a, b] = await open(2);
    // First in a new project (both create it), then a new run of an existing project (both create the run).
    for (const runId of ["twice", "again"]) {
      const target = await aliceTarget(a, runId);
      const records = batch(runId);
      const outcomes = await Promise.all([a.ingest(target, records, T0), b.ingest(target, records, T0)]);
      expect(outcomes).toEqual([
        { records: 6, lastSeq: 505 },
        { records: 6, lastSeq: 505 },
      ]);
      const run = (await b.getRun("alice", "mnist", runId))!;
      expect(await a.countHistory(run.pk)).toBe(500);
      expect(await a.countConsole(run.pk)).toBe(2);
      const [{ chunks }] = await a.sql`SELECT COUNT(*) AS chunks FROM history_chunks WHERE run_pk = ${run.pk}`;
      expect(chunks).toBe(5); // _step, _timestamp, _runtime, loss, and phase's strings
      const [{ wide }] = await a.sql`SELECT COUNT(*) AS wide FROM history WHERE run_pk = ${run.pk}`;
      expect(wide).toBe(0); // history stored once
    }
    const [{ n }] = await a.sql`SELECT COUNT(*) AS n FROM runs`;
    expect(n).toBe(2);
  });

  it("stores history once, as column chunks, and reads back what SQLite reads: strings, NaN, sparse keys, resends, overlaps", async () => {
    const [store] = await open();
    const target = await aliceTarget(store, "h1");
    const s = Float64Array.from({ length: 6 }, (_, i) => 20 + i);
    const records: RunRecord[] = [
      { k: "run", seq: 0, run: runInfo("h1") },
      ...Array.from({ length: 70 }, (_, i): HistoryRecord => ({ k: "history", seq: 1 + 2 * i, rows: rows(2 * i, 2, { b: i }) })),
      {
        k: "history",
        seq: 150,
        n: 6,
        cols: {
          _step: s,
          _timestamp: s.map((v) => T0 + v),
          _runtime: s.slice(),
          loss: Float64Array.of(0.5, NaN, Infinity, -Infinity, -0, 1e308),
          label: ["a", undefined, "b", null, "", "ü"],
          mixed: [1, "one", true, null, NaN, undefined],
          never: [undefined, undefined, undefined, undefined, undefined, undefined],
        },
      },
      { k: "history", seq: 10, rows: rows(9, 5, { loss: 42 }) }, // overlaps three records
      { k: "history", seq: 150, rows: rows(20, 2, { acc: 1 }) }, // shorter, at the same seq: the rest stays
      { k: "history", seq: 1, rows: rows(0, 2, { b: 0 }) }, // a resend as it was
    ];
    for (const r of records) await store.ingest(target, [r], T0); // one batch each: overlaps across batches
    const run = (await store.getRun("alice", "mnist", "h1"))!;
    const queries: HistoryQuery[] = [{ limit: 1000 }, { limit: 3 }, { minStep: 8, maxStep: 14, limit: 100 }, { minStep: 100, limit: 5 }, { minStep: 19, limit: 100 }, { maxStep: -1, limit: 10 }];
    const fromSqlite = await sqliteHistory(records, queries);
    expect(await store.countHistory(run.pk)).toBe(fromSqlite.count);
    expect(fromSqlite.count).toBe(146);
    for (const [i, q] of queries.entries()) expect(await store.readHistory(run.pk, q), JSON.stringify(q)).toEqual(fromSqlite.reads[i]);
    const [{ wide }] = await store.sql`SELECT COUNT(*) AS wide FROM history WHERE run_pk = ${run.pk}`;
    expect(wide).toBe(0);
    // The same batch again through one transaction: nothing changes.
    await store.ingest(target, records.slice(1), T0);
    expect(await store.readHistory(run.pk, queries[0])).toEqual(fromSqlite.reads[0]);
  });

  it("still reads a run from before migration 2 from its wide rows", async () => {
    const [store] = await open();
    const target = await aliceTarget(store, "old1");
    await store.ingest(target, [{ k: "run", seq: 0, run: runInfo("old1") }], T0);
    const run = (await store.getRun("alice", "mnist", "old1"))!;
    await store.sql`UPDATE runs SET history_chunks = 1 WHERE pk = ${run.pk}`;
    // Such a run goes on writing wide rows (and chunks for its charts).
    await store.ingest(target, [{ k: "history", seq: 1, rows: rows(0, 5, { note: 1 }) }, { k: "history", seq: 6, rows: rows(5, 5) }], T0);
    const [{ wide }] = await store.sql`SELECT COUNT(*) AS wide FROM history WHERE run_pk = ${run.pk}`;
    expect(wide).toBe(10);
    expect(await store.countHistory(run.pk)).toBe(10);
    expect(await store.readHistory(run.pk, { minStep: 3, limit: 3 })).toEqual([...rows(3, 2, { note: 1 }), ...rows(5, 1)]);
    expect((await store.historyBuckets(run.pk, { key: "loss", x: "step", buckets: 10 })).points).toBe(10);
  });

  it("marks each stale run crashed by one of two sweeping replicas", async () => {
    const [a, b] = await open(2);
    for (let i = 0; i < 20; i++) await a.ingest(await aliceTarget(a, `s${i}`), [{ k: "run", seq: 1, run: runInfo(`s${i}`) }], T0);
    const counts = await Promise.all([a.sweepStaleRuns(T0 + 1, T0 + 2, "gone"), b.sweepStaleRuns(T0 + 1, T0 + 2, "gone")]);
    expect(counts[0] + counts[1]).toBe(20);
    expect((await b.getRun("alice", "mnist", "s3"))!).toMatchObject({ state: "crashed", error: "gone", sweeperCrashedAt: T0 + 2 });
    // A heartbeat revives a run the sweeper guessed dead.
    expect(await b.heartbeat("alice", "mnist", "s3", T0 + 3)).toBe(true);
    expect((await a.getRun("alice", "mnist", "s3"))!).toMatchObject({ state: "running", error: null, sweeperCrashedAt: null });
  });

  it("lets one replica sweep at a time, and hands the sweeping to another when that one dies", async () => {
    const [a, b] = await open(2);
    for (let i = 0; i < 3; i++) await a.ingest(await aliceTarget(a, `l${i}`), [{ k: "run", seq: 1, run: runInfo(`l${i}`) }], T0);
    /** Sweepers that sweep when told (the schedule is the test's), past their hold-back after start. */
    const clock = { now: T0 + 10_000 };
    const sweeper = (store: PostgresStore) => Sweeper.start({ store, heartbeatTimeoutS: 1, now: () => clock.now, schedule: () => () => undefined });
    const [sa, sb] = [sweeper(a), sweeper(b)];
    clock.now += 5_000;
    expect(await a.holdsSweepLock()).toBe(true);
    expect(await b.holdsSweepLock()).toBe(false);
    expect([await sa.sweep(), await sb.sweep()]).toEqual([3, 0]);

    // The holder's connection dies (its server was killed): the lock goes with it.
    // (pg_terminate_backend with a timeout returns once that backend is gone, and its lock with it.)
    await b.sql`SELECT pg_terminate_backend(pid, 5000) FROM pg_locks WHERE locktype = 'advisory' AND objid = ${SWEEP_LOCK_KEY}`;
    expect(await b.holdsSweepLock()).toBe(true);
    expect(await a.holdsSweepLock()).toBe(false);
    await a.ingest(await aliceTarget(a, "l9"), [{ k: "run", seq: 1, run: runInfo("l9") }], T0);
    expect([await sa.sweep(), await sb.sweep()]).toEqual([0, 1]);
    await Promise.all([sa.stop(), sb.stop()]);
  });

  it("refuses a NUL character in text with a coded TRK_ERR_BAD_VALUE, changing nothing; history keeps it", async () => {
    const [a] = await open(1);
    const target = await aliceTarget(a, "nul00001");
    await a.ingest(target, [{ k: "run", seq: 1, run: runInfo("nul00001") }], T0);
    const bad: RunRecord[][] = [
      [{ k: "console", seq: 2, lines: [{ at: T0, stream: "stdout", text: "a\u0000b" }] }],
      [{ k: "config", seq: 2, config: { s: "x\u0000y" } }],
      [{ k: "summary", seq: 2, summary: { ["k\u0000"]: 1 } }],
    ];
    for (const records of bad) await expect(a.ingest(target, records, T0)).rejects.toMatchObject({ code: "TRK_ERR_BAD_VALUE" });
    const run = (await a.getRun("alice", "mnist", "nul00001"))!;
    expect(run.lastSeq).toBe(1);
    expect(await a.countConsole(run.pk)).toBe(0);
    await a.ingest(target, [{ k: "history", seq: 2, rows: [{ _step: 0, _timestamp: T0, _runtime: 0, note: "q\u0000" }] }], T0);
    expect(await a.readHistory(run.pk, { limit: 10 })).toMatchObject([{ note: "q\u0000" }]);
  });

  it.each([
    { x: "step" as const, from: 350, to: 420.5 },
    { x: "time" as const, from: T0 + 350_000, to: T0 + 420_500 },
    { x: "runtime" as const, from: 350, to: 420.5 },
  ])("answers a cold zoom on the $x axis from the records that meet it only, as SQLite answers it", async ({ x, from, to }) => {
    const url = await pg.createDatabase(`t${++dbs}`);
    const a = await PostgresStore.open(url, { max: 2 });
    stores.push(a);
    const records: RunRecord[] = [{ k: "run", seq: 1, run: runInfo("zoom0001") }];
    for (let r = 0; r < 10; r++) records.push({ k: "history", seq: 2 + r * 100, rows: rows(r * 100, 100) });
    await a.ingest(await aliceTarget(a, "zoom0001"), records, T0);
    const run = (await a.getRun("alice", "mnist", "zoom0001"))!;
    const zoom = { key: "loss", x, buckets: 20, from, to };
    const sqlite = await sqliteChartOf(records.map((r) => (r.k === "run" ? { ...r, run: runInfo("r1") } : r)), zoom);
    expect(sqlite.count.reduce((a, b) => a + b, 0)).toBe(71); // steps 350..420
    // Damage a chunk far outside the zoom: a read of the whole metric would fail on it.
    await a.sql`UPDATE history_chunks SET data = '\\x00'::bytea WHERE run_pk = ${run.pk} AND key = 'loss' AND first_seq = 802`;
    const fresh = await PostgresStore.open(url, { max: 2 }); // another replica: nothing cached
    stores.push(fresh);
    expect(await fresh.historyBuckets(run.pk, zoom)).toEqual(sqlite);
    // The whole run does read it (and says so): the skipping above was real.
    await expect(fresh.historyBuckets(run.pk, { key: "loss", x, buckets: 20 })).rejects.toThrow(/history chunk/);
  });

  it("lists a project's run count for its members from the count the trigger keeps, right when two replicas create runs at once", async () => {
    const [a, b] = await open(2);
    const target = await aliceTarget(a);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => {
        const id = `c${String(i).padStart(3, "0")}`;
        return (i % 2 ? a : b).ingest({ ...target, runId: id }, [{ k: "run", seq: 0, run: runInfo(id, { createdAt: T0 + i }) }], T0);
      }),
    );
    await a.patchRun((await a.getRun("alice", "mnist", "c007"))!.pk, { privacy: "public" });
    expect(await b.listProjects("alice", false)).toEqual([{ entity: "alice", name: "mnist", runCount: 20, lastRunAt: T0 + 19 }]);
    // The answer is the kept count, not a count of the runs: set as a project of 100,000 runs
    // would have it, it is what members see (a COUNT(*) read every run: 38-49 ms at 100,000).
    await a.sql`UPDATE projects SET run_count = 100000 WHERE name = 'mnist'`;
    expect((await b.listProjects("alice", false))[0].runCount).toBe(100_000);
    // Others see public runs only, which the kept count cannot tell: those are counted.
    expect(await b.listProjects("alice", true)).toEqual([{ entity: "alice", name: "mnist", runCount: 1, lastRunAt: T0 + 7 }]);
  });

  it("refuses a second user of a taken name with TRK_ERR_CONFLICT", async () => {
    const [a, b] = await open(2);
    const results = await Promise.allSettled([a.createUser("carol", T0), b.createUser("carol", T0)]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const failed = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    expect((failed.reason as { code: string }).code).toBe("TRK_ERR_CONFLICT");
    // In any letter case, for a team as for a user.
    const carol = (await a.getUserByName("carol"))!;
    await expect(b.createTeam("CAROL", carol.id, T0)).rejects.toMatchObject({ code: "TRK_ERR_CONFLICT" });
  });
});
