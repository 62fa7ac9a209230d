/**
 * Ingest through `trackside server` child processes, SQLite beside PostgreSQL in one run:
 * history rows per second of RUNS runs uploading at once (each its bodies one after the other,
 * as a daemon's uploader does: 16 column records of 4,096 rows of 10 scalars per POST), through
 * one server and, on PostgreSQL, through two replicas of one database (a run's successive
 * bodies alternate between them, as a round-robin load balancer sends them). SQLite serves one
 * process per file, so it has no two-replica figure.
 *
 * Baseline, same run and backend: insert-only, i.e. the rows straight into its history tables.
 * The chunk and record rows the server stored for those runs are read back, and inserted again
 * under other run keys with plain INSERTs, one transaction per upload body's worth (16 records),
 * the runs at once on PostgreSQL (a connection each), one after the other on SQLite (one writer).
 * Goal (issue 15): ingest at least 0.8x of that baseline on either backend.
 *
 * Beside them, for SQLite, where the time goes: the same bodies decoded, checked and stored by a
 * SqliteStore in this process (no HTTP, no second process), and stored alone (decoded and
 * checked before the clock starts).
 *
 * Each server first takes a warm-up run's upload (100,000 rows), outside the clock and the floor.
 *
 * Alone: `npm run build && node dist/scripts/bench/run.js --one benchReplicaIngest '[1000000,3]'`.
 */
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import postgres from "postgres";
import { decodeUntrusted } from "../../src/protocol/codec.js";
import { flattenBatches, validateRecords } from "../../src/protocol/record-check.js";
import type { RunRecord } from "../../src/protocol/records.js";
import { SqliteStore } from "../../src/server/index.js";
import { benchBackends } from "./backends.js";
import { bodies, postBodies } from "./server-ingest.js";
import { benchRoot, startServerProcess, type BenchServer } from "./procs.js";
import { median, type Figure } from "./stats.js";

/** Runs uploading at once: a few daemons' worth, so that two replicas have work side by side. */
const RUNS = 4;
const RECORDS_PER_TX = 16;

type Row = Record<string, unknown>;

/** Uploads every run's bodies, the runs at once, body j of run i to servers[(i + j) % servers.length]. */
async function upload(servers: BenchServer[], runIds: string[], payloads: Buffer[][]): Promise<number> {
  const { apiKey, user } = servers[0];
  const t0 = performance.now();
  await Promise.all(
    runIds.map(async (runId, i) => {
      for (let j = 0; j < payloads[i].length; j++) await postBodies(servers[(i + j) % servers.length].url, apiKey, user, runId, [payloads[i][j]]);
    }),
  );
  return performance.now() - t0;
}

/** Groups of RECORDS_PER_TX records' rows (chunks and index rows), as one upload body stores them. */
function groups(records: Row[], chunks: Row[]): { records: Row[]; chunks: Row[] }[] {
  const bySeq = new Map<number, Row[]>();
  for (const c of chunks) {
    const seq = Number(c.first_seq);
    if (!bySeq.has(seq)) bySeq.set(seq, []);
    bySeq.get(seq)!.push(c);
  }
  const out: { records: Row[]; chunks: Row[] }[] = [];
  for (let i = 0; i < records.length; i += RECORDS_PER_TX) {
    const rs = records.slice(i, i + RECORDS_PER_TX);
    out.push({ records: rs, chunks: rs.flatMap((r) => bySeq.get(Number(r.first_seq)) ?? []) });
  }
  return out;
}

async function sqliteFloor(file: string, runPks: number[]): Promise<number> {
  const db = new Database(file);
  try {
    const cols = (t: string) => (db.prepare(`SELECT name FROM pragma_table_info('${t}')`).pluck().all() as string[]).filter((c) => c !== "run_pk");
    const chunkCols = cols("history_chunks");
    const recordCols = cols("history_records");
    const insChunk = db.prepare(`INSERT INTO history_chunks (run_pk, ${chunkCols.join(", ")}) VALUES (@run_pk, ${chunkCols.map((c) => `@${c}`).join(", ")})`);
    const insRecord = db.prepare(`INSERT INTO history_records (run_pk, ${recordCols.join(", ")}) VALUES (@run_pk, ${recordCols.map((c) => `@${c}`).join(", ")})`);
    const work = runPks.map((pk) =>
      groups(db.prepare("SELECT * FROM history_records WHERE run_pk = ? ORDER BY first_seq").all(pk) as Row[], db.prepare("SELECT * FROM history_chunks WHERE run_pk = ?").all(pk) as Row[]),
    );
    const tx = db.transaction((g: { records: Row[]; chunks: Row[] }, runPk: number) => {
      for (const r of g.records) insRecord.run({ ...r, run_pk: runPk });
      for (const c of g.chunks) insChunk.run({ ...c, run_pk: runPk });
    });
    const t0 = performance.now();
    work.forEach((gs, i) => gs.forEach((g) => tx(g, -1 - i)));
    return performance.now() - t0;
  } finally {
    db.close();
  }
}

async function postgresFloor(url: string, runPks: number[]): Promise<number> {
  const sql = postgres(url, { max: runPks.length, onnotice: () => undefined });
  try {
    const work = await Promise.all(
      runPks.map(async (pk) => groups(await sql<Row[]>`SELECT * FROM history_records WHERE run_pk = ${pk} ORDER BY first_seq`, await sql<Row[]>`SELECT * FROM history_chunks WHERE run_pk = ${pk}`)),
    );
    const t0 = performance.now();
    await Promise.all(
      work.map(async (gs, i) => {
        for (const g of gs) {
          await sql.begin(async (tx) => {
            const t = tx as unknown as typeof sql;
            await t`INSERT INTO history_records ${t(g.records.map((r) => ({ ...r, run_pk: -1 - i })))}`;
            await t`INSERT INTO history_chunks ${t(g.chunks.map((c) => ({ ...c, run_pk: -1 - i })))}`;
          });
        }
      }),
    );
    return performance.now() - t0;
  } finally {
    await sql.end();
  }
}

/**
 * The bodies through a SqliteStore in this process, the runs' bodies interleaved: ms of decode +
 * check + ingest, and of ingest alone (the same bodies decoded and checked beforehand).
 */
async function sqliteInProcess(dir: string, runIds: string[], payloads: Buffer[][]): Promise<{ all: number; store: number }> {
  const time = async (file: string, prepare: boolean): Promise<number> => {
    // One thread doing everything in turn: what the server did before its writer thread.
    const store = SqliteStore.open(join(dir, file), { ingestThread: "never" });
    try {
      const user = await store.createUser("bench", Date.now());
      const entity = (await store.getEntity("bench"))!;
      const targets = runIds.map((runId) => ({ entityId: entity.id, project: "bench", runId, authorUserId: user.id }));
      const decode = (body: Buffer, runId: string) => validateRecords(flattenBatches(decodeUntrusted(body)), runId);
      const ready: RunRecord[][][] = prepare ? payloads.map((bs, i) => bs.map((b) => decode(b, runIds[i]))) : [];
      const longest = Math.max(...payloads.map((p) => p.length));
      const t0 = performance.now();
      for (let j = 0; j < longest; j++) {
        for (let i = 0; i < runIds.length; i++) {
          if (j >= payloads[i].length) continue;
          await store.ingest(targets[i], prepare ? ready[i][j] : decode(payloads[i][j], runIds[i]), Date.now());
        }
      }
      return performance.now() - t0;
    } finally {
      await store.close();
    }
  };
  return { all: await time("all.db", false), store: await time("store.db", true) };
}

export async function benchReplicaIngest(rows: number, samples: number): Promise<Figure[]> {
  const root = benchRoot("replica-ingest");
  const backends = await benchBackends(root);
  const perRun = Math.ceil(rows / RUNS);
  const total = perRun * RUNS;
  const results = new Map<string, { one: number[]; two: number[]; floor: number[] }>();
  const inProcess = { all: [] as number[], store: [] as number[] };
  try {
    for (let s = 0; s < samples; s++) {
      for (const backend of backends) {
        const r = results.get(backend.name) ?? { one: [], two: [], floor: [] };
        results.set(backend.name, r);
        for (const replicas of backend.name === "PostgreSQL" ? [1, 2] : [1]) {
          const { dataDir, database } = await backend.fresh(`ingest${replicas}`);
          const first = await startServerProcess(dataDir, { database });
          const servers = [first];
          try {
            if (replicas === 2) servers.push(await startServerProcess(dataDir, { database, home: first.home }));
            // A server that has already taken an upload, as a long-lived one has: its code compiled,
            // and on SQLite its writer thread started (once a server has taken 16,384 rows).
            for (const [k, server] of servers.entries()) {
              const warm = `warm${s}s${k}`;
              await postBodies(server.url, server.apiKey, server.user, warm, bodies(warm, Math.min(100_000, perRun)));
            }
            const runIds = Array.from({ length: RUNS }, (_, i) => `ingest${s}r${i}`);
            const payloads = runIds.map((id) => bodies(id, perRun));
            const ms = await upload(servers, runIds, payloads);
            (replicas === 1 ? r.one : r.two).push(total / (ms / 1000));
            // Every row stored? (a figure for rows that were refused would mean nothing)
            for (const id of runIds) {
              const res = await fetch(`${first.url}/api/v1/runs/${first.user}/bench/${id}`, { headers: { authorization: `Bearer ${first.apiKey}` } });
              const view = (await res.json()) as { historySteps?: number };
              if (view.historySteps !== perRun) throw new Error(`${backend.name}: run ${id} has ${view.historySteps} steps, expected ${perRun}`);
            }
          } finally {
            for (const server of servers) await server.close();
          }
          if (replicas > 1) continue;
          // The floor, on the same database, after the servers have stopped (nothing else writes).
          const floorMs = database === undefined ? await sqliteFloor(sqliteFile(first.home), sqlitePks(first.home)) : await postgresFloor(database, await postgresPks(database));
          r.floor.push(total / (floorMs / 1000));
          if (database === undefined) {
            const runIds = Array.from({ length: RUNS }, (_, i) => `inproc${s}r${i}`);
            const ms = await sqliteInProcess(dataDir, runIds, runIds.map((id) => bodies(id, perRun)));
            inProcess.all.push(total / (ms.all / 1000));
            inProcess.store.push(total / (ms.store / 1000));
          }
        }
      }
    }
  } finally {
    for (const b of backends) await b.close();
    rmSync(root, { recursive: true, force: true });
  }
  const figures: Figure[] = [];
  const n = total.toLocaleString("en");
  for (const [name, r] of results) {
    const floor = { baseline: median(r.floor), baselineName: `insert-only: the same chunk and record rows straight into ${name}'s history tables`, unit: "rows/s", better: "higher" as const, samples, goal: ">= 0.80x" };
    figures.push({ name: `ingest (HTTP) of ${n} rows in ${RUNS} runs at once, ${name}, one server`, value: median(r.one), ...floor });
    if (name === "SQLite" && inProcess.all.length > 0) {
      const { goal: _goal, ...noGoal } = floor;
      figures.push({ name: `the same bodies decoded, checked and stored by a SqliteStore in the bench's process (no HTTP), SQLite`, value: median(inProcess.all), ...noGoal });
      figures.push({ name: `the same records stored by a SqliteStore alone (decoded and checked beforehand), SQLite`, value: median(inProcess.store), ...noGoal });
    }
    if (r.two.length > 0) figures.push({ name: `ingest (HTTP) of ${n} rows in ${RUNS} runs at once, ${name}, two replicas of one database`, value: median(r.two), ...floor });
  }
  return figures;
}

/** The SQLite file of the one server started under `home` (its data dir is `home/server-*`). */
function sqliteFile(home: string): string {
  const dir = readdirSync(home).find((d) => d.startsWith("server-"))!;
  return join(home, dir, "trackside.db");
}

function sqlitePks(home: string): number[] {
  const db = new Database(sqliteFile(home), { readonly: true });
  try {
    return db.prepare("SELECT pk FROM runs WHERE run_id LIKE 'ingest%' ORDER BY pk").pluck().all() as number[];
  } finally {
    db.close();
  }
}

async function postgresPks(url: string): Promise<number[]> {
  const sql = postgres(url, { max: 1, onnotice: () => undefined });
  try {
    return (await sql<{ pk: number }[]>`SELECT pk FROM runs WHERE run_id LIKE 'ingest%' ORDER BY pk`).map((r) => Number(r.pk));
  } finally {
    await sql.end();
  }
}
