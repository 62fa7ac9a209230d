import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { encodeHistoryRow, MIGRATIONS, SqliteStore } from "../../src/server/index.js";
import { historyChunks } from "../../src/server/store/history-chunks.js";
import { migrate } from "../../src/server/sqlite/sqlite-migrations.js";
import type { RunRecord } from "../../src/protocol/records.js";
import { get, makeEnv, makeLegacyRun, postRecords, rows, runInfo, T0 } from "./helpers.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "trackside-store-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("SqliteStore", () => {
  it("opens in WAL mode with synchronous=NORMAL and records each migration once", async () => {
    const file = join(dir, "trackside.db");
    const first = SqliteStore.open(file);
    expect(first.db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(first.db.pragma("synchronous", { simple: true })).toBe(1); // NORMAL
    await first.createUser("alice", T0);
    await first.close();

    const again = SqliteStore.open(file);
    const versions = again.db.prepare("SELECT version FROM schema_migrations ORDER BY version").pluck().all();
    expect(versions).toEqual(MIGRATIONS.map((m) => m.version));
    expect(await again.countUsers()).toBe(1);
    await again.close();
  });

  it("brings a database from before accounts up to date: its oldest user is a site admin, keys and runs stay", async () => {
    const file = join(dir, "trackside.db");
    const Database = (await import("better-sqlite3")).default;
    const old = new Database(file);
    migrate(old, MIGRATIONS.filter((m) => m.version <= 6));
    old.prepare("INSERT INTO users (id, name, created_at) VALUES (1, 'alice', 0), (2, 'bob', 1)").run();
    old.prepare("INSERT INTO entities (name, owner_user_id, created_at) VALUES ('alice', 1, 0), ('bob', 2, 1)").run();
    old.prepare("INSERT INTO api_keys (user_id, hash, prefix, created_at) VALUES (2, 'bobhash', 'trk_bob-', 1)").run();
    old.close();

    const store = SqliteStore.open(file);
    expect((await store.listUsers()).map((u) => [u.name, u.admin, u.disabledAt])).toEqual([
      ["alice", true, null],
      ["bob", false, null],
    ]);
    expect((await store.userByApiKeyHash("bobhash"))?.name).toBe("bob");
    const bob = (await store.getEntity("bob"))!;
    expect(bob.kind).toBe("user");
    expect(await store.roleIn(bob, 2)).toBe("owner");
    await store.close();
  });

  it("brings a database with history from migration 8 up to date: its runs are read from their wide rows and go on writing them", async () => {
    const file = join(dir, "trackside.db");
    const Database = (await import("better-sqlite3")).default;
    const old = new Database(file);
    migrate(old, MIGRATIONS.filter((m) => m.version <= 8));
    old.prepare("INSERT INTO users (id, name, created_at, is_admin) VALUES (1, 'alice', 0, 1)").run();
    old.prepare("INSERT INTO entities (id, name, owner_user_id, created_at) VALUES (1, 'alice', 1, 0)").run();
    old.prepare("INSERT INTO projects (id, entity_id, name, created_at) VALUES (1, 1, 'mnist', 0)").run();
    // What ingest wrote from migration 5 to 8: wide rows, and chunks (numbers only) for the charts.
    old.prepare("INSERT INTO runs (pk, project_id, run_id, name, author_user_id, created_at, history_chunks, last_seq) VALUES (1, 1, 'old00001', 'old', 1, ?, 1, 3)").run(T0);
    const sent = rows(0, 3).map((r, i) => ({ ...r, phase: i ? "train" : null }));
    const insert = old.prepare("INSERT INTO history (run_pk, seq, step, ts, data) VALUES (1, ?, ?, ?, ?)");
    sent.forEach((r, i) => insert.run(1 + i, r._step, r._timestamp, encodeHistoryRow(r)));
    for (const c of historyChunks({ k: "history", seq: 1, rows: sent })) {
      if (c.m > 0) old.prepare("INSERT INTO history_chunks (run_pk, key, first_seq, n, m, data) VALUES (1, ?, 1, ?, ?, ?)").run(c.key, c.n, c.m, c.data);
    }
    old.close();

    const store = SqliteStore.open(file);
    const run = (await store.getRun("alice", "mnist", "old00001"))!;
    expect(await store.countHistory(run.pk)).toBe(3);
    expect(await store.readHistory(run.pk, { limit: 10 })).toEqual(sent);
    const alice = (await store.getEntity("alice"))!;
    const more = rows(3, 2).map((r) => ({ ...r, phase: "eval" }));
    await store.ingest({ entityId: alice.id, project: "mnist", runId: "old00001", authorUserId: 1 }, [{ k: "history", seq: 4, rows: more }], T0);
    expect(store.db.prepare("SELECT COUNT(*) FROM history WHERE run_pk = ?").pluck().get(run.pk)).toBe(5);
    expect(await store.readHistory(run.pk, { minStep: 2, limit: 10 })).toEqual([sent[2], ...more]);
    expect((await store.historyBuckets(run.pk, { key: "loss", x: "step", buckets: 10 })).points).toBe(5);
    await store.close();
  });

  it("refuses a database written by a newer trackside", async () => {
    const file = join(dir, "trackside.db");
    const store = SqliteStore.open(file);
    store.db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)").run();
    await store.close();
    expect(() => SqliteStore.open(file)).toThrow(/version 999/);
  });

  it("stores history once, as column chunks with one index row per record, and no wide rows", async () => {
    const store = SqliteStore.open(join(dir, "trackside.db"));
    const alice = await store.createUser("alice", T0);
    const entity = (await store.getEntity("alice"))!;
    const target = { entityId: entity.id, project: "mnist", runId: "wide0001", authorUserId: alice.id };
    await store.ingest(target, [{ k: "run", seq: 0, run: runInfo("wide0001") }, { k: "history", seq: 1, rows: rows(0, 10, { a: 1, b: 2, c: 3 }) }], T0);
    const run = (await store.getRun("alice", "mnist", "wide0001"))!;
    expect(store.db.prepare("SELECT COUNT(*) FROM history").pluck().get()).toBe(0);
    expect(store.db.prepare("SELECT COUNT(*) FROM history_chunks").pluck().get()).toBe(7);
    expect(store.db.prepare("SELECT COUNT(*) FROM history_records").pluck().get()).toBe(1);
    const [row] = await store.readHistory(run.pk, { minStep: 4, maxStep: 4, limit: 10 });
    expect(row).toEqual({ _step: 4, _timestamp: T0 + 4000, _runtime: 4, loss: 1 / 5, a: 1, b: 2, c: 3 });
    await store.close();
  });

  it("answers the access check's question, whether a project has a public run, from an index of public runs only", async () => {
    const store = SqliteStore.open(join(dir, "trackside.db"));
    const alice = await store.createUser("alice", T0);
    const entity = (await store.getEntity("alice"))!;
    for (const id of ["priv0001", "priv0002", "publ0001"]) {
      await store.ingest({ entityId: entity.id, project: "mnist", runId: id, authorUserId: alice.id }, [{ k: "run", seq: 0, run: runInfo(id) }], T0);
    }
    await store.patchRun((await store.getRun("alice", "mnist", "publ0001"))!.pk, { privacy: "public" });
    expect(await store.getProject("alice", "mnist")).toMatchObject({ hasPublicRun: true });
    // getProject's EXISTS, as sqlite-accounts.ts asks it: without the partial index it read every
    // run of the project (39 ms for a private project of 100,000 runs, on every page's access check).
    const plan = store.db
      .prepare("EXPLAIN QUERY PLAN SELECT p.id, EXISTS (SELECT 1 FROM runs r WHERE r.project_id = p.id AND r.privacy = 'public') FROM projects p WHERE p.entity_id = ? AND p.name = ?")
      .all(entity.id, "mnist") as { detail: string }[];
    expect(plan.map((r) => r.detail)).toContainEqual(expect.stringMatching(/^SEARCH r USING COVERING INDEX runs_public_by_project \(project_id=\?\)$/));
    await store.close();
  });

  it("keeps every row of a large batch intact (rows are written 64 per statement)", async () => {
    const store = SqliteStore.open(join(dir, "trackside.db"));
    const alice = await store.createUser("alice", T0);
    const entity = (await store.getEntity("alice"))!;
    const target = { entityId: entity.id, project: "mnist", runId: "many0001", authorUserId: alice.id };
    const sent = rows(0, 1000).map((r, i) => ({ ...r, [`only_${i}`]: i }));
    await store.ingest(target, [{ k: "run", seq: 0, run: runInfo("many0001") }, { k: "history", seq: 1, rows: sent }], T0);
    const run = (await store.getRun("alice", "mnist", "many0001"))!;
    expect(await store.readHistory(run.pk, { limit: 2000 })).toEqual(sent);
    expect(run.lastSeq).toBe(1000);
    await store.close();
  });
});

describe("records of unknown kinds in SQLite", () => {
  it("are kept whole, keyed by seq, or by time for the daemon's (seq 0), so that a later version reads them back", async () => {
    const store = SqliteStore.open(join(dir, "trackside.db"));
    const alice = await store.createUser("alice", T0);
    const entity = (await store.getEntity("alice"))!;
    const target = { entityId: entity.id, project: "mnist", runId: "kept0001", authorUserId: alice.id };
    const video = { k: "video", seq: 3, path: "images/0.png" } as unknown as RunRecord;
    const probe = (at: number) => ({ k: "gpu-topology", seq: 0, at, links: [1, 2] }) as unknown as RunRecord;
    await store.ingest(target, [{ k: "run", seq: 0, run: runInfo("kept0001") }, video, probe(T0 + 1)], T0);
    await store.ingest(target, [video, probe(T0 + 1), probe(T0 + 2)], T0);
    const stored = store.db.prepare("SELECT kind, seq, at FROM unknown_records ORDER BY kind, at").all();
    expect(stored).toEqual([
      { kind: "gpu-topology", seq: 0, at: T0 + 1 },
      { kind: "gpu-topology", seq: 0, at: T0 + 2 },
      { kind: "video", seq: 3, at: 0 },
    ]);
    await store.close();
  });
});

describe("stored rows that cannot be read", () => {
  it("do not make the history reads fail (a row stored before uploads were checked)", async () => {
    const env = await makeEnv();
    try {
      const PATH = "alice/mnist/a1b2c3d4";
      expect((await postRecords(env, PATH, [{ k: "run", seq: 0, run: runInfo("a1b2c3d4") }, { k: "history", seq: 1, rows: rows(0, 2) }])).statusCode).toBe(200);
      const run = await env.store.getRun("alice", "mnist", "a1b2c3d4");
      // Only a run from before migration 9 has rows stored one blob per step.
      await makeLegacyRun(env.store, run!.pk);
      // An array as a map key: what an unchecked upload could store, and the reader refuses.
      const bad = Buffer.from([0x83, 0xa5, ...Buffer.from("_step"), 0x02, 0x92, 0x01, 0x02, 0x01, 0xa1, 0x78, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
      env.store.db.prepare("INSERT INTO history (run_pk, seq, step, ts, data) VALUES (?, 3, 2, ?, ?)").run(run!.pk, T0, bad);
      const big = Buffer.from([0x82, 0xa5, ...Buffer.from("_step"), 0x03, 0xa3, ...Buffer.from("big"), 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
      env.store.db.prepare("INSERT INTO history (run_pk, seq, step, ts, data) VALUES (?, 4, 3, ?, ?)").run(run!.pk, T0, big);
      for (const url of [`/api/v1/runs/${PATH}/history`, `/api/v1/runs/${PATH}/history?keys=big`]) {
        const res = await get(env, url);
        expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
        expect(res.json().rows).toHaveLength(4);
      }
      const rowsRead = (await get(env, `/api/v1/runs/${PATH}/history`)).json().rows;
      expect(rowsRead[2]).toEqual({ _step: 2 });
      expect(rowsRead[3].big).toBe(2 ** 64);
    } finally {
      await env.close();
    }
  });
});
