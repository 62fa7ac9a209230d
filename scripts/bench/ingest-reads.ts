/**
 * SQLite's writer thread: a bulk upload (1,000,000 rows in 4 runs at once, replica-ingest.ts's
 * bodies) with nobody reading, its rows/s and the CPU its HTTP thread spent; then another such
 * upload while one reader asks for a run's page over and over, each request after the answer to
 * the one before, as a person's browser on the run's workspace would: the reads' latency.
 *
 * Each figure with uploads stored on the server's writer thread
 * (sqlite/ingest-writer.ts; TRACKSIDE_INGEST_THREAD=on) beside the baseline, the same with every
 * upload stored on the HTTP thread (TRACKSIDE_INGEST_THREAD=off), in alternating samples of one
 * run. Each server first takes a warm-up upload (100,000 rows, or `rows` if fewer), so that its
 * thread is running, and its code compiled, when the clock starts.
 *
 * Alone: `npm run build && node dist/scripts/bench/run.js --one benchIngestReads '[1000000,3]'`.
 */
import http from "node:http";
import { readFileSync, rmSync } from "node:fs";
import { bodies, postBodies } from "./server-ingest.js";
import { benchRoot, startServerProcess } from "./procs.js";
import { median, quantile, type Figure } from "./stats.js";

const RUNS = 4;

interface Sample {
  /** Rows per second of an upload with nobody reading. */
  aloneRowsPerS: number;
  /** CPU ms of the server's HTTP (main) thread during that upload; NaN where /proc is missing. */
  httpThreadMs: number;
  /** Rows per second of the upload beside the reader. */
  rowsPerS: number;
  p50: number;
  p99: number;
  reads: number;
}

/** CPU time of a process's main thread, ms (Linux's /proc/PID/task/PID/schedstat: its first field, ns); NaN elsewhere. */
function mainThreadCpuMs(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, "utf8").split(" ")[0]) / 1e6;
  } catch {
    return NaN;
  }
}

async function sample(root: string, thread: "on" | "off", rows: number, tag: string): Promise<Sample> {
  const server = await startServerProcess(root, { env: { TRACKSIDE_INGEST_THREAD: thread } });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const perRun = Math.ceil(rows / RUNS);
  const upload = async (prefix: string): Promise<number> => {
    const runIds = Array.from({ length: RUNS }, (_, i) => `${prefix}${tag}r${i}`);
    const payloads = runIds.map((id) => bodies(id, perRun));
    const t0 = performance.now();
    await Promise.all(runIds.map((id, i) => postBodies(server.url, server.apiKey, server.user, id, payloads[i])));
    return (perRun * RUNS) / ((performance.now() - t0) / 1000);
  };
  try {
    await postBodies(server.url, server.apiKey, server.user, `warm${tag}`, bodies(`warm${tag}`, Math.min(100_000, rows)));
    const cpu0 = mainThreadCpuMs(server.pid);
    const aloneRowsPerS = await upload("alone");
    const httpThreadMs = mainThreadCpuMs(server.pid) - cpu0;

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
    const rowsPerS = await upload("reads").finally(() => (uploading = false));
    await reader;
    return { aloneRowsPerS, httpThreadMs, rowsPerS, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), reads: latencies.length };
  } finally {
    agent.destroy();
    await server.close();
  }
}

export async function benchIngestReads(rows: number, samples: number): Promise<Figure[]> {
  const root = benchRoot("ingest-reads");
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
    { name: `an upload of ${n} rows in ${RUNS} runs at once (SQLite), nobody reading, uploads stored on the writer thread`, value: of(on, "aloneRowsPerS"), unit: "rows/s", better: "higher", ...base("aloneRowsPerS", "the same") },
    { name: `the server's HTTP thread during that upload, CPU, writer thread`, value: of(on, "httpThreadMs"), unit: "ms", better: "lower", ...base("httpThreadMs", "the same") },
    { name: `reads during another such upload, median latency, writer thread`, value: of(on, "p50"), unit: "ms", better: "lower", ...base("p50", "the same") },
    { name: `reads during that upload, 99th percentile, writer thread`, value: of(on, "p99"), unit: "ms", better: "lower", ...base("p99", "the same") },
    { name: `reads answered during that upload, writer thread`, value: of(on, "reads"), unit: "reads", better: "higher", ...base("reads", "the same") },
    { name: `that upload itself, writer thread`, value: of(on, "rowsPerS"), unit: "rows/s", better: "higher", ...base("rowsPerS", "the same") },
  ];
}
