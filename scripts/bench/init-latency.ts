/**
 * init() latency. Cold: a fresh process whose init() spawns the daemon, beside a fresh `node -e 0`
 * (Node's own start-up, the floor of any spawn). Warm: a second init() in a process whose daemon
 * is up, beside one ZeroMQ request/reply on a new DEALER to a ROUTER.
 */
import { spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Dealer } from "zeromq";
import { encode } from "../../src/protocol/index.js";
import { benchRoot, reapDaemons, startRawSink } from "./procs.js";
import { median, type Figure } from "./stats.js";

const probe = fileURLToPath(new URL("./init-probe.js", import.meta.url));

function nodeStartMs(): number {
  const t0 = performance.now();
  spawnSync(process.execPath, ["-e", "0"]);
  return performance.now() - t0;
}

function probeRun(env: NodeJS.ProcessEnv): { cold: number; warm: number } {
  const r = spawnSync(process.execPath, [probe], { env, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`init probe failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as { cold: number; warm: number };
}

async function zmqRoundTrip(address: string): Promise<number> {
  const t0 = performance.now();
  const sock = new Dealer({ linger: 0 });
  sock.connect(address);
  await sock.send([encode({ t: "ping", seq: 1 })]);
  await sock.receive();
  const ms = performance.now() - t0;
  sock.close();
  return ms;
}

export async function benchInit(samples: number): Promise<Figure[]> {
  const root = benchRoot("init");
  const socketDir = mkdtempSync(join(root, "sock-"));
  const env: NodeJS.ProcessEnv = { ...process.env, TRACKSIDE_SOCKET_DIR: socketDir, TRACKSIDE_DIR: mkdtempSync(join(root, "runs-")) };
  delete env.TRACKSIDE_DAEMON;
  const address = `ipc://${join(socketDir, "raw-sink.sock")}`;
  const cold: number[] = [];
  const warm: number[] = [];
  const node: number[] = [];
  const zmq: number[] = [];
  const daemonDirs: string[] = [];
  let sink: ChildProcess | null = null;
  try {
    sink = await startRawSink(address);
    for (let i = 0; i < samples; i++) {
      node.push(nodeStartMs());
      // A socket directory of its own: the daemon of the previous sample may still be up there,
      // and the first init() would find it (warm) instead of spawning one (cold).
      const own = mkdtempSync(join(root, "sock-"));
      daemonDirs.push(own);
      const r = probeRun({ ...env, TRACKSIDE_SOCKET_DIR: own });
      if (!readdirSync(own).some((f) => /^d-.+\.log$/.test(f))) throw new Error("init bench: the cold init() spawned no daemon");
      cold.push(r.cold);
      warm.push(r.warm);
      zmq.push(await zmqRoundTrip(address));
    }
  } finally {
    sink?.kill(); // the raw sink keeps nothing
    await reapDaemons(daemonDirs); // each leaves once its probe is gone
    rmSync(root, { recursive: true, force: true });
  }
  return [
    { name: "cold init(): the daemon spawned, run open", value: median(cold), baseline: median(node), baselineName: "`node -e 0` start to exit", unit: "ms", better: "lower", samples, goal: "<= 150 ms" },
    { name: "warm init(): daemon up, run open", value: median(warm), baseline: median(zmq), baselineName: "one ZeroMQ request/reply on a new socket", unit: "ms", better: "lower", samples, goal: "<= 20 ms" },
  ];
}
