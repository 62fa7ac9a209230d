/**
 * `npm run bench`: runs the benchmarks, prints a table and rewrites docs/BENCHMARKS.md.
 * BENCH_ROWS (default 1,000,000) and BENCH_SAMPLES (default 5) size it; BENCH_SMOKE=1 runs
 * everything tiny and writes nothing (the test suite does that so the benchmarks cannot rot).
 */
import { cpus } from "node:os";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { benchDaemonRss } from "./daemon-rss.js";
import { benchEmptyRun } from "./empty-run.js";
import { benchEndToEnd } from "./end-to-end.js";
import { benchInit } from "./init-latency.js";
import { benchLogThroughput } from "./log-throughput.js";
import { benchServerIngest } from "./server-ingest.js";
import { table, type Figure } from "./stats.js";
import { benchStatsCost } from "./stats-cost.js";
import { benchWandbProfile } from "./wandb-profile.js";
import { benchWebQueries } from "./web-queries.js";

const smoke = process.env.BENCH_SMOKE === "1";
const START = "<!-- bench:start (written by npm run bench) -->";
const END = "<!-- bench:end -->";
const rows = Number(process.env.BENCH_ROWS ?? (smoke ? 5000 : 1_000_000));
const samples = Number(process.env.BENCH_SAMPLES ?? (smoke ? 1 : 5));

const figures: Figure[] = [];
figures.push(...(await benchLogThroughput(rows, samples)));
figures.push(...(await benchInit(samples)));
figures.push(...(await benchServerIngest(rows, Math.min(samples, 3))));
figures.push(...(await benchStatsCost(smoke ? 1 : 5)));
figures.push(...(await benchWebQueries(rows, smoke ? 200 : 10_000, Math.min(samples, 3))));
figures.push(...(await benchEndToEnd(rows, Math.min(samples, 3))));
figures.push(...(await benchEmptyRun(samples)));
figures.push(...(await benchWandbProfile(smoke ? 2 : 10, smoke ? 10 : 100, samples)));
figures.push(...(await benchDaemonRss(rows, Math.min(samples, 3))));

const out = table(figures);
console.log(out);
if (!smoke) {
  // Only the part between the markers is generated; notes written by hand around it stay.
  const doc = fileURLToPath(new URL("../../../docs/BENCHMARKS.md", import.meta.url));
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}, Node.js ${process.version}, ${process.platform}`;
  const generated = `${START}
Machine: ${machine}. Date: ${new Date().toISOString().slice(0, 10)}. Rows: ${rows.toLocaleString("en")}; runs: ${samples}.
Rerun: \`npm run bench\` (sizes: \`BENCH_ROWS\`, \`BENCH_SAMPLES\`).

${out}
${END}`;
  const old = existsSync(doc) ? readFileSync(doc, "utf8") : `# Benchmarks\n\n${START}\n${END}\n`;
  const from = old.indexOf(START);
  const to = old.indexOf(END);
  const next = from >= 0 && to > from ? old.slice(0, from) + generated + old.slice(to + END.length) : `${old}\n${generated}\n`;
  writeFileSync(doc, next);
  console.log(`\nwrote ${doc}`);
}
process.exit(0);
