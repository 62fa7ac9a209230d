/**
 * W&B's published profile: P processes (10) × S steps (100) × 100 floats, online, all started at
 * once; wall time from spawning them until every one has exited with its run synced. Each sample
 * has a fresh socket directory, so no daemon is up at the start: the first probe spawns the
 * user's shared daemon and the others find it. Baseline, same run: the same P processes running
 * the same loop without trackside (plain Node building the objects).
 */
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { benchRoot, clientEnv, reapDaemons, startServerProcess } from "./procs.js";
import { median, type Figure } from "./stats.js";

const probe = fileURLToPath(new URL("./wandb-probe.js", import.meta.url));

/** Spawns `procs` probes at once and resolves with the wall time until all have exited (each with code 0). */
async function wave(mode: "trackside" | "bare", procs: number, steps: number, env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = performance.now();
  const exits = Array.from({ length: procs }, () => {
    const child = spawn(process.execPath, [probe, mode, String(steps)], { env, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    return new Promise<void>((resolve, reject) =>
      child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`wandb-profile ${mode} probe exited with ${code} (3: not synced): ${err}`)))),
    );
  });
  await Promise.all(exits);
  return performance.now() - t0;
}

/**
 * Where the environment sets NODE_EXTRA_CA_CERTS (these machines do), Node.js 20 reads and parses
 * that file at every process start, ours and the baseline's alike (measured: 35 -> 110 ms per
 * start with a 215 KB bundle). The profile is then also measured without it, as a second
 * figure, so that the cost of eleven Node.js starts on two cores is not read as trackside's.
 */
export async function benchWandbProfile(procs: number, steps: number, samples: number): Promise<Figure[]> {
  const root = benchRoot("wandb");
  const server = await startServerProcess(root);
  const variants = [{ unsetCaCerts: false, tracked: [] as number[], bare: [] as number[] }];
  if (process.env.NODE_EXTRA_CA_CERTS) variants.push({ unsetCaCerts: true, tracked: [], bare: [] });
  const sockets: string[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      for (const v of variants) {
        const { env, socketDir } = clientEnv(server, root);
        if (v.unsetCaCerts) delete env.NODE_EXTRA_CA_CERTS;
        sockets.push(socketDir);
        v.bare.push(await wave("bare", procs, steps, env));
        v.tracked.push(await wave("trackside", procs, steps, env));
        await reapDaemons([socketDir]); // the daemons leave once their clients are gone
      }
    }
  } finally {
    await reapDaemons(sockets);
    await server.close();
    rmSync(root, { recursive: true, force: true });
  }
  return variants.map((v) => ({
    name:
      `wandb-profile of ${procs} processes × ${steps} steps × 100 floats, online, started at once, until all synced and exited` +
      (v.unsetCaCerts ? ", NODE_EXTRA_CA_CERTS unset (set on this machine: every Node.js start parses it)" : ""),
    value: median(v.tracked),
    baseline: median(v.bare),
    baselineName: "the same processes and loop without trackside",
    unit: "ms",
    better: "lower",
    samples,
    goal: "<= 1 s (W&B's Go core: 1.96 s on their machine)",
  }));
}
