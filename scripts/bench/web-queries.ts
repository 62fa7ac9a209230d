/**
 * The web app's heavy reads, on SQLite:
 *
 * - A chart of a 1,000,000-step metric at 1,000 buckets (`GET .../history/buckets`). Cold: the
 *   first request, which reads the key's and `_step`'s column chunks (sqlite-history-buckets.ts).
 *   Baseline: reading all the rows undownsampled (`readHistory`: what a chart would cost
 *   without the endpoint). Warm: a later request, from the cached columns extended with new
 *   rows only. Baseline: counting the run's rows (`countHistory`), the least a query over them costs.
 * - A read of 1,000 history rows from the middle of that run (`GET .../history?minStep=&limit=`),
 *   built from the column chunks since history is stored once. Baseline: decoding the same 1,000
 *   rows from msgpack maps packed beforehand, what the read cost when it read one wide row a step,
 *   less SQLite.
 * - A page of the runs table of a 10,000-run project sorted by a summary value at offset 5,000,
 *   with its total. Baseline: the unsorted first page (newest first, served by an index).
 *
 * Run: `npm run build && node dist/scripts/bench/run.js` (BENCH_ROWS sizes the history).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunInfo, RunRecord } from "../../src/protocol/records.js";
import { decodeHistoryRow, encodeHistoryRow, SqliteStore } from "../../src/server/index.js";
import { SqliteHistoryBuckets } from "../../src/server/sqlite/sqlite-history-buckets.js";
import { historyColumns, median, type Figure } from "./stats.js";

const BATCH = 4096;

function runInfo(id: string, i: number): RunInfo {
  return {
    id, entity: "bench", project: "web", name: `run-${i}`, notes: null, tags: i % 3 ? [] : ["baseline"], group: null, jobType: null,
    config: { lr: 1 / (i + 1), batch: 32 + (i % 4) * 32 }, createdAt: 1.7e12 + i * 1000,
    program: { executable: "node", args: [], cwd: "/", pid: 1, host: "bench", nodeVersion: process.version, os: process.platform, tracksideVersion: "0" },
  };
}

async function timeAsync(f: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}

function time(f: () => unknown): number {
  const t = performance.now();
  f();
  return performance.now() - t;
}

export async function benchWebQueries(rows: number, runs: number, samples: number): Promise<Figure[]> {
  const dir = mkdtempSync(join(tmpdir(), "trackside-bench-web-"));
  const store = SqliteStore.open(join(dir, "bench.db"));
  try {
    const user = await store.createUser("bench");
    const entity = (await store.getEntity("bench"))!;
    const target = (runId: string) => ({ entityId: entity.id, project: "web", runId, authorUserId: user.id });

    // One long run, uploaded as the daemon would: column batches of 4,096 steps.
    await store.ingest(target("longrun1"), [{ k: "run", seq: 0, run: runInfo("longrun1", 0) }], Date.now());
    for (let start = 0; start < rows; start += BATCH) {
      const n = Math.min(BATCH, rows - start);
      const cols = historyColumns(start, n);
      await store.ingest(target("longrun1"), [{ k: "history", seq: 1 + start, n, cols }], Date.now());
    }
    // Timed at rest: not while the background WAL checkpoint of the ingest above still copies pages.
    await store.idle();
    const pk = (await store.getRun("bench", "web", "longrun1"))!.pk;
    const q = { key: "m3", x: "step" as const, buckets: 1000 };

    const cold: number[] = [];
    const readAll: number[] = [];
    const warm: number[] = [];
    const countAll: number[] = [];
    const page: number[] = [];
    const decodePage: number[] = [];
    const middle = { minStep: Math.floor(rows / 2), limit: 1000 };
    const pageBlobs = (await store.readHistory(pk, middle)).map((row) => Uint8Array.from(encodeHistoryRow(row)));
    for (let s = 0; s < samples; s++) {
      const buckets = new SqliteHistoryBuckets(store.db);
      cold.push(time(() => buckets.buckets(pk, q)));
      readAll.push(await timeAsync(() => store.readHistory(pk, { limit: rows })));
      warm.push(median([0, 1, 2].map(() => time(() => buckets.buckets(pk, q)))));
      countAll.push(await timeAsync(() => store.countHistory(pk)));
      const reads: number[] = [];
      for (let r = 0; r < 3; r++) reads.push(await timeAsync(() => store.readHistory(pk, middle)));
      page.push(median(reads));
      decodePage.push(median([0, 1, 2].map(() => time(() => pageBlobs.map(decodeHistoryRow)))));
    }

    // A project of many runs, each with a config and a summary.
    for (let i = 0; i < runs; i++) {
      const id = `r${String(i).padStart(7, "0")}`;
      const records: RunRecord[] = [
        { k: "run", seq: 0, run: runInfo(id, i) },
        { k: "summary", seq: 1, summary: { acc: ((i * 7919) % 1000) / 1000, loss: 1 / (i + 1) } },
      ];
      await store.ingest(target(id), records, Date.now());
    }
    const offset = Math.floor(runs / 2);
    const sorted: number[] = [];
    const plain: number[] = [];
    for (let s = 0; s < samples; s++) {
      sorted.push(await timeAsync(() => store.listRuns("bench", "web", { limit: 50, offset, sort: "createdAt", sortJson: { column: "summary", path: ["acc"] }, descending: true, publicOnly: false })));
      plain.push(await timeAsync(() => store.listRuns("bench", "web", { limit: 50, offset: 0, sort: "createdAt", descending: true, publicOnly: false })));
    }
    const steps = `${rows.toLocaleString("en")} steps`;
    return [
      { name: `history-buckets cold: ${steps} -> 1,000 buckets`, value: median(cold), baseline: median(readAll), baselineName: "readHistory of every row", unit: "ms", better: "lower", samples, goal: "<= 100 ms" },
      { name: `history-buckets warm (cached columns): ${steps}`, value: median(warm), baseline: median(countAll), baselineName: "countHistory of the run", unit: "ms", better: "lower", samples, goal: "<= 100 ms" },
      { name: `readHistory: 1,000 rows from the middle of ${steps}`, value: median(page), baseline: median(decodePage), baselineName: "decoding the same rows' msgpack maps alone", unit: "ms", better: "lower", samples },
      { name: `runs-table page: ${runs.toLocaleString("en")} runs, sort by summary.acc, offset ${offset}`, value: median(sorted), baseline: median(plain), baselineName: "first page, newest first", unit: "ms", better: "lower", samples },
    ];
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
