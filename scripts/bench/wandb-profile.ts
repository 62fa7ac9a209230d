/**
 * W&B's published profile: P processes (10) × S steps (100) × 100 floats, online, until every one
 * has exited with its run synced. Each sample has a fresh socket directory, so no daemon is up at
 * the start: the first init() spawns the user's shared daemon and the others find it. Baseline,
 * same run: the same P processes running the same loop without trackside.
 *
 * Timed two ways:
 * - As W&B times it (tools/bench in the wandb repository): its parent imports wandb, then starts
 *   the timer, starts its service (`wandb.setup()`) and the P children, which are forked with
 *   wandb already loaded, and stops the timer when all have joined. No interpreter start and no
 *   import is timed. Node.js cannot fork, so here the P processes are started and load trackside
 *   first; the timer starts when they are all told to go (their stdin closes). The daemon's spawn
 *   (W&B's service start) is timed.
 * - From spawning the P Node.js processes: their start and the import are timed too.
 */
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { benchRoot, clientEnv, reapDaemons, startServerProcess } from "./procs.js";
import { median, type Figure } from "./stats.js";

const probe = fileURLToPath(new URL("./wandb-probe.js", import.meta.url));

type Mode = "trackside" | "bare";

/**
 * Starts `procs` probes and resolves with the wall time until all have exited (each with code 0):
 * from their spawn, or with `gated` from the moment all of them are loaded and are told to go.
 */
async function wave(mode: Mode, procs: number, steps: number, env: NodeJS.ProcessEnv, gated: boolean): Promise<number> {
  let t0 = performance.now();
  const children = Array.from({ length: procs }, () => {
    const args = [probe, mode, String(steps), ...(gated ? ["gated"] : [])];
    const child = spawn(process.execPath, args, { env, stdio: [gated ? "pipe" : "ignore", gated ? "pipe" : "ignore", "pipe"] });
    let err = "";
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const exit = new Promise<void>((resolve, reject) =>
      child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`wandb-profile ${mode} probe exited with ${code} (3: not synced): ${err}`)))),
    );
    const ready = gated
      ? new Promise<void>((resolve, reject) => {
          child.stdout!.once("data", () => {
            child.stdout!.resume();
            resolve();
          });
          exit.then(() => reject(new Error(`wandb-profile ${mode} probe exited before it was ready: ${err}`)), reject);
        })
      : Promise.resolve();
    return { child, exit, ready };
  });
  if (gated) {
    await Promise.all(children.map((c) => c.ready)).catch((err: unknown) => {
      for (const c of children) c.child.kill("SIGKILL"); // none is left waiting for a signal
      throw err;
    });
    t0 = performance.now();
    for (const c of children) c.child.stdin!.end();
  }
  await Promise.all(children.map((c) => c.exit));
  return performance.now() - t0;
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
      ? `${profile}, timed as W&B times it: from the start signal to processes that have loaded trackside`
      : `${profile}, timed from spawning the Node.js processes` + (v.unsetCaCerts ? ", NODE_EXTRA_CA_CERTS unset (set on this machine: every Node.js start parses it)" : ""),
    value: median(v.tracked),
    baseline: median(v.bare),
    baselineName: v.gated ? "the same loaded processes running the loop without trackside" : "the same processes and loop without trackside",
    unit: "ms",
    better: "lower",
    samples,
    goal: v.gated ? "<= 1 s (W&B's Go core: 1.96 s on their machine, timed this way)" : "none (W&B times no process start)",
  }));
}
