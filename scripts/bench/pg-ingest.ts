/**
 * PostgreSQL ingest: history rows per second through `PostgresStore.ingest` (no HTTP), as the
 * daemon uploads them (batches of 16 column records of 4,096 rows of 10 scalars), then a read of
 * 1,000 rows from the middle of the run. Baseline, same run: the storage floor of the wide rows
 * that ingest wrote before history was stored once, i.e. the same rows packed one msgpack map per
 * row beforehand and inserted 4,096 per multi-row INSERT, one transaction per batch.
 *
 * Needs a database: `npm run build && node dist/scripts/bench/pg-ingest.js postgres://user@host:port/db`
 * (BENCH_ROWS, default 262,144; BENCH_SAMPLES, default 3). It creates its tables in that database.
 */
import postgres from "postgres";
import type { HistoryRow, RunRecord } from "../../src/protocol/records.js";
import { encodeHistoryRow, PostgresStore } from "../../src/server/index.js";
import { historyColumns, median, table, type Figure } from "./stats.js";

const CLIENT_BATCH = 4096;
const RECORDS_PER_BATCH = 16;

function batches(n: number): RunRecord[][] {
  const out: RunRecord[][] = [];
  let cur: RunRecord[] = [];
  for (let start = 0; start < n; start += CLIENT_BATCH) {
    const len = Math.min(CLIENT_BATCH, n - start);
    const cols = historyColumns(start, len);
    cur.push({ k: "history", seq: 1 + start, n: len, cols });
    if (cur.length === RECORDS_PER_BATCH) {
      out.push(cur);
      cur = [];
    }
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

async function main(): Promise<void> {
  const url = process.argv[2];
  if (!url) throw new Error("usage: node dist/scripts/bench/pg-ingest.js <postgres-url>");
  const rows = Number(process.env.BENCH_ROWS ?? 262_144);
  const samples = Number(process.env.BENCH_SAMPLES ?? 3);
  const store = await PostgresStore.open(url, { max: 4 });
  const sql = postgres(url, { max: 1, onnotice: () => undefined });
  const ingest: number[] = [];
  const floor: number[] = [];
  const read: number[] = [];
  const readFloor: number[] = [];
  const readFloorSeq: number[] = [];
  try {
    const user = (await store.getUserByName("bench")) ?? (await store.createUser("bench", Date.now()));
    const entityId = (await store.getEntity("bench"))!.id;
    await sql`CREATE TABLE IF NOT EXISTS bench_wide (run_pk bigint NOT NULL, seq bigint NOT NULL, step bigint NOT NULL, ts double precision, data bytea NOT NULL, PRIMARY KEY (run_pk, seq))`;
    for (let s = 0; s < samples; s++) {
      const runId = `pgbench${Date.now().toString(36)}${s}`;
      const target = { entityId, project: "bench", runId, authorUserId: user.id };
      const program = { executable: "node", args: [], cwd: "/", pid: process.pid, host: "bench", nodeVersion: process.version, os: process.platform, tracksideVersion: "0" };
      const run = { id: runId, entity: "bench", project: "bench", name: runId, notes: null, tags: [], group: null, jobType: null, config: {}, createdAt: Date.now(), program };
      await store.ingest(target, [{ k: "run", seq: 0, run }], Date.now());
      const bodies = batches(rows);
      let t0 = performance.now();
      for (const b of bodies) await store.ingest(target, b, Date.now());
      ingest.push(rows / ((performance.now() - t0) / 1000));

      const pk = (await store.getRun("bench", "bench", runId))!.pk;
      const middle = { minStep: Math.floor(rows / 2), limit: 1000 };
      const reads: number[] = [];
      for (let r = 0; r < 3; r++) {
        t0 = performance.now();
        await store.readHistory(pk, middle);
        reads.push(performance.now() - t0);
      }
      read.push(median(reads));
      // Its baseline: a SELECT of 1,000 wide rows' blobs by primary key, after the floor below wrote them.
      readFloorSeq.push(1 + middle.minStep);

      // The floor: the same rows as wide rows, packed before the clock starts.
      const wide = bodies.map((b) =>
        b.flatMap((r) => {
          const cols = (r as { cols: Record<string, Float64Array>; n: number; seq: number }).cols;
          const out: { run_pk: number; seq: number; step: number; ts: number; data: Buffer }[] = [];
          for (let i = 0; i < cols._step.length; i++) {
            const row: HistoryRow = { _step: cols._step[i], _timestamp: cols._timestamp[i], _runtime: cols._runtime[i] };
            for (const k of Object.keys(cols)) row[k] = cols[k][i];
            out.push({ run_pk: -1 - s, seq: r.seq + i, step: row._step, ts: row._timestamp, data: encodeHistoryRow(row) });
          }
          return out;
        }),
      );
      t0 = performance.now();
      for (const b of wide) {
        await sql.begin(async (tx) => {
          const t = tx as unknown as typeof sql;
          for (let i = 0; i < b.length; i += CLIENT_BATCH) await t`INSERT INTO bench_wide ${t(b.slice(i, i + CLIENT_BATCH), "run_pk", "seq", "step", "ts", "data")}`;
        });
      }
      floor.push(rows / ((performance.now() - t0) / 1000));
      const wideReads: number[] = [];
      for (let r = 0; r < 3; r++) {
        t0 = performance.now();
        await sql`SELECT step, data FROM bench_wide WHERE run_pk = ${-1 - s} AND seq >= ${readFloorSeq[s]} ORDER BY seq LIMIT 1000`;
        wideReads.push(performance.now() - t0);
      }
      readFloor.push(median(wideReads));
    }
  } finally {
    await sql`DROP TABLE IF EXISTS bench_wide`.catch(() => undefined);
    await sql.end();
    await store.close();
  }
  const figures: Figure[] = [
    { name: "PostgreSQL ingest (PostgresStore.ingest, no HTTP)", value: median(ingest), baseline: median(floor), baselineName: "the wide rows alone, multi-row INSERTs", unit: "rows/s", better: "higher", samples },
    { name: `PostgreSQL readHistory: 1,000 rows from the middle of ${rows.toLocaleString("en")} steps`, value: median(read), baseline: median(readFloor), baselineName: "SELECT of the same 1,000 wide rows by primary key, not decoded", unit: "ms", better: "lower", samples },
  ];
  console.log(table(figures));
}

await main();
