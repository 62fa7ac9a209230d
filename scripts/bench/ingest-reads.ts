/**
 * A server's answers while it takes in a bulk upload (SQLite): 1,000,000 rows in 4 runs at once
 * (replica-ingest.ts's bodies), while one reader asks for a run's page over and over, each
 * request after the answer to the one before, as a person's browser on the run's workspace would.
 *
 * The figure: the reads' latency with uploads stored on the server's writer thread
 * (sqlite/ingest-writer.ts; TRACKSIDE_INGEST_THREAD=on) beside the baseline, the same with every
 * upload stored on the HTTP thread (TRACKSIDE_INGEST_THREAD=off), in alternating samples of one
 * run. Each server first takes a warm-up upload (100,000 rows, or `rows` if fewer), so that its
 * thread is running, and its code compiled, when the clock starts.
 *
 * Alone: `npm run build && node dist/scripts/bench/run.js --one benchIngestReads '[1000000,3]'`.
 */
import http from "node:http";
import { rmSync } from "node:fs";
import { benchDir } from "./backends.js";
import { bodies, postBodies } from "./server-ingest.js";
import { startServerProcess } from "./procs.js";
import { median, type Figure } from "./stats.js";

const RUNS = 4;

interface Sample {
  /** Upload rows per second. */
  rowsPerS: number;
  p50: number;
  p99: number;
  reads: number;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function sample(root: string, thread: "on" | "off", rows: number, tag: string): Promise<Sample> {
  const server = await startServerProcess(root, { env: { TRACKSIDE_INGEST_THREAD: thread } });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    await postBodies(server.url, server.apiKey, server.user, `warm${tag}`, bodies(`warm${tag}`, Math.min(100_000, rows)));
    const runIds = Array.from({ length: RUNS }, (_, i) => `reads${tag}r${i}`);
    const payloads = runIds.map((id) => bodies(id, Math.ceil(rows / RUNS)));
    const page = `${server.url}/api/v1/runs/${server.user}/bench/warm${tag}`;
    const read = () =>
      new Promise<number>((resolve, reject) => {
        const t0 = performance.now();
        http
          .get(page, { agent, headers: { authorization: `Bearer ${server.apiKey}` } }, (res) => {
            res.resume();
            res.on("end", () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`HTTP ${res.statusCode}`))));
          })
          .on("error", reject);
      });
    let uploading = true;
    const latencies: number[] = [];
    const reader = (async () => {
      do latencies.push(await read());
      while (uploading);
    })();
    const t0 = performance.now();
    await Promise.all(runIds.map((id, i) => postBodies(server.url, server.apiKey, server.user, id, payloads[i])));
    const ms = performance.now() - t0;
    uploading = false;
    await reader;
    latencies.sort((a, b) => a - b);
    return { rowsPerS: (Math.ceil(rows / RUNS) * RUNS) / (ms / 1000), p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), reads: latencies.length };
  } finally {
    agent.destroy();
    await server.close();
  }
}

export async function benchIngestReads(rows: number, samples: number): Promise<Figure[]> {
  const root = benchDir("ingest-reads");
  const on: Sample[] = [];
  const off: Sample[] = [];
  try {
    for (let s = 0; s < samples; s++) {
      off.push(await sample(root, "off", rows, `off${s}`));
      on.push(await sample(root, "on", rows, `on${s}`));
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const n = rows.toLocaleString("en");
  const of = (xs: Sample[], k: keyof Sample) => median(xs.map((x) => x[k]));
  const base = (k: keyof Sample, what: string) => ({ baseline: of(off, k), baselineName: `${what}, every upload stored on the HTTP thread (TRACKSIDE_INGEST_THREAD=off)`, samples });
  return [
    { name: `reads during an upload of ${n} rows in ${RUNS} runs (SQLite), median latency, uploads stored on the writer thread`, value: of(on, "p50"), unit: "ms", better: "lower", ...base("p50", "the same") },
    { name: `reads during that upload, 99th percentile, writer thread`, value: of(on, "p99"), unit: "ms", better: "lower", ...base("p99", "the same") },
    { name: `reads answered during that upload, writer thread`, value: of(on, "reads"), unit: "reads", better: "higher", ...base("reads", "the same") },
    { name: `the upload itself, writer thread`, value: of(on, "rowsPerS"), unit: "rows/s", better: "higher", ...base("rowsPerS", "the same") },
  ];
}
