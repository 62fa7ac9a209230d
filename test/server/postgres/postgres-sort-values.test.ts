/**
 * The runs table sorted by a config or summary value on PostgreSQL (migration 3,
 * postgres-sort-values.ts): pages read from `run_sort_values` give the plain query's answer for
 * every kind of value, the triggers keep the copies current through ingest, new runs and deleted
 * ones, registering a path waits for a write under way, and the total comes from the count the
 * triggers keep. Raw SQL is used to look behind the store's back; the order itself is also the
 * contract suite's (store-contract.ts).
 */
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JsonObject } from "../../../src/protocol/records.js";
import { PostgresStore } from "../../../src/server/index.js";
import { connectPostgres } from "../../../src/server/postgres/postgres-connection.js";
import { migratePostgres, PG_MIGRATIONS } from "../../../src/server/postgres/postgres-migrations.js";
import { MAX_SORT_PATHS_PER_PROJECT } from "../../../src/server/store/sort-paths.js";
import type { IngestTarget, ListRunsQuery } from "../../../src/server/store/store.js";
import { postgresOrSkip, startPostgres, type PostgresCluster } from "../../helpers/postgres.js";
import { runInfo, T0 } from "../helpers.js";

const bin = postgresOrSkip();

const long = "x".repeat(200);
/** One run per value of `v` (undefined: no such key), in creation order; every kind the order knows. */
const VALUES: unknown[] = [
  0.5, 10, "a", undefined, 9, "B", true, -1, null, { a: 1 }, `${long}b`, 0.5, "", [1, 2], `${long}a`, 1e-300, "é",
  long, false, `${"x".repeat(199)}y`, 3, undefined,
];
const ids = VALUES.map((_, i) => `r${String(i).padStart(2, "0")}`);

/** The order by hand, ascending: numbers by value, strings by bytes, booleans, arrays, objects, then no value by creation. */
const ASCENDING = [7, 15, 0, 11, 20, 4, 1, 12, 5, 2, 17, 14, 10, 19, 16, 18, 6, 13, 9, 3, 8, 21].map((i) => ids[i]);

describe.skipIf(bin === null)("PostgreSQL runs table sorted by config and summary values", () => {
  let pg: PostgresCluster;
  let dbs = 0;
  const stores: PostgresStore[] = [];
  const urls = new Map<PostgresStore, string>();
  beforeAll(async () => {
    pg = await startPostgres(bin as string);
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await pg?.stop();
  });

  async function open(): Promise<PostgresStore> {
    const url = await pg.createDatabase(`s${++dbs}`);
    const store = await PostgresStore.open(url, { max: 4 });
    stores.push(store);
    urls.set(store, url);
    if (!(await store.getUserByName("alice"))) await store.createUser("alice", T0);
    return store;
  }

  async function target(store: PostgresStore, runId: string, project: string): Promise<IngestTarget> {
    const alice = (await store.getUserByName("alice"))!;
    return { entityId: (await store.getEntity("alice"))!.id, project, runId, authorUserId: alice.id };
  }

  /** Opens run `runId` in `project` with summary `summary` (seq 1). */
  async function openRun(store: PostgresStore, project: string, runId: string, summary: JsonObject, config: JsonObject = {}): Promise<void> {
    await store.ingest(
      await target(store, runId, project),
      [
        { k: "run", seq: 0, run: runInfo(runId, { project, config }) },
        { k: "summary", seq: 1, summary },
      ],
      T0,
    );
  }

  const bySummary = (path: string[], q: Partial<ListRunsQuery> = {}): ListRunsQuery => ({
    limit: 100, offset: 0, sort: "createdAt", descending: false, publicOnly: false, sortJson: { column: "summary", path }, ...q,
  });

  async function page(store: PostgresStore, project: string, q: ListRunsQuery): Promise<string[]> {
    return (await store.listRuns("alice", project, q))!.runs.map((r) => r.id);
  }

  async function seed(store: PostgresStore, project: string): Promise<void> {
    for (const [i, v] of VALUES.entries()) await openRun(store, project, ids[i], v === undefined ? { other: i } : { v, other: i });
  }

  it("pages every kind of value in the plain query's order, either way, and a path past the cap gets the same answer from the plain query", async () => {
    const store = await open();
    await seed(store, "indexed");
    await seed(store, "plain");
    // Fill the plain project's paths up to the cap, so that its sort by v is the plain query.
    for (let i = 0; i < MAX_SORT_PATHS_PER_PROJECT; i++) await page(store, "plain", bySummary([`p${i}`], { limit: 1 }));
    const plainPaths = await store.sql<{ n: number }[]>`
      SELECT count(*) AS n FROM run_sort_paths s JOIN projects p ON p.id = s.project_id WHERE p.name = 'plain'`;
    expect(plainPaths[0].n).toBe(MAX_SORT_PATHS_PER_PROJECT);

    expect(await page(store, "indexed", bySummary(["v"]))).toEqual(ASCENDING);
    // Descending: each kind's values reversed, and the kinds too; runs without a value stay last.
    const present = ASCENDING.slice(0, 19);
    expect(await page(store, "indexed", bySummary(["v"], { descending: true }))).toEqual([...present].reverse().concat([ids[21], ids[8], ids[3]]));
    const stored = await store.sql<{ n: number }[]>`
      SELECT count(*) AS n FROM run_sort_values s JOIN run_sort_paths p ON p.id = s.path_id WHERE p.path = '{v}' AND p.project_id =
        (SELECT id FROM projects WHERE name = 'indexed')`;
    expect(stored[0].n, "the indexed project's values are copied").toBe(VALUES.length);

    for (const descending of [false, true]) {
      for (const limit of [1, 3, 7, 100]) {
        for (let offset = 0; offset <= VALUES.length + 1; offset += limit) {
          const q = bySummary(["v"], { descending, limit, offset });
          expect(await page(store, "indexed", q), JSON.stringify({ descending, limit, offset })).toEqual(await page(store, "plain", q));
        }
      }
    }
    // Filters too (the page joins the runs): four runs made public, one of each part.
    for (const id of ["r01", "r03", "r08", "r17"]) {
      for (const project of ["indexed", "plain"]) await store.patchRun((await store.getRun("alice", project, id))!.pk, { privacy: "public" });
    }
    for (const descending of [false, true]) {
      const q = bySummary(["v"], { descending, publicOnly: true, limit: 2, offset: 1 });
      const got = await store.listRuns("alice", "indexed", q);
      expect(got!.runs.map((r) => r.id)).toEqual(await page(store, "plain", q));
      expect(got!.total).toBe(4);
    }
  });

  it("keeps the copies current: a changed summary or config, a new run and a deleted run change the page at once", async () => {
    const store = await open();
    for (const [id, acc] of [["a", 0.1], ["b", 0.2], ["c", 0.3]] as const) await openRun(store, "p", id, { acc }, { lr: acc });
    const acc = bySummary(["acc"], { descending: true });
    expect(await page(store, "p", acc)).toEqual(["c", "b", "a"]);

    await store.ingest(await target(store, "a", "p"), [{ k: "summary", seq: 2, summary: { acc: 0.9 } }], T0);
    expect(await page(store, "p", acc)).toEqual(["a", "c", "b"]);
    // A value that goes away: the run moves to the end.
    await store.ingest(await target(store, "c", "p"), [{ k: "summary", seq: 2, summary: { loss: 1 } }], T0);
    expect(await page(store, "p", acc)).toEqual(["a", "b", "c"]);
    // A value of another kind: numbers before strings.
    await store.ingest(await target(store, "b", "p"), [{ k: "summary", seq: 2, summary: { acc: "n/a" } }], T0);
    expect(await page(store, "p", acc)).toEqual(["b", "a", "c"]);
    expect(await page(store, "p", { ...acc, descending: false })).toEqual(["a", "b", "c"]);

    const lr = { ...acc, sortJson: { column: "config" as const, path: ["lr"] } };
    expect(await page(store, "p", lr)).toEqual(["c", "b", "a"]);
    await store.ingest(await target(store, "a", "p"), [{ k: "config", seq: 3, config: { lr: 5 } }], T0);
    expect(await page(store, "p", lr)).toEqual(["a", "c", "b"]);

    await openRun(store, "p", "d", { acc: 0.5 });
    expect(await page(store, "p", acc)).toEqual(["b", "a", "d", "c"]);
    expect((await store.listRuns("alice", "p", acc))!.total).toBe(4);

    // Runs are not deleted through the store today; a DELETE by hand must still leave no trace.
    const a = (await store.getRun("alice", "p", "a"))!;
    await store.sql`DELETE FROM runs WHERE pk = ${a.pk}`;
    expect(await page(store, "p", acc)).toEqual(["b", "d", "c"]);
    expect((await store.listRuns("alice", "p", acc))!.total).toBe(3);
    const left = await store.sql<{ n: number }[]>`SELECT count(*) AS n FROM run_sort_values WHERE run_pk = ${a.pk}`;
    expect(left[0].n).toBe(0);
  });

  it("reads the page from the index: a value changed behind the triggers' back moves the run", async () => {
    const store = await open();
    for (const [id, acc] of [["a", 0.1], ["b", 0.2], ["c", 0.3]] as const) await openRun(store, "p", id, { acc });
    expect(await page(store, "p", bySummary(["acc"]))).toEqual(["a", "b", "c"]);
    const c = (await store.getRun("alice", "p", "c"))!;
    await store.sql`UPDATE run_sort_values SET num = -1 WHERE run_pk = ${c.pk}`;
    expect(await page(store, "p", bySummary(["acc"]))).toEqual(["c", "a", "b"]);
    expect(await page(store, "p", bySummary(["acc"], { descending: true, offset: 2 }))).toEqual(["c"]);
  });

  it("registering a path waits for a write under way in the project, so the copy holds its value", async () => {
    const store = await open();
    for (const [id, acc] of [["a", 0.1], ["b", 0.2]] as const) await openRun(store, "p", id, { acc });
    const a = (await store.getRun("alice", "p", "a"))!;
    // Another replica's upload, not yet committed: it sets a's acc to 0.9.
    const other = postgres(urls.get(store)!, { max: 1, onnotice: () => undefined });
    let commit: (() => void) | undefined;
    try {
      const committed = new Promise<void>((resolve) => (commit = resolve));
      const upload = other.begin(async (tx) => {
        await tx`UPDATE runs SET summary = '{"acc": 0.9}'::jsonb WHERE pk = ${a.pk}`;
        await committed;
      });
      await waitFor(async () => (await store.sql`SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND mode = 'ShareLock' AND granted`).length > 0);
      const listed = page(store, "p", bySummary(["acc"], { descending: true }));
      // The first sort by acc registers it: it must wait for the upload's lock, not copy a's old value.
      await waitFor(async () => (await store.sql`SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND mode = 'ExclusiveLock' AND NOT granted`).length > 0);
      commit?.();
      await upload;
      expect(await listed).toEqual(["a", "b"]);
    } finally {
      commit?.();
      await other.end();
    }
  });

  it("counts each project's runs in a kept column, from the runs already there when migration 3 runs", async () => {
    const url = await pg.createDatabase(`s${++dbs}`);
    const sql = connectPostgres(url, { max: 1 });
    try {
      await migratePostgres(sql, PG_MIGRATIONS.filter((m) => m.version <= 2));
      const [u] = await sql<{ id: number }[]>`INSERT INTO users (name, created_at) VALUES ('alice', ${T0}) RETURNING id`;
      const [e] = await sql<{ id: number }[]>`INSERT INTO entities (name, owner_user_id, created_at) VALUES ('alice', ${u.id}, ${T0}) RETURNING id`;
      for (const [name, runs] of [["big", 5], ["small", 2], ["empty", 0]] as const) {
        const [p] = await sql<{ id: number }[]>`INSERT INTO projects (entity_id, name, created_at) VALUES (${e.id}, ${name}, ${T0}) RETURNING id`;
        for (let i = 0; i < runs; i++) {
          await sql`INSERT INTO runs (project_id, run_id, name, author_user_id, created_at) VALUES (${p.id}, ${`r${i}`}, 'n', ${u.id}, ${T0 + i})`;
        }
      }
      expect(await migratePostgres(sql)).toEqual(PG_MIGRATIONS.filter((m) => m.version > 2).map((m) => m.version));
      const counts = await sql<{ name: string; run_count: number }[]>`SELECT name, run_count FROM projects ORDER BY name`;
      expect(counts).toEqual([
        { name: "big", run_count: 5 },
        { name: "empty", run_count: 0 },
        { name: "small", run_count: 2 },
      ]);
    } finally {
      await sql.end();
    }
    const store = await PostgresStore.open(url, { max: 2 });
    stores.push(store);
    const newest: ListRunsQuery = { limit: 2, offset: 0, sort: "createdAt", descending: true, publicOnly: false };
    expect(await store.listRuns("alice", "big", newest)).toMatchObject({ total: 5, runs: [{ id: "r4" }, { id: "r3" }] });
    await store.ingest(await target(store, "r9", "big"), [{ k: "run", seq: 0, run: runInfo("r9", { project: "big", createdAt: T0 + 9 }) }], T0);
    expect(await store.listRuns("alice", "big", newest)).toMatchObject({ total: 6, runs: [{ id: "r9" }, { id: "r4" }] });
    expect((await store.listRuns("alice", "big", { ...newest, state: "running" }))!.total).toBe(6);
  });
});

/** Polls `check` until it holds, failing after 10 s (a lock another connection must reach). */
async function waitFor(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("the expected lock never showed in pg_locks");
    await new Promise((r) => setImmediate(r));
  }
}
