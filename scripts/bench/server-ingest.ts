/**
 * Server ingest throughput: history rows per second through `POST .../records` on a real
 * socket, into SQLite, as the daemon sends them (msgpack bodies of 16 client batches of 4,096
 * rows, in columns). Baseline, same run: the storage floor alone, i.e. the same rows, packed one msgpack
 * map per row beforehand, inserted with one prepared statement in 4,096-row transactions, no HTTP at all.
 * No issue sets a goal for it. DESIGN.md's "about 0.4 M wide rows/s" is SQLite alone storing each
 * step as a wide row; since history is stored once (migration 9) ingest writes no wide rows for a
 * new run, only the column chunks that both row reads and charts use, and the baseline is the
 * floor of the layout before it.
 *
 * Run: `npm run build && node dist/scripts/bench/server-ingest.js` (BENCH_ROWS, BENCH_SAMPLES).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { Packr } from "msgpackr";
import { API_PREFIX, RECORDS_CONTENT_TYPE } from "../../src/protocol/api.js";
import { encodeRecords } from "../../src/protocol/codec.js";
import { readCredential } from "../../src/protocol/local-config.js";
import type { HistoryRow, RunRecord } from "../../src/protocol/records.js";
import { post } from "../../src/daemon/http-post.js";
import { startServer } from "../../src/server/index.js";
import { makeRow, median, table, type Figure } from "./stats.js";

const CLIENT_BATCH = 4096;
const BATCHES_PER_BODY = 16;

function historyRows(from: number, n: number): HistoryRow[] {
  const out: HistoryRow[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = { _step: from + i, _timestamp: 1.7e12 + from + i, _runtime: (from + i) / 1000, ...makeRow(from + i) };
  return out;
}

/** A history record in the column form that the client sends (all values here are numbers). */
function columns(seq: number, rows: HistoryRow[]): RunRecord {
  const cols: Record<string, Float64Array> = {};
  for (const key of Object.keys(rows[0])) cols[key] = Float64Array.from(rows, (r) => r[key] as number);
  return { k: "history", seq, n: rows.length, cols };
}

/** The upload bodies of a run of n rows, encoded before the clock starts. */
export function bodies(runId: string, n: number): Buffer[] {
  const out: Buffer[] = [];
  const run: RunRecord = {
    k: "run",
    seq: 0,
    run: {
      id: runId, entity: "", project: "bench", name: "bench-run-1", notes: null, tags: [], group: null, jobType: null, config: {}, createdAt: Date.now(),
      program: { executable: "node", args: [], cwd: "/", pid: process.pid, host: "bench", nodeVersion: process.version, os: process.platform, tracksideVersion: "0" },
    },
  };
  let frames: Buffer[] = [encodeRecords([run])];
  for (let start = 0; start < n; start += CLIENT_BATCH) {
    frames.push(encodeRecords([columns(1 + start, historyRows(start, Math.min(CLIENT_BATCH, n - start)))]));
    if (frames.length >= BATCHES_PER_BODY) {
      out.push(Buffer.concat(frames));
      frames = [];
    }
  }
  if (frames.length) out.push(Buffer.concat(frames));
  return out;
}

/**
 * POSTs the bodies of `bodies()` one after the other, as the daemon's uploader does, with its
 * own HTTP client (daemon/http-post.ts: node:http, the body written as it is). fetch() would copy
 * each body first, which costs the client (on the same cores as the server) more than the daemon pays.
 */
export async function postBodies(baseUrl: string, apiKey: string, user: string, runId: string, payloads: Buffer[]): Promise<void> {
  const url = `${baseUrl}${API_PREFIX}/runs/${user}/bench/${runId}/records`;
  for (const body of payloads) {
    const res = await post(url, { "content-type": RECORDS_CONTENT_TYPE, authorization: `Bearer ${apiKey}` }, body, 120_000);
    if (res.status < 200 || res.status > 299) throw new Error(`HTTP ${res.status}: ${res.text}`);
  }
}

async function httpIngest(n: number, dir: string, sample: number): Promise<number> {
  const server = await startServer({ port: 0, dataDir: join(dir, `server-${sample}`), log: { level: "warn" } });
  try {
    const { apiKey, user } = readCredential(server.url)!;
    const runId = `bench${sample}`;
    const payloads = bodies(runId, n);
    const t0 = performance.now();
    await postBodies(server.url, apiKey, user, runId, payloads);
    return performance.now() - t0;
  } finally {
    await server.close();
  }
}

function storageFloor(n: number, dir: string, sample: number): number {
  const db = new Database(join(dir, `floor-${sample}.db`));
  db.pragma("page_size = 16384");
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec("CREATE TABLE history (run_pk INTEGER NOT NULL, seq INTEGER NOT NULL, step INTEGER NOT NULL, ts REAL, data BLOB NOT NULL, PRIMARY KEY (run_pk, seq)) WITHOUT ROWID");
  const insert = db.prepare("INSERT OR REPLACE INTO history (run_pk, seq, step, ts, data) VALUES (?, ?, ?, ?, ?)");
  const packr = new Packr({ useRecords: false });
  // Each row's msgpack map is packed before the clock starts: the floor is SQLite's cost alone.
  const batches: { rows: HistoryRow[]; blobs: Buffer[] }[] = [];
  for (let start = 0; start < n; start += CLIENT_BATCH) {
    const rows = historyRows(start, Math.min(CLIENT_BATCH, n - start));
    batches.push({ rows, blobs: rows.map((r) => Buffer.from(packr.pack(r))) });
  }
  const tx = db.transaction(({ rows, blobs }: { rows: HistoryRow[]; blobs: Buffer[] }, seq: number) => {
    for (let i = 0; i < rows.length; i++) insert.run(1, seq + i, rows[i]._step, rows[i]._timestamp, blobs[i]);
  });
  const t0 = performance.now();
  batches.forEach((batch, b) => tx(batch, b * CLIENT_BATCH));
  const ms = performance.now() - t0;
  db.close();
  return ms;
}

/** Rows per second through the server, beside the storage floor. */
export async function benchServerIngest(rows: number, samples: number): Promise<Figure[]> {
  const dir = mkdtempSync(join(tmpdir(), "trackside-bench-server-"));
  const savedHome = process.env.HOME;
  process.env.HOME = dir; // the bootstrap writes its credentials file here, not in the real home
  const http: number[] = [];
  const floor: number[] = [];
  try {
    for (let s = 0; s < samples; s++) {
      http.push(rows / ((await httpIngest(rows, dir, s)) / 1000));
      floor.push(rows / (storageFloor(rows, dir, s) / 1000));
    }
  } finally {
    process.env.HOME = savedHome;
    rmSync(dir, { recursive: true, force: true });
  }
  return [
    {
      name: "server ingest (HTTP, msgpack, SQLite)",
      value: median(http),
      baseline: median(floor),
      baselineName: "SQLite insert alone",
      unit: "rows/s",
      better: "higher",
      samples,
    },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rows = Number(process.env.BENCH_ROWS ?? 1_000_000);
  const samples = Number(process.env.BENCH_SAMPLES ?? 3);
  console.log(table(await benchServerIngest(rows, samples)));
}
