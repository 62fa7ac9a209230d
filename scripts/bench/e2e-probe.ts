/**
 * Child of the end-to-end benchmark: opens an online run (not timed), then times N `log()`s of
 * 10 scalars, `finish()` until synced, and the `GET` of the run that shows every step stored.
 * Prints {ms, synced, historySteps}. Usage: node e2e-probe.js N (server from TRACKSIDE_BASE_URL).
 */
import * as trackside from "trackside";
import { makeRow } from "./stats.js";

const n = Number(process.argv[2]);
const run = await trackside.init({ project: "bench", settings: { silent: true, finishTimeoutMs: 600_000 } });
const t0 = performance.now();
for (let s = 0; s < n; s++) run.log(makeRow(s));
const result = await run.finish();
const res = await fetch(`${process.env.TRACKSIDE_BASE_URL}/api/v1/runs/${run.entity}/${run.project}/${run.id}`, {
  headers: { authorization: `Bearer ${process.env.TRACKSIDE_API_KEY}` },
});
const view = (await res.json()) as { historySteps?: number };
const ms = performance.now() - t0;
console.log(JSON.stringify({ ms, synced: result.synced, historySteps: view.historySteps ?? null, status: res.status }));
