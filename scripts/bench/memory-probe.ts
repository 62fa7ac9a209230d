/**
 * Child of the daemon-memory benchmark, driven over stdin/stdout: opens an online run (its init()
 * spawns the daemon) and prints "opened"; on a line from stdin logs N 10-scalar rows and finishes
 * (synced), then prints {"synced":...}; on the next line (or end of stdin) it exits, letting its
 * daemon leave. Usage: node memory-probe.js N
 */
import { createInterface } from "node:readline";
import * as trackside from "trackside";
import { makeRow } from "./stats.js";

const n = Number(process.argv[2]);
const input = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const run = await trackside.init({ project: "bench", settings: { silent: true, finishTimeoutMs: 600_000 } });
console.log("opened");
await input.next();
for (let s = 0; s < n; s++) run.log(makeRow(s));
const r = await run.finish();
console.log(JSON.stringify({ synced: r.synced }));
await input.next();
process.exit(0);
