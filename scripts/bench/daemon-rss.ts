/**
 * The daemon's memory. At rest: its RSS (/proc/<pid>/status VmRSS) once an empty online run is
 * open and a second has passed. Peak: the largest VmRSS sampled every 20 ms while the client
 * logs N 10-scalar rows online and finishes (synced); the kernel's high-water mark (VmHWM) is
 * read at the end as a check of the sampling. The client is a probe process (memory-probe.ts)
 * against a `trackside server` child; the daemon is the one its init() spawned, found by its log
 * file in the probe's socket directory. Baseline, same run: the RSS of a bare
 * `node -e "setInterval(()=>{},1000)"`, Node's own floor.
 */
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { benchRoot, clientEnv, daemonPid, lines, procStatusMb, reapDaemons, startServerProcess, stop } from "./procs.js";
import { median, type Figure } from "./stats.js";

const probe = fileURLToPath(new URL("./memory-probe.js", import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function bareNodeRss(): Promise<number> {
  const child = spawn(process.execPath, ["-e", "setInterval(()=>{},1000)"], { stdio: "ignore" });
  await sleep(1000);
  const mb = procStatusMb(child.pid!, "VmRSS");
  await stop(child);
  return mb;
}

async function daemonMemory(n: number, root: string): Promise<{ rest: number; peak: number; hwm: number }> {
  const server = await startServerProcess(root);
  const { env, socketDir } = clientEnv(server, root);
  const child = spawn(process.execPath, [probe, String(n)], { env, stdio: ["pipe", "pipe", "inherit"] });
  try {
    const out = lines(child);
    const next = async (what: string) => {
      const l = await out.next();
      if (l.done) throw new Error(`memory probe exited before ${what}`);
      return l.value;
    };
    if ((await next("opening its run")) !== "opened") throw new Error("memory probe: unexpected output");
    const pid = await daemonPid(socketDir);
    await sleep(1000);
    const rest = procStatusMb(pid, "VmRSS");
    let peak = rest;
    const sampler = setInterval(() => {
      const mb = procStatusMb(pid, "VmRSS");
      if (mb > peak) peak = mb;
    }, 20);
    child.stdin!.write("go\n");
    const done = JSON.parse(await next("finishing")) as { synced: boolean };
    clearInterval(sampler);
    const hwm = procStatusMb(pid, "VmHWM");
    if (!done.synced) throw new Error("memory probe: finish() did not report synced");
    return { rest, peak, hwm };
  } finally {
    child.stdin!.end();
    await stop(child, "SIGTERM");
    await reapDaemons([socketDir]);
    await server.close();
  }
}

export async function benchDaemonRss(n: number, samples: number): Promise<Figure[]> {
  const root = benchRoot("rss");
  const rest: number[] = [];
  const peak: number[] = [];
  const hwm: number[] = [];
  const bare: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      bare.push(await bareNodeRss());
      const m = await daemonMemory(n, root);
      rest.push(m.rest);
      peak.push(m.peak);
      hwm.push(m.hwm);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const baseline = { baseline: median(bare), baselineName: 'a bare `node -e "setInterval(()=>{},1000)"`', unit: "MB", better: "lower" as const, samples, goal: "<= 100 MB" };
  return [
    { name: "daemon-rss at rest: an empty online run open", value: median(rest), ...baseline },
    {
      name: `daemon-rss peak while a client logs ${n.toLocaleString("en")} 10-scalar rows online (VmRSS every 20 ms; VmHWM ${median(hwm).toFixed(0)} MB)`,
      value: median(peak),
      ...baseline,
    },
  ];
}
