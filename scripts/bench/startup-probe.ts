/**
 * Child of the start-up benchmark: an empty online run's init() + finish(), fully synced, twice.
 * The first spawns the daemon (cold), the second finds it up (warm). Prints {cold, warm, synced}.
 */
import * as trackside from "trackside";

const settings = { silent: true, finishTimeoutMs: 60_000 };
let t0 = performance.now();
const first = await trackside.init({ project: "bench", settings });
const a = await first.finish();
const cold = performance.now() - t0;
t0 = performance.now();
const second = await trackside.init({ project: "bench", settings });
const b = await second.finish();
const warm = performance.now() - t0;
console.log(JSON.stringify({ cold, warm, synced: a.synced && b.synced }));
