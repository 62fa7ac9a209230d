/**
 * Child of the W&B-profile benchmark: STEPS steps of a 100-float row. `trackside`: logged to an
 * online run, finished, exit 0 only if synced. `bare`: the same rows built and dropped, no
 * trackside loaded.
 *
 * With `gated`, the process first loads what it needs (trackside, in its mode), writes "ready" to
 * stdout and waits for its stdin to close before it starts: the way W&B's own benchmark runs
 * this profile, whose children are forked from a parent that has already imported wandb.
 *
 * Usage: node wandb-probe.js trackside|bare STEPS [gated]
 */
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
  process.stdout.write("ready\n");
  await new Promise((go) => {
    process.stdin.once("end", go);
    process.stdin.resume();
  });
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
