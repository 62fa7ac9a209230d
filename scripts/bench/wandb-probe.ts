/**
 * Child of the W&B-profile benchmark: STEPS steps of a 100-float row. `trackside`: logged to an
 * online run, finished, exit 0 only if synced. `bare`: the same rows built and dropped, no
 * trackside loaded.
 *
 * With `gated`, the process first loads what it needs (trackside, in its mode), writes "ready"
 * and waits for its stdin to close before it starts: the way W&B's harness runs the profile
 * where Python forks its children from a parent that has already imported wandb. Both go through
 * the file descriptors, so that process.stdout and process.stdin are not created before the
 * timer (init() creates stdout and stderr for its console capture, inside the timer, as in a
 * program that has not printed yet).
 *
 * Usage: node wandb-probe.js trackside|bare STEPS [gated]
 */
import { read, writeSync } from "node:fs";

const mode = process.argv[2];
const steps = Number(process.argv[3]);
const gated = process.argv[4] === "gated";

function row(s: number): Record<string, number> {
  const r: Record<string, number> = {};
  for (let k = 0; k < 100; k++) r[`f${k}`] = s * 0.001 + k;
  return r;
}

const trackside = mode === "trackside" ? await import("trackside") : null;
if (gated) {
  writeSync(1, "ready\n");
  await new Promise((go) => read(0, Buffer.alloc(1), 0, 1, null, go)); // returns at the close
}

if (trackside) {
  const run = await trackside.init({ project: "wandb-profile", settings: { silent: true, finishTimeoutMs: 120_000 } });
  for (let s = 0; s < steps; s++) run.log(row(s));
  const r = await run.finish();
  process.exitCode = r.synced ? 0 : 3;
} else {
  const ring: object[] = new Array(16);
  for (let s = 0; s < steps; s++) ring[s & 15] = row(s);
}
