/**
 * A page of the runs table of a large project, through HTTP as the web app asks for it:
 * `GET /api/v1/runs/:entity/:project?sort=-summary.acc&limit=50` (the first page, and the one
 * at the middle of the project), on SQLite and on PostgreSQL in the same run. Baseline, same
 * run and database: the default page, newest first (served by the index on creation time).
 *
 * The project is filled in bulk with SQL (one run is ingested to make its project; the others
 * are copies with their own id, times, config, summary and ~1.2 KB of metadata), since filling
 * 100,000 runs through ingest would take minutes and is not what is measured. One run in ten has
 * no `acc` (they go last, as a crashed run's would). PostgreSQL's statistics are refreshed
 * (ANALYZE) after the fill, as autovacuum does after a bulk insert. PostgreSQL's pages are
 * measured again after a VACUUM, as autovacuum runs within a minute or so of a bulk insert: it
 * marks the pages all-visible, which lets an index-only scan skip the table (before it, a page
 * far into the index checks each entry it passes in the table).
 *
 * Then, at the last size, PostgreSQL only, a project that keeps growing in a database shared
 * with others: run_sort_values is given OTHER_VALUES_FACTOR times the project's runs in values of
 * another project's paths, and VACUUMed; the project then grows by half (runs inserted as ingest
 * inserts them, their values written by the triggers), and the same pages are timed
 * AUTOVACUUM_WAIT_MS later with no manual VACUUM: what autovacuum does by itself. PostgreSQL's
 * default thresholds are a fraction of the whole table (a fifth of its rows inserted), which the
 * other projects' values make larger than this growth; migration 10 sets a fixed number of rows
 * for run_sort_values. For that phase the cluster's autovacuum_naptime is 1 s (ALTER SYSTEM; its
 * default is 1 min), so that the figure shows whether the thresholds call for a visit, not where
 * in its minute the launcher happened to be.
 *
 * Alone: `npm run build && node dist/scripts/bench/run.js --one benchRunsPage '[5,10000,100000]'`.
 */
import { rmSync } from "node:fs";
import Database from "better-sqlite3";
import postgres from "postgres";
import type { RunInfo } from "../../src/protocol/records.js";
import { readCredential } from "../../src/protocol/local-config.js";
import { startServer } from "../../src/server/index.js";
import { benchBackends, type BenchBackend } from "./backends.js";
import { median, type Figure } from "./stats.js";
import { benchRoot } from "./procs.js";

const PROJECT = "big";
/** Config paths never sorted by before, one per project size (fill() sets them). */
const FRESH_PATHS = ["lr", "epochs", "batch", "optimizer"];
/** How long after the growth's insert committed its pages are timed: ten autovacuum naptimes of 1 s. */
const AUTOVACUUM_WAIT_MS = 10_000;
/** Other projects' values in run_sort_values, per run of the measured project, before it grows. */
const OTHER_VALUES_FACTOR = 20;

/** Runs `fn` on one connection to the database, closed after. */
async function withSql<T>(database: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(database, { max: 1, onnotice: () => undefined });
  try {
    return await fn(sql);
  } finally {
    await sql.end();
  }
}

/** Values of 20 sort paths of another project, `rows` in all, in run_sort_values (other run pks, not real runs: no trigger reads them). */
async function otherProjectsValues(database: string, templatePk: number, rows: number): Promise<void> {
  await withSql(database, async (sql) => {
    await sql`
      WITH p AS (INSERT INTO projects (entity_id, name, created_at) SELECT entity_id, 'others', 0 FROM projects WHERE id = (SELECT project_id FROM runs WHERE pk = ${templatePk}) RETURNING id),
        paths AS (INSERT INTO run_sort_paths (project_id, source, path) SELECT p.id, 'summary', ARRAY['m' || g] FROM p, generate_series(1, 20) g RETURNING id)
      INSERT INTO run_sort_values (path_id, run_pk, kind, num)
      SELECT paths.id, 1000000000 + i, 0, (i * 7919) % 100000 FROM paths, generate_series(1, ${Math.ceil(rows / 20)}::int) i ORDER BY 1, 4, 2`;
  });
}

function templateRun(id: string): RunInfo {
  return {
    id, entity: "", project: PROJECT, name: "template", notes: null, tags: [], group: null, jobType: null, config: {}, createdAt: 1.7e12,
    program: { executable: "node", args: ["train.js"], cwd: "/", pid: 1, host: "bench", nodeVersion: process.version, os: process.platform, tracksideVersion: "0" },
  };
}

/** Adds runs `from + 1` to `to` to the project by SQL; the template run gives project, author and program. */
async function fill(database: string | undefined, dataDir: string, from: number, to: number, templatePk: number, analyze = true): Promise<void> {
  if (database === undefined) {
    // The server holds the file open in WAL mode: a second connection may write to it.
    const db = new Database(`${dataDir}/trackside.db`);
    db.pragma("busy_timeout = 10000");
    db.prepare(
      `INSERT INTO runs (project_id, run_id, name, tags, author_user_id, state, created_at, heartbeat_at, finished_at, config, summary, metadata, program)
       WITH RECURSIVE s(i) AS (SELECT @from + 1 UNION ALL SELECT i + 1 FROM s WHERE i < @to)
       SELECT t.project_id, printf('r%07d', i), 'run-' || i, '[]', t.author_user_id, 'finished',
         t.created_at + i * 1000, t.created_at + i * 1000 + 60000, t.created_at + i * 1000 + 60000,
         json_object('lr', 1.0 / (i + 1), 'batch', 32 + (i % 4) * 32, 'optimizer', 'adam', 'epochs', 10 + i % 5,
                     'model', json_object('layers', 2 + i % 6, 'width', 128 * (1 + i % 4))),
         CASE WHEN i % 10 = 0 THEN json_object('loss', 1.0 / (i + 1), 'epoch', 9)
              ELSE json_object('acc', ((i * 7919) % 100000) / 100000.0, 'loss', 1.0 / (i + 1), 'epoch', 9, 'lr_final', 1e-5) END,
         json_object('host', 'bench-host-' || (i % 16), 'gpu', json_array('H100', 'H100'), 'git', json_object('commit', hex(randomblob(20)), 'remote', 'git@example.com:lab/models.git'),
                     'args', json_array('--epochs', '10'), 'notes', printf('%.1000c', 'x')),
         t.program
       FROM s, runs t WHERE t.pk = @templatePk`,
    ).run({ from, to, templatePk });
    db.close();
    return;
  }
  await withSql(database, async (sql) => {
    await sql`
      INSERT INTO runs (project_id, run_id, name, tags, author_user_id, state, created_at, heartbeat_at, finished_at, config, summary, metadata, program)
      SELECT t.project_id, 'r' || lpad(i::text, 7, '0'), 'run-' || i, '[]', t.author_user_id, 'finished',
        t.created_at + i * 1000, t.created_at + i * 1000 + 60000, t.created_at + i * 1000 + 60000,
        jsonb_build_object('lr', 1.0 / (i + 1), 'batch', 32 + (i % 4) * 32, 'optimizer', 'adam', 'epochs', 10 + i % 5,
                           'model', jsonb_build_object('layers', 2 + i % 6, 'width', 128 * (1 + i % 4))),
        CASE WHEN i % 10 = 0 THEN jsonb_build_object('loss', 1.0 / (i + 1), 'epoch', 9)
             ELSE jsonb_build_object('acc', ((i * 7919) % 100000) / 100000.0, 'loss', 1.0 / (i + 1), 'epoch', 9, 'lr_final', 1e-5) END,
        jsonb_build_object('host', 'bench-host-' || (i % 16), 'gpu', jsonb_build_array('H100', 'H100'),
                           'git', jsonb_build_object('commit', md5(i::text) || md5((-i)::text), 'remote', 'git@example.com:lab/models.git'),
                           'args', jsonb_build_array('--epochs', '10'), 'notes', repeat('x', 1000)),
        t.program
      FROM generate_series(${from + 1}::int, ${to}::int) AS i, runs t WHERE t.pk = ${templatePk}`;
    if (analyze) await sql`ANALYZE runs`;
  });
}

/** Wakes the autovacuum launcher every second, or (off) every minute again, its default (ALTER SYSTEM: the cluster is the benchmark's own). */
async function fastAutovacuum(database: string, on: boolean): Promise<void> {
  await withSql(database, async (sql) => {
    if (on) await sql`ALTER SYSTEM SET autovacuum_naptime = '1s'`;
    else await sql`ALTER SYSTEM RESET autovacuum_naptime`;
    await sql`SELECT pg_reload_conf()`;
  });
}

/** How many times autovacuum has vacuumed and analyzed run_sort_values so far. */
async function autovacuumCounts(database: string): Promise<{ vacuums: number; analyzes: number }> {
  return withSql(database, async (sql) => {
    const [row] = await sql<{ vacuums: number; analyzes: number }[]>`
      SELECT autovacuum_count::int AS vacuums, autoanalyze_count::int AS analyzes FROM pg_stat_user_tables WHERE relname = 'run_sort_values'`;
    return row;
  });
}

/**
 * The walk of run_sort_values' index that the middle page makes (its numbers, descending), timed
 * in the database (EXPLAIN ANALYZE's execution time, median of 5 after one warm-up), with the
 * number of entries it had to check in the table (Heap Fetches: those on pages not marked
 * all-visible). The same SQL as postgres-sort-values.ts builds for that part of the page, for a
 * figure without the HTTP round trip's noise.
 */
async function indexWalk(database: string, offset: number): Promise<{ ms: number; heapFetches: number }> {
  return withSql(database, async (sql) => {
    return (await sql.begin(async (tx) => {
      await tx.unsafe("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off");
      const [{ id }] = await tx<{ id: number }[]>`SELECT id FROM run_sort_paths WHERE source = 'summary' AND path = ARRAY['acc']`;
      const runs: { ms: number; heapFetches: number }[] = [];
      for (let i = 0; i < 6; i++) {
        const [row] = await tx.unsafe(
          `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT v.run_pk FROM run_sort_values v WHERE v.path_id = $1 AND v.kind = 0
           ORDER BY v.kind DESC, v.num DESC, v.str_key DESC, v.run_pk DESC LIMIT 50 OFFSET $2`,
          [id, offset] as never[],
        );
        const [plan] = row["QUERY PLAN"] as { "Execution Time": number; Plan: { Plans?: { "Heap Fetches"?: number }[] } }[];
        if (i > 0) runs.push({ ms: plan["Execution Time"], heapFetches: plan.Plan.Plans?.[0]?.["Heap Fetches"] ?? NaN });
      }
      runs.sort((a, b) => a.ms - b.ms);
      return runs[runs.length >> 1];
    })) as { ms: number; heapFetches: number };
  });
}

/** VACUUM of the whole database, as autovacuum would do after the bulk insert. */
async function vacuum(database: string): Promise<void> {
  await withSql(database, async (sql) => {
    await sql`VACUUM`;
  });
}

async function timeGet(url: string, apiKey: string, samples: number, expectRuns: number): Promise<number> {
  const once = async () => {
    const t0 = performance.now();
    const res = await fetch(url, { headers: { authorization: `Bearer ${apiKey}` } });
    const body = (await res.json()) as { runs?: unknown[] };
    const ms = performance.now() - t0;
    if (!res.ok || body.runs?.length !== expectRuns) throw new Error(`GET ${url}: HTTP ${res.status}, ${body.runs?.length} runs`);
    return ms;
  };
  await once(); // the statement prepared, the pages in the cache: a page as a user paging through gets it
  const out: number[] = [];
  for (let s = 0; s < samples; s++) out.push(await once());
  return median(out);
}

interface PageTimes {
  /** The first page sorted by a path no page was sorted by before: the one-time copy of its values on SQLite (sqlite-sort-values.ts). */
  firstEver: number;
  first: number;
  middle: number;
  newest: number;
  /** PostgreSQL only: the same pages after a VACUUM. */
  vacuumed?: { first: number; middle: number; newest: number };
  /** PostgreSQL, the last size only: the same pages AUTOVACUUM_WAIT_MS after half as many runs again were inserted into a table holding other projects' values, no manual VACUUM; and whether autovacuum visited run_sort_values meanwhile. */
  grown?: { first: number; middle: number; newest: number; runs: number; autovacuumed: boolean; autoanalyzed: boolean };
  /** PostgreSQL, the last size only: the middle page's index walk (indexWalk) once grown, and then after a VACUUM. */
  walks?: { vacuumed: { ms: number; heapFetches: number }; grown: { ms: number; heapFetches: number } };
}

/** Times the pages of one backend at each project size (runs are added between sizes). */
async function measure(backend: BenchBackend, sizes: number[], samples: number): Promise<PageTimes[]> {
  const { dataDir, database } = await backend.fresh("runs-page");
  const server = await startServer({ port: 0, dataDir, database, log: { level: "warn" } });
  try {
    const { apiKey, user } = readCredential(server.url)!;
    const entity = (await server.store.getEntity(user))!;
    const author = (await server.store.getUserByName(user))!;
    await server.store.ingest({ entityId: entity.id, project: PROJECT, runId: "template", authorUserId: author.id }, [{ k: "run", seq: 0, run: templateRun("template") }], Date.now());
    const templatePk = (await server.store.getRun(user, PROJECT, "template"))!.pk;
    const base = `${server.url}/api/v1/runs/${user}/${PROJECT}`;
    const out: PageTimes[] = [];
    let have = 0;
    for (const [i, size] of sizes.entries()) {
      // Cumulative: the larger project is the smaller one and more runs (the template makes one more).
      await fill(database, dataDir, have, size - 1, templatePk);
      have = size - 1;
      const t0 = performance.now();
      const res = await fetch(`${base}?sort=config.${FRESH_PATHS[i % FRESH_PATHS.length]}&limit=50`, { headers: { authorization: `Bearer ${apiKey}` } });
      if (!res.ok) throw new Error(`first sort: HTTP ${res.status}`);
      await res.arrayBuffer();
      const firstEver = performance.now() - t0;
      // The middle page stays at the offset of this size's middle, also once the project has grown.
      const pages = async () => ({
        first: await timeGet(`${base}?sort=-summary.acc&limit=50`, apiKey, samples, 50),
        middle: await timeGet(`${base}?sort=-summary.acc&limit=50&offset=${Math.floor(size / 2)}`, apiKey, samples, 50),
        newest: await timeGet(`${base}?limit=50`, apiKey, samples, 50),
      });
      const times: PageTimes = { firstEver, ...(await pages()) };
      if (database !== undefined) {
        await vacuum(database);
        times.vacuumed = await pages();
        if (i === sizes.length - 1) {
          await otherProjectsValues(database, templatePk, size * OTHER_VALUES_FACTOR);
          await vacuum(database);
          // Half as many runs again, left to autovacuum: neither VACUUM nor ANALYZE by the benchmark.
          await fastAutovacuum(database, true);
          const before = await autovacuumCounts(database);
          const more = Math.max(1, Math.floor(size / 2));
          await fill(database, dataDir, have, have + more, templatePk, false);
          have += more;
          await new Promise((r) => setTimeout(r, AUTOVACUUM_WAIT_MS));
          const after = await autovacuumCounts(database);
          times.grown = {
            ...(await pages()),
            runs: have + 1,
            autovacuumed: after.vacuums > before.vacuums,
            autoanalyzed: after.analyzes > before.analyzes,
          };
          const grownWalk = await indexWalk(database, Math.floor(size / 2));
          // The baseline: the same walk of the same, grown index once VACUUM has visited its table.
          await vacuum(database);
          times.walks = { grown: grownWalk, vacuumed: await indexWalk(database, Math.floor(size / 2)) };
          await fastAutovacuum(database, false);
        }
      }
      out.push(times);
    }
    return out;
  } finally {
    await server.close();
  }
}

/** One figure per backend, project size and page (first, middle), beside the newest-first page. */
export async function benchRunsPage(samples: number, ...sizes: number[]): Promise<Figure[]> {
  const root = benchRoot("runs-page");
  const savedHome = process.env.HOME;
  process.env.HOME = root; // the bootstrap writes its credentials file here, not in the real home
  const backends = await benchBackends(root);
  const figures: Figure[] = [];
  try {
    for (const backend of backends) {
      const times = await measure(backend, sizes, samples);
      sizes.forEach((runs, i) => {
        const t = times[i];
        const n = runs.toLocaleString("en");
        const grown = t.grown
          ? [{ when: ` (grown to ${t.grown.runs.toLocaleString("en")} runs after that VACUUM, beside ${OTHER_VALUES_FACTOR}x as many values of other projects, ${AUTOVACUUM_WAIT_MS / 1000} s later, autovacuum only: it ${t.grown.autovacuumed ? "vacuumed" : "did not vacuum"} run_sort_values${t.grown.autoanalyzed ? " and analyzed it" : ""})`, ...t.grown }]
          : [];
        const states = [{ when: "", ...t }, ...(t.vacuumed ? [{ when: " (after VACUUM)", ...t.vacuumed }] : []), ...grown];
        for (const s of states) {
          for (const [page, ms] of [["first page", s.first], [`offset ${Math.floor(runs / 2).toLocaleString("en")}`, s.middle]] as const) {
            figures.push({
              name: `runs-table page (HTTP): ${n} runs, ${backend.name}, sort by summary.acc, ${page}${s.when}`,
              value: ms,
              baseline: s.newest,
              baselineName: `the first page newest first, same database${s.when}`,
              unit: "ms",
              better: "lower",
              samples,
              goal: runs >= 100_000 ? "< 50 ms" : "",
            });
          }
        }
        if (t.walks && t.grown) {
          const checked = (w: { heapFetches: number }) => `${w.heapFetches.toLocaleString("en")} entries checked in the table`;
          figures.push({
            name: `runs-table page (SQL, EXPLAIN ANALYZE): ${n} runs, ${backend.name}, the index walk of offset ${Math.floor(runs / 2).toLocaleString("en")} once grown to ${t.grown.runs.toLocaleString("en")} runs (as above, autovacuum ${t.grown.autovacuumed ? "visited" : "did not visit"}): ${checked(t.walks.grown)}`,
            value: t.walks.grown.ms,
            baseline: t.walks.vacuumed.ms,
            baselineName: `the same walk after a VACUUM then: ${checked(t.walks.vacuumed)}`,
            unit: "ms",
            better: "lower",
            samples: 5,
          });
        }
        figures.push({
          name: `runs-table page (HTTP): ${n} runs, ${backend.name}, the first page sorted by a config value no page was sorted by before (one request)`,
          value: t.firstEver,
          baseline: t.newest,
          baselineName: "the first page newest first, same database",
          unit: "ms",
          better: "lower",
          samples: 1,
        });
      });
    }
  } finally {
    for (const b of backends) await b.close();
    process.env.HOME = savedHome;
    rmSync(root, { recursive: true, force: true });
  }
  return figures;
}
