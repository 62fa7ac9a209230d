/**
 * End to end: N rows of 10 scalars from `log()` in a training process until all are queryable on
 * the server. A `trackside server` child on a loopback port; a probe process (e2e-probe.ts) opens an
 * online run, whose init() spawns the daemon, then times the log() loop, `finish()` (synced) and
 * `GET /api/v1/runs/<e>/<p>/<id>` showing historySteps === N. Baseline, same run: the server's
 * ingest of the same rows alone, the floor of the pipeline: the upload bodies that the daemon
 * would send, encoded beforehand and POSTed one after the other (as server-ingest.ts does).
 * Each measurement gets a fresh server, so neither finds the other's rows in the database.
 */
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { bodies, postBodies } from "./server-ingest.js";
import { benchRoot, clientEnv, reapDaemons, runProbe, startServerProcess } from "./procs.js";
import { median, type Figure } from "./stats.js";

const probe = fileURLToPath(new URL("./e2e-probe.js", import.meta.url));

async function pipeline(n: number, root: string): Promise<number> {
  const server = await startServerProcess(root);
  const { env, socketDir } = clientEnv(server, root);
  try {
    const r = await runProbe<{ ms: number; synced: boolean; historySteps: number | null; status: number }>(probe, [String(n)], env);
    if (!r.synced || r.historySteps !== n) throw new Error(`end-to-end: synced ${r.synced}, historySteps ${r.historySteps} (HTTP ${r.status}), expected ${n}`);
    return r.ms;
  } finally {
    await reapDaemons([socketDir]);
    await server.close();
  }
}

async function ingestAlone(n: number, root: string, sample: number): Promise<number> {
  const server = await startServerProcess(root);
  try {
    const runId = `floor${sample}`;
    const payloads = bodies(runId, n);
    const t0 = performance.now();
    await postBodies(server.url, server.apiKey, server.user, runId, payloads);
    const res = await fetch(`${server.url}/api/v1/runs/${server.user}/bench/${runId}`, { headers: { authorization: `Bearer ${server.apiKey}` } });
    const view = (await res.json()) as { historySteps?: number };
    const ms = performance.now() - t0;
    if (view.historySteps !== n) throw new Error(`ingest baseline: historySteps ${view.historySteps}, expected ${n}`);
    return ms;
  } finally {
    await server.close();
  }
}

export async function benchEndToEnd(n: number, samples: number): Promise<Figure[]> {
  const root = benchRoot("e2e");
  const e2e: number[] = [];
  const floor: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      floor.push(await ingestAlone(n, root, i));
      e2e.push(await pipeline(n, root));
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return [
    {
      name: `end-to-end of ${n.toLocaleString("en")} 10-scalar rows: from log() until all are queryable on the server`,
      value: median(e2e) / 1000,
      baseline: median(floor) / 1000,
      baselineName: "the server's ingest of the same rows alone (pre-encoded bodies POSTed)",
      unit: "s",
      better: "lower",
      samples,
      goal: "<= 3 s (issue 15; 8 s before)",
    },
  ];
}
