/**
 * `npm run bench`: runs the benchmarks, prints a table and rewrites docs/BENCHMARKS.md.
 * BENCH_ROWS (default 1,000,000) and BENCH_SAMPLES (default 5) size it; BENCH_SMOKE=1 runs
 * everything tiny and writes nothing (the test suite does that so the benchmarks cannot rot).
 */
import { spawnSync } from "node:child_process";
import { cpus } from "node:os";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { benchArtifacts } from "./artifacts.js";
import { benchChartQuery } from "./chart-query.js";
import { benchDaemonRss } from "./daemon-rss.js";
import { benchEmptyRun } from "./empty-run.js";
import { benchEndToEnd } from "./end-to-end.js";
import { benchIngestReads } from "./ingest-reads.js";
import { benchInit } from "./init-latency.js";
import { benchLoadTest } from "./load-test.js";
import { benchLogThroughput } from "./log-throughput.js";
import { benchMediaHistograms, benchMediaImages } from "./media.js";
import { benchMediaWeb } from "./media-web.js";
import { benchRunsPage } from "./runs-page.js";
import { benchReplicaIngest } from "./replica-ingest.js";
import { benchServerIngest } from "./server-ingest.js";
import { table, type Figure } from "./stats.js";
import { benchStatsCost } from "./stats-cost.js";
import { benchWandbProfile } from "./wandb-profile.js";
import { benchWandbSideBySide } from "./wandb-side-by-side.js";
import { benchWebQueries } from "./web-queries.js";
import { benchWorkspaceLive } from "./workspace-live.js";
import { benchWorkspaceLoad } from "./workspace-load.js";

const smoke = process.env.BENCH_SMOKE === "1";
const START = "<!-- bench:start (written by npm run bench) -->";
const END = "<!-- bench:end -->";
const rows = Number(process.env.BENCH_ROWS ?? (smoke ? 5000 : 1_000_000));
const samples = Number(process.env.BENCH_SAMPLES ?? (smoke ? 1 : 5));

const benches = {
  benchLogThroughput,
  benchInit,
  benchServerIngest,
  benchStatsCost,
  benchWebQueries,
  benchEndToEnd,
  benchEmptyRun,
  benchWandbProfile,
  benchWandbSideBySide,
  benchDaemonRss,
  benchRunsPage,
  benchReplicaIngest,
  benchIngestReads,
  benchLoadTest,
  benchChartQuery,
  benchWorkspaceLive,
  benchWorkspaceLoad,
  benchArtifacts,
  benchMediaImages,
  benchMediaHistograms,
  benchMediaWeb,
} satisfies Record<string, (...args: number[]) => Promise<Figure[]>>;
type BenchName = keyof typeof benches;

/**
 * Each benchmark runs in a process of its own (this script with `--one NAME ARGS`): one that
 * times work in its own process must not inherit the heap, the page cache use and the JIT
 * state of those before it (measured: the chart query took 160-210 ms after the others in one
 * process, 90-110 ms alone).
 */
function isolated(name: BenchName, ...args: number[]): Figure[] {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--one", name, JSON.stringify(args)], { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });
  if (r.status !== 0) throw new Error(`benchmark ${name} failed (exit ${r.status ?? r.signal})`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as Figure[];
}

if (process.argv[2] === "--one") {
  const name = process.argv[3] as BenchName;
  const run = benches[name] as (...args: number[]) => Promise<Figure[]>;
  const figures = await run(...(JSON.parse(process.argv[4]) as number[]));
  process.stdout.write(`${JSON.stringify(figures)}\n`);
  process.exit(0);
}

const figures: Figure[] = [];
figures.push(...isolated("benchLogThroughput", rows, samples));
figures.push(...isolated("benchInit", samples));
figures.push(...isolated("benchServerIngest", rows, Math.min(samples, 3)));
figures.push(...isolated("benchStatsCost", smoke ? 1 : 5));
figures.push(...isolated("benchWebQueries", rows, smoke ? 200 : 10_000, Math.min(samples, 3)));
figures.push(...isolated("benchEndToEnd", rows, Math.min(samples, 3)));
figures.push(...isolated("benchEmptyRun", samples));
figures.push(...isolated("benchWandbProfile", smoke ? 2 : 10, smoke ? 10 : 100, samples));
figures.push(...isolated("benchDaemonRss", rows, Math.min(samples, 3)));
// Issue 16: the project workspace in Chromium (left out with a warning where it is not installed).
figures.push(...isolated("benchWorkspaceLoad", smoke ? 12 : 50, smoke ? 2 : 20, smoke ? 1500 : 100_000, Math.min(samples, 3)));
figures.push(...isolated("benchWorkspaceLive", smoke ? 2 : 10, smoke ? 1 : 60));
// Issue 18: artifacts, beside cp -r.
figures.push(...isolated("benchArtifacts", smoke ? 4 : 1024, Math.min(samples, 3)));
// Issue 19: media logged per step beside encoding (computing) it alone; the image panel in Chromium.
figures.push(...isolated("benchMediaImages", smoke ? 5 : 1000, Math.min(samples, 3)));
figures.push(...isolated("benchMediaHistograms", smoke ? 5 : 1000, smoke ? 1000 : 10_000, 1000, Math.min(samples, 3)));
figures.push(...isolated("benchMediaWeb", smoke ? 5 : 1000, Math.min(samples, 3)));

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
