/**
 * Load test (issue 15): RUNS runs at once, each logging RATE rows a second for SECONDS seconds,
 * through two `trackside server` replicas of one PostgreSQL database. Each run is a simulated
 * daemon: once a second it POSTs that second's rows (one column record of RATE rows of 10
 * scalars, seq and step continuing), its uploads alternating between the replicas as a
 * round-robin load balancer sends them, and it sends the next only after the previous one's
 * acknowledgement (as the daemon's uploader does). Reported: rows lost (rows acknowledged but not
 * stored at the end, counted through the other replica; must be 0), p50/p99 of the
 * acknowledgement latency (POST to response), and the servers' CPU (both processes, user +
 * system, from /proc) as a share of one core. Baseline, same run: the same uploads' latency with
 * a single run at a time (p50 of one upload on an idle server).
 *
 * Needs PostgreSQL (skipped with a warning without it). Alone:
 * `npm run build && node dist/scripts/bench/run.js --one benchLoadTest '[200,10,60]'`.
 */
import { readFileSync, rmSync } from "node:fs";
import { encodeRecords } from "../../src/protocol/codec.js";
import type { RunRecord } from "../../src/protocol/records.js";
import { postgresCluster } from "./backends.js";
import { postBodies } from "./server-ingest.js";
import { benchRoot, startServerProcess, type BenchServer } from "./procs.js";
import { makeRow, quantile, type Figure } from "./stats.js";

function runBody(runId: string): Buffer {
  const program = { executable: "node", args: [], cwd: "/", pid: process.pid, host: "bench", nodeVersion: process.version, os: process.platform, tracksideVersion: "0" };
  return encodeRecords([{ k: "run", seq: 0, run: { id: runId, entity: "", project: "bench", name: runId, notes: null, tags: [], group: null, jobType: null, config: {}, createdAt: Date.now(), program } }]);
}

function secondBody(second: number, rate: number): Buffer {
  const from = second * rate;
  const cols: Record<string, Float64Array> = { _step: new Float64Array(rate), _timestamp: new Float64Array(rate), _runtime: new Float64Array(rate) };
  for (const k of Object.keys(makeRow(0))) cols[k] = new Float64Array(rate);
  for (let i = 0; i < rate; i++) {
    cols._step[i] = from + i;
    cols._timestamp[i] = Date.now();
    cols._runtime[i] = (from + i) / rate;
    for (const [k, v] of Object.entries(makeRow(from + i))) cols[k][i] = v;
  }
  const rec: RunRecord = { k: "history", seq: 1 + from, n: rate, cols };
  return encodeRecords([rec]);
}

/** CPU seconds (user + system) of a process so far, from /proc/<pid>/stat (clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export async function benchLoadTest(runs: number, rate: number, seconds: number): Promise<Figure[]> {
  const root = benchRoot("load");
  const pg = await postgresCluster();
  if (!pg) return [];
  const servers: BenchServer[] = [];
  try {
    servers.push(await startServerProcess(root, { database: pg.url }));
    servers.push(await startServerProcess(root, { database: pg.url, home: servers[0].home }));
    const { apiKey, user } = servers[0];
    const post = (i: number, runId: string, body: Buffer) => postBodies(servers[i % servers.length].url, apiKey, user, runId, [body]);
    const runIds = Array.from({ length: runs }, (_, i) => `load${i}`);
    await Promise.all(runIds.map((id, i) => post(i, id, runBody(id))));
    // Baseline: one upload at a time, nothing else running.
    const idle: number[] = [];
    for (let s = 0; s < 20; s++) {
      const t0 = performance.now();
      await post(s, runIds[0], secondBody(s, rate));
      idle.push(performance.now() - t0);
    }
    const cpu0 = servers.map((s) => cpuSeconds(s.pid));
    const latencies: number[] = [];
    let acked = 0;
    const t0 = performance.now();
    // Each run starts at its own offset within the first second, as runs started apart would.
    await Promise.all(
      runIds.map(async (id, i) => {
        const start = t0 + (i / runs) * 1000;
        for (let s = 20; s < 20 + seconds; s++) {
          const due = start + (s - 20) * 1000;
          const wait = due - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          const body = secondBody(s, rate);
          const a = performance.now();
          await post(i + s, id, body);
          latencies.push(performance.now() - a);
          acked += rate;
        }
      }),
    );
    const wall = (performance.now() - t0) / 1000;
    const cpu = servers.reduce((sum, s, i) => sum + cpuSeconds(s.pid) - cpu0[i], 0);
    // Every acknowledged row stored? Counted through the other replica than the last upload's.
    let stored = 0;
    for (const [i, id] of runIds.entries()) {
      const res = await fetch(`${servers[(i + 1) % 2].url}/api/v1/runs/${user}/bench/${id}`, { headers: { authorization: `Bearer ${apiKey}` } });
      stored += ((await res.json()) as { historySteps?: number }).historySteps ?? 0;
    }
    const expected = acked + 20 * rate; // the baseline's rows went into run 0
    const label = `${runs} runs × ${rate} rows/s × ${seconds} s through two PostgreSQL replicas`;
    const idleP50 = quantile(idle, 0.5);
    return [
      { name: `load test, ${label}: rows lost (of ${expected.toLocaleString("en")} acknowledged; wall ${wall.toFixed(1)} s)`, value: expected - stored, baseline: expected, baselineName: "rows acknowledged", unit: "rows", better: "lower", samples: 1, goal: "0" },
      { name: `load test, ${label}: acknowledgement latency p50`, value: quantile(latencies, 0.5), baseline: idleP50, baselineName: "p50 of one upload at a time on idle servers", unit: "ms", better: "lower", samples: 1 },
      { name: `load test, ${label}: acknowledgement latency p99`, value: quantile(latencies, 0.99), baseline: idleP50, baselineName: "p50 of one upload at a time on idle servers", unit: "ms", better: "lower", samples: 1 },
      { name: `load test, ${label}: servers' CPU (both processes), share of one core`, value: (100 * cpu) / wall, baseline: 100, baselineName: "one core", unit: "%", better: "lower", samples: 1 },
    ];
  } finally {
    for (const s of servers) await s.close();
    await pg.stop();
    rmSync(root, { recursive: true, force: true });
  }
}
