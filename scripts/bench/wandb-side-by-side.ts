/**
 * W&B's Python SDK beside trackside's own client, on the same workloads, each timed from the
 * processes' spawn to their exit with the run synced (issue 17, point 7):
 * - W&B's profile: P processes (10) × S steps (100) × 100 floats, online;
 * - one process logging R rows (100,000) of 10 floats, online;
 * - the same rows offline (W&B's `WANDB_MODE=offline` beside `TRACKSIDE_MODE=offline`), to the
 *   run written on disk.
 * Online, both log into the same `trackside server` (W&B's SDK through the server's W&B routes,
 * docs/wandb.md) on loopback; after each online wave the server is asked whether every run holds
 * all its steps, so a figure is never that of a run that lost rows.
 *
 * The figure is trackside's time, the baseline W&B's: the ratio below 1 is trackside faster. Each
 * side pays its own start: Node.js loading trackside and spawning its daemon, Python importing
 * wandb and spawning its `wandb-core` service. Where W&B's SDK cannot be had (no local Python
 * package index: wandb-python.ts) the benchmark says so on stderr and gives no figures.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { benchRoot, clientEnv, reapDaemons, startServerProcess, type BenchServer } from "./procs.js";
import { median, type Figure } from "./stats.js";
import { wandbPython } from "./wandb-python.js";

const TRACKSIDE_PROBE = fileURLToPath(new URL("./side-by-side-probe.js", import.meta.url));
/** The Python probe is not compiled: it stays in scripts/bench beside its source (dist/scripts/bench is three levels down). */
const WANDB_PROBE = fileURLToPath(new URL("../../../scripts/bench/wandb-sdk-probe.py", import.meta.url));
/** A wave that takes longer than this has hung (W&B's SDK retries a failing server for days). */
const WAVE_TIMEOUT_MS = 600_000;

interface Workload {
  procs: number;
  rows: number;
  width: 10 | 100;
  mode: "online" | "offline";
}

/** Runs `procs` processes of `cmd args` with `env` to their exit; the wall time (ms) from the spawn and each one's `RUN` path. */
async function wave(cmd: string, args: string[], env: NodeJS.ProcessEnv, procs: number): Promise<{ ms: number; paths: string[] }> {
  const t0 = performance.now();
  const children = Array.from({ length: procs }, () => {
    const child = spawn(cmd, args, { env, cwd: env.HOME, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const exit = new Promise<string>((resolve, reject) => {
      child.once("error", reject);
      child.once("close", (code, signal) => {
        const path = /^RUN (\S+)$/m.exec(out)?.[1];
        if (code === 0 && path) resolve(path);
        else reject(new Error(`${cmd} ${args.join(" ")} exited with ${code ?? signal} (3: not synced): ${err.slice(-2000)}`));
      });
    });
    return { child, exit };
  });
  const timer = setTimeout(() => children.forEach((c) => c.child.kill("SIGKILL")), WAVE_TIMEOUT_MS);
  try {
    const paths = await Promise.all(children.map((c) => c.exit));
    return { ms: performance.now() - t0, paths };
  } catch (err) {
    for (const c of children) c.child.kill("SIGKILL");
    await Promise.allSettled(children.map((c) => c.exit));
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Throws unless every run holds `rows` history steps on the server. */
async function checkSynced(server: BenchServer, paths: string[], rows: number, who: string): Promise<void> {
  for (const path of paths) {
    const res = await fetch(`${server.url}/api/v1/runs/${path}`, { headers: { authorization: `Bearer ${server.apiKey}` } });
    const run = (await res.json()) as { historySteps?: number; state?: string };
    if (run.historySteps !== rows || run.state !== "finished") throw new Error(`${who}'s run ${path}: ${run.historySteps} of ${rows} steps, ${run.state}`);
  }
}

/** One sample of a workload on each side: [trackside ms, W&B ms]. The two alternate, so the machine's drift reaches both. */
async function sample(w: Workload, server: BenchServer, root: string, python: string): Promise<[number, number]> {
  const { env, socketDir } = clientEnv(server, root, { TRACKSIDE_MODE: w.mode });
  const ours = await wave(process.execPath, [TRACKSIDE_PROBE, String(w.rows), String(w.width)], env, w.procs);
  await reapDaemons([socketDir]);
  if (w.mode === "online") await checkSynced(server, ours.paths, w.rows, "trackside");

  const home = mkdtempSync(join(root, "wandb-"));
  const wandbEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, TMPDIR: process.env.TMPDIR, WANDB_DIR: home, WANDB_SILENT: "true", WANDB_BASE_URL: server.url, WANDB_API_KEY: server.apiKey };
  if (w.mode === "offline") wandbEnv.WANDB_MODE = "offline";
  const theirs = await wave(python, [WANDB_PROBE, String(w.rows), String(w.width)], wandbEnv, w.procs);
  if (w.mode === "online") await checkSynced(server, theirs.paths, w.rows, "W&B's SDK");
  rmSync(home, { recursive: true, force: true });
  return [ours.ms, theirs.ms];
}

/**
 * @param procs processes of the profile (10), each logging `steps` (100) rows of 100 floats
 * @param rows rows of 10 floats of the single process (100,000), online and offline
 */
export async function benchWandbSideBySide(procs: number, steps: number, rows: number, samples: number): Promise<Figure[]> {
  const found = wandbPython();
  if (found.python === null) {
    process.stderr.write(`bench: W&B's Python SDK side by side skipped: ${found.why}\n`);
    return [];
  }
  const workloads: (Workload & { name: string })[] = [
    { procs, rows: steps, width: 100, mode: "online", name: `${procs} processes × ${steps} steps × 100 floats, online` },
    { procs: 1, rows, width: 10, mode: "online", name: `1 process, ${rows.toLocaleString("en")} rows of 10 floats, online` },
    { procs: 1, rows, width: 10, mode: "offline", name: `1 process, ${rows.toLocaleString("en")} rows of 10 floats, offline` },
  ];
  const root = benchRoot("wandb-side");
  const server = await startServerProcess(root);
  const times = workloads.map(() => ({ ours: [] as number[], theirs: [] as number[] }));
  try {
    for (let i = 0; i < samples; i++) {
      for (const [j, w] of workloads.entries()) {
        const [ours, theirs] = await sample(w, server, root, found.python);
        times[j].ours.push(ours);
        times[j].theirs.push(theirs);
      }
    }
  } finally {
    await server.close();
    rmSync(root, { recursive: true, force: true });
  }
  return workloads.map((w, j) => ({
    name: `side-by-side: ${w.name}, from the spawn to ${w.mode === "online" ? "synced to trackside's server" : "written to disk"} and exited`,
    value: median(times[j].ours),
    baseline: median(times[j].theirs),
    baselineName: `W&B's Python SDK ${w.mode === "online" ? "logging to trackside's server" : "offline"}`,
    unit: "ms",
    better: "lower",
    samples,
  }));
}
