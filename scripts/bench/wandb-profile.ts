/**
 * W&B's published profile: P processes (10) × S steps (100) × 100 floats, online, until every one
 * has exited with its run synced. Each sample has a fresh socket directory, so no daemon is up at
 * the start: the first init() spawns the user's shared daemon and the others find it. Baseline,
 * same run: the same P processes running the same loop without trackside.
 *
 * W&B's harness (tools/bench in the wandb repository) imports wandb, then times `wandb.setup()`
 * (its service's start) and P `multiprocessing` children until all have joined. How much of a
 * child's start that includes depends on the OS: where Python forks (Linux), each child has
 * wandb loaded already and no interpreter start or import is timed; where it spawns (macOS),
 * each child starts an interpreter and imports wandb inside the timer. Both are ported here:
 * - gated (fork-like): Node.js cannot fork, so the P processes start and load trackside first,
 *   and the timer starts when they are all told to go (their stdin closes). The daemon's spawn,
 *   W&B's service start, is timed.
 * - from the spawn (spawn-like): the P Node.js processes' start and the import are timed too.
 * W&B's published results do not name the OS, but they suggest the fork: the profile took only
 * 0.11-0.16 s more than one empty run in the parent (1.96 vs 1.85 s online, 1.67 vs 1.51 s
 * offline; single samples, the service started inside the timer in both), which leaves no room
 * for ten interpreters each importing wandb (0.8-2 s each before wandb#10791). The goal is therefore
 * read on the gated wave; the waves from the spawn are reported beside it, for what ten
 * `node train.js` started at once pay, Node.js's start included.
 * W&B's online runs synced to a server over a network; these sync to a local one.
 */
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { benchRoot, clientEnv, reapDaemons, startServerProcess } from "./procs.js";
import { median, type Figure } from "./stats.js";

const probe = fileURLToPath(new URL("./wandb-probe.js", import.meta.url));

type Mode = "trackside" | "bare";

/** How long the gated probes may take to load, and a whole wave to end, before it is given up. */
const READY_TIMEOUT_MS = 60_000;
const WAVE_TIMEOUT_MS = 180_000;

/** `p`, or a rejection saying that `what` took longer than `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not done in ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/**
 * Starts `procs` probes and resolves with the wall time until all have exited (each with code 0):
 * from their spawn, or with `gated` from the moment all of them are loaded and are told to go.
 * If one fails, or the wave takes too long, all are killed: nothing is left running into the
 * next measurement.
 */
async function wave(mode: Mode, procs: number, steps: number, env: NodeJS.ProcessEnv, gated: boolean): Promise<number> {
  let t0 = performance.now();
  const children = Array.from({ length: procs }, () => {
    const args = [probe, mode, String(steps), ...(gated ? ["gated"] : [])];
    const child = spawn(process.execPath, args, { env, stdio: [gated ? "pipe" : "ignore", gated ? "pipe" : "ignore", "pipe"] });
    let err = "";
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    // "close": the process has exited and its stderr is read to the end.
    const exit = new Promise<void>((resolve, reject) => {
      child.once("error", reject);
      child.once("close", (code, signal) => (code === 0 ? resolve() : reject(new Error(`wandb-profile ${mode} probe exited with ${code ?? signal} (3: not synced): ${err}`))));
    });
    let ready = Promise.resolve();
    if (gated) {
      child.stdin!.on("error", () => {}); // a probe that died before the go: its exit says why
      ready = new Promise<void>((resolve, reject) => {
        let out = "";
        child.stdout!.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.length < 6) return;
          if (out.startsWith("ready\n")) resolve();
          else reject(new Error(`wandb-profile ${mode} probe printed ${JSON.stringify(out.slice(0, 80))} instead of ready`));
        });
        exit.then(() => reject(new Error(`wandb-profile ${mode} probe exited before it was ready: ${err}`)), reject);
      });
    }
    return { child, exit, ready };
  });
  try {
    if (gated) {
      await within(Promise.all(children.map((c) => c.ready)), READY_TIMEOUT_MS, `loading ${procs} ${mode} probes`);
      t0 = performance.now();
      for (const c of children) c.child.stdin!.end();
    }
    await within(Promise.all(children.map((c) => c.exit)), WAVE_TIMEOUT_MS, `a wave of ${procs} ${mode} probes`);
    return performance.now() - t0;
  } catch (err) {
    for (const c of children) c.child.kill("SIGKILL");
    await Promise.allSettled(children.map((c) => c.exit));
    throw err;
  }
}

interface Variant {
  gated: boolean;
  unsetCaCerts: boolean;
  tracked: number[];
  bare: number[];
}

/**
 * Where the environment sets NODE_EXTRA_CA_CERTS (these machines do), Node.js 20 reads and parses
 * that file at every process start, ours and the baseline's alike (measured: 35 -> 110 ms per
 * start with a 215 KB bundle). The waves timed from the spawn are then also measured without it,
 * so that the cost of eleven Node.js starts on two cores is not read as trackside's. The variants
 * alternate within each sample, so that the machine's drift reaches all of them alike.
 */
export async function benchWandbProfile(procs: number, steps: number, samples: number): Promise<Figure[]> {
  const root = benchRoot("wandb");
  const server = await startServerProcess(root);
  const variants: Variant[] = [
    { gated: true, unsetCaCerts: false, tracked: [], bare: [] },
    { gated: false, unsetCaCerts: false, tracked: [], bare: [] },
  ];
  if (process.env.NODE_EXTRA_CA_CERTS) variants.push({ gated: false, unsetCaCerts: true, tracked: [], bare: [] });
  const sockets: string[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      for (const v of variants) {
        const { env, socketDir } = clientEnv(server, root);
        if (v.unsetCaCerts) delete env.NODE_EXTRA_CA_CERTS;
        sockets.push(socketDir);
        v.bare.push(await wave("bare", procs, steps, env, v.gated));
        v.tracked.push(await wave("trackside", procs, steps, env, v.gated));
        await reapDaemons([socketDir]); // the daemons leave once their clients are gone
      }
    }
  } finally {
    await reapDaemons(sockets);
    await server.close();
    rmSync(root, { recursive: true, force: true });
  }
  const profile = `wandb-profile of ${procs} processes × ${steps} steps × 100 floats, online, until all synced and exited`;
  return variants.map((v) => ({
    name: v.gated
      ? `${profile}, timed as W&B's harness times it where Python forks its children: from a start signal to processes that have loaded trackside`
      : `${profile}, timed from spawning the Node.js processes, their start and import included (W&B's harness leaves them out where Python forks)` +
        (v.unsetCaCerts ? ", NODE_EXTRA_CA_CERTS unset (set on this machine: every Node.js start parses it)" : ""),
    value: median(v.tracked),
    baseline: median(v.bare),
    baselineName: v.gated ? "the same gated processes running the loop without trackside" : "the same processes and loop without trackside",
    unit: "ms",
    better: "lower",
    samples,
    ...(v.gated ? { goal: "<= 1 s (W&B's Go core: 1.96 s on their machine)" } : {}),
  }));
}
