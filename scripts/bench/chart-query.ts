/**
 * The chart query (`GET .../history/buckets`: a 1,000,000-step metric down to 1,000 buckets) on
 * SQLite and on PostgreSQL in the same run, through the Store interface. Cold: the first query of
 * a store just opened, which reads the key's and `_step`'s column chunks from the database (its
 * pages already in the database's cache: the server's column cache is what is cold). Baseline:
 * reading all the rows undownsampled (`readHistory`, what a chart would cost without the
 * endpoint). Warm: the same query again, from the cached columns. Baseline: counting the run's
 * rows (`countHistory`), the least a query over them costs.
 *
 * The run is uploaded as the daemon does it, column batches of 4,096 steps of 10 metrics (as
 * web-queries.ts, which measures SQLite alone with its bucketing class directly).
 *
 * Alone: `npm run build && node dist/scripts/bench/run.js --one benchChartQuery '[1000000,3]'`.
 */
import { join } from "node:path";
import { rmSync } from "node:fs";
import type { RunInfo } from "../../src/protocol/records.js";
import { PostgresStore, SqliteStore } from "../../src/server/index.js";
import type { Store } from "../../src/server/store/store.js";
import { benchBackends } from "./backends.js";
import { historyColumns, median, type Figure } from "./stats.js";
import { benchRoot } from "./procs.js";

const BATCH = 4096;

const RUN: RunInfo = {
  id: "longrun1", entity: "bench", project: "charts", name: "long", notes: null, tags: [], group: null, jobType: null, config: {}, createdAt: 1.7e12,
  program: { executable: "node", args: [], cwd: "/", pid: 1, host: "bench", nodeVersion: process.version, os: process.platform, tracksideVersion: "0" },
};

async function timeAsync(f: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}

/** Uploads one run of `rows` steps; returns its pk. */
async function fill(store: Store, rows: number): Promise<number> {
  const user = await store.createUser("bench", Date.now());
  const target = { entityId: (await store.getEntity("bench"))!.id, project: "charts", runId: RUN.id, authorUserId: user.id };
  await store.ingest(target, [{ k: "run", seq: 0, run: RUN }], Date.now());
  for (let start = 0; start < rows; start += BATCH) {
    const n = Math.min(BATCH, rows - start);
    const cols = historyColumns(start, n);
    await store.ingest(target, [{ k: "history", seq: 1 + start, n, cols }], Date.now());
  }
  return (await store.getRun("bench", "charts", RUN.id))!.pk;
}

/** Cold and warm chart queries of each backend, each beside its baseline of the same run. */
export async function benchChartQuery(rows: number, samples: number): Promise<Figure[]> {
  const root = benchRoot("chart-query");
  const backends = await benchBackends(root);
  const figures: Figure[] = [];
  const q = { key: "m3", x: "step" as const, buckets: 1000 };
  try {
    for (const backend of backends) {
      const { dataDir, database } = await backend.fresh("charts");
      const openStore = async (): Promise<Store> => (database ? PostgresStore.open(database, { max: 4 }) : SqliteStore.open(join(dataDir, "trackside.db")));
      const first = await openStore();
      let pk: number;
      try {
        pk = await fill(first, rows);
        if (first instanceof SqliteStore) await first.idle(); // not while the WAL checkpoint of the fill copies pages
      } finally {
        await first.close();
      }
      const cold: number[] = [];
      const warm: number[] = [];
      const readAll: number[] = [];
      const countAll: number[] = [];
      for (let s = 0; s < samples; s++) {
        const store = await openStore();
        try {
          await store.countHistory(pk); // the connection open and the statements prepared: not the chart's cost
          cold.push(await timeAsync(() => store.historyBuckets(pk, q)));
          const again: number[] = [];
          for (let i = 0; i < 3; i++) again.push(await timeAsync(() => store.historyBuckets(pk, q)));
          warm.push(median(again));
          readAll.push(await timeAsync(() => store.readHistory(pk, { limit: rows })));
          countAll.push(await timeAsync(() => store.countHistory(pk)));
        } finally {
          await store.close();
        }
      }
      const steps = `${rows.toLocaleString("en")} steps`;
      figures.push(
        { name: `chart query cold, ${backend.name}: ${steps} -> 1,000 buckets`, value: median(cold), baseline: median(readAll), baselineName: "readHistory of every row, same store", unit: "ms", better: "lower", samples, goal: "<= 100 ms" },
        { name: `chart query warm (cached columns), ${backend.name}: ${steps}`, value: median(warm), baseline: median(countAll), baselineName: "countHistory of the run, same store", unit: "ms", better: "lower", samples, goal: "<= 100 ms" },
      );
    }
  } finally {
    for (const b of backends) await b.close();
    rmSync(root, { recursive: true, force: true });
  }
  return figures;
}
