/**
 * System metrics for one run, sampled by the daemon every `intervalMs` (default 10 s): the run's
 * process tree (pidusage), the machine's CPU, memory, disk and network (systeminformation), and
 * NVIDIA GPUs (nvidia-smi). Counters (disk and network bytes) are reported since the first
 * sample. Keys follow W&B's names under `system/`.
 */
import { readFileSync, readdirSync, statfsSync } from "node:fs";
import { networkInterfaces } from "node:os";
import pidusage from "pidusage";
import si from "systeminformation";
import type { Logger } from "pino";
import { gpuSample } from "./gpu.js";

const MB = 2 ** 20;

/** The pid and its descendants. Linux: one pass over /proc (no `ps` spawned every sample). */
export function processTree(root: number): number[] {
  if (process.platform !== "linux") return [root];
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Field 4 (ppid) follows the command name, which sits in parentheses and may contain spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // the process ended while we looked
    }
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]) ?? []));
  return out;
}

/**
 * The interfaces with an address that is not loopback, by name. systeminformation's
 * networkStats("*") lists interfaces with a synchronous shell command per interface: measured,
 * ~36 ms of the shared daemon's event loop blocked at every sample of every run. Named ones
 * are read without that (11 ms of CPU at the first call, under 1 ms after).
 */
function externalInterfaces(): string[] {
  return Object.entries(networkInterfaces())
    .filter(([, addrs]) => addrs?.some((a) => !a.internal))
    .map(([name]) => name);
}

/** Used share of the file system holding `path`, as df shows it (statfs: no process spawned). */
function diskUse(path: string): number | null {
  try {
    const s = statfsSync(path);
    const used = s.blocks - s.bfree;
    return (100 * used) / (used + s.bavail);
  } catch {
    return null;
  }
}

export class SystemMonitor {
  private timer: NodeJS.Timeout | null = null;
  private primer: NodeJS.Timeout | null = null;
  private base: { diskRead: number; diskWrite: number; netRx: number; netTx: number } | null = null;
  private hasGpu: boolean | null = null;
  private sampling = false;

  constructor(
    private readonly pid: number,
    private readonly cwd: string,
    private readonly intervalMs: number,
    private readonly onSample: (at: number, values: Record<string, number>) => void,
    private readonly log: Logger,
  ) {}

  /** Monitors started and not yet closed in this daemon. */
  private static running = 0;
  private stopped = false;

  start(): void {
    SystemMonitor.running++;
    // Prime the CPU counters (they measure between two readings) a moment after the run opens,
    // not while its init() and first batches are under way.
    this.primer = setTimeout(() => void this.sample(true), Math.min(1000, this.intervalMs / 2));
    this.timer = setInterval(() => void this.sample(false), this.intervalMs);
  }

  close(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.primer) clearTimeout(this.primer);
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    // pidusage keeps one history for the whole process: clear it (and its timer) only when no
    // other run's monitor still samples, or their next CPU figures would lose their baseline.
    if (--SystemMonitor.running === 0) pidusage.clear();
  }

  private async sample(prime: boolean): Promise<void> {
    if (this.sampling) return; // a slow sample is skipped, never stacked
    this.sampling = true;
    try {
      const values = await this.read();
      if (!prime && this.timer) this.onSample(Date.now(), values);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "system sample failed");
    } finally {
      this.sampling = false;
    }
  }

  private async read(): Promise<Record<string, number>> {
    const v: Record<string, number> = {};
    const pids = processTree(this.pid);
    const ifaces = externalInterfaces();
    const [usage, load, mem, fs, net] = await Promise.all([
      pidusage(pids).catch(() => ({}) as Record<string, pidusage.Status>),
      si.currentLoad(),
      si.mem(),
      si.fsStats().catch(() => null),
      ifaces.length > 0 ? si.networkStats(ifaces.join(",")).catch(() => []) : [],
    ]);
    let cpu = 0;
    let rss = 0;
    for (const s of Object.values(usage)) {
      if (!s) continue;
      cpu += s.cpu;
      rss += s.memory;
    }
    v["system/proc.cpu.percent"] = cpu;
    v["system/proc.memory.rssMB"] = rss / MB;
    v["system/proc.count"] = pids.length;
    v["system/cpu"] = load.currentLoad;
    load.cpus.forEach((c, i) => (v[`system/cpu.${i}.percent`] = c.load));
    v["system/memory.percent"] = (100 * (mem.total - mem.available)) / mem.total;
    v["system/memory.availableMB"] = mem.available / MB;
    const disk = diskUse(this.cwd);
    if (disk !== null) v["system/disk.percent"] = disk;
    const counters = {
      diskRead: fs?.rx ?? 0,
      diskWrite: fs?.wx ?? 0,
      netRx: net.reduce((a, n) => a + n.rx_bytes, 0),
      netTx: net.reduce((a, n) => a + n.tx_bytes, 0),
    };
    this.base ??= counters;
    v["system/disk.readMB"] = (counters.diskRead - this.base.diskRead) / MB;
    v["system/disk.writeMB"] = (counters.diskWrite - this.base.diskWrite) / MB;
    v["system/network.recvMB"] = (counters.netRx - this.base.netRx) / MB;
    v["system/network.sentMB"] = (counters.netTx - this.base.netTx) / MB;
    if (this.hasGpu !== false) {
      const gpu = await gpuSample();
      this.hasGpu = Object.keys(gpu).length > 0;
      for (const [k, x] of Object.entries(gpu)) v[`system/${k}`] = x;
    }
    return v;
  }
}
