/** Child of the init benchmark: one cold init() (spawns the daemon), finish, one warm init(). */
import * as trackside from "trackside";

const settings = { silent: true };
let t0 = performance.now();
const first = await trackside.init({ project: "bench", mode: "offline", settings });
const cold = performance.now() - t0;
await first.finish();
t0 = performance.now();
const second = await trackside.init({ project: "bench", mode: "offline", settings });
const warm = performance.now() - t0;
await second.finish();
console.log(JSON.stringify({ cold, warm }));
