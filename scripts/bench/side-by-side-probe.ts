/**
 * trackside's side of the W&B side-by-side benchmark (wandb-side-by-side.ts): ROWS rows of WIDTH
 * floats (100: the profile's `f0`..`f99`; 10: `makeRow`'s `m0`..`m9`), logged to one run, then
 * finished. Online (TRACKSIDE_MODE=online) it exits 0 only once the run is synced; offline, once
 * the run is written to disk. Its last line is `RUN <entity/project/id>`, for the benchmark to
 * check what the server holds. scripts/bench/wandb-sdk-probe.py is W&B's side, row for row.
 *
 * Usage: node side-by-side-probe.js ROWS WIDTH
 */
import { init } from "trackside";
import { makeRow } from "./stats.js";

const rows = Number(process.argv[2]);
const width = Number(process.argv[3]);

function wide(s: number): Record<string, number> {
  const r: Record<string, number> = {};
  for (let k = 0; k < 100; k++) r[`f${k}`] = s * 0.001 + k;
  return r;
}

const run = await init({ project: "side-by-side", settings: { silent: true, finishTimeoutMs: 600_000 } });
for (let s = 0; s < rows; s++) run.log(width === 100 ? wide(s) : makeRow(s));
const r = await run.finish();
process.stdout.write(`RUN ${run.path}\n`);
process.exitCode = process.env.TRACKSIDE_MODE === "offline" || r.synced ? 0 : 3;
