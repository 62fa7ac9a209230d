/**
 * System metrics for one run, sampled by the daemon every `intervalMs` (default 10 s): the run's
 * process tree (pidusage), the machine's CPU (os.cpus()), memory, disk and network
 * (systeminformation), and NVIDIA GPUs (nvidia-smi). The machine-wide readings are shared by the
 * runs of the daemon that sample within a second of each other. Counters (disk and network
 * bytes) are reported since the run's first sample, CPU load over its own interval. Keys follow
 * W&B's names under `system/`.
 */
import { readFileSync, readdirSync, statfsSync } from "node:fs";
import { cpus, networkInterfaces } from "node:os";
import type Pidusage from "pidusage";
import type Si from "systeminformation";
import type { Logger } from "pino";
import { gpuSample } from "./gpu.js";

const MB = 2 ** 20;

/**
 * systeminformation (~600 KB) and pidusage load at a run's first sample, a second or more after
 * it opened, so that a daemon whose runs are all shorter than that never loads them.
 */
let libs: Promise<{ si: typeof Si; pidusage: typeof Pidusage }> | null = null;
function sampling(): Promise<{ si: typeof Si; pidusage: typeof Pidusage }> {
  libs ??= Promise.all([import("systeminformation"), import("pidusage")]).then(
    ([si, pidusage]) => ({ si: si.default, pidusage: pidusage.default }),
    (err: unknown) => {
      libs = null; // tried again at the next sample (EMFILE, a package replaced under a running daemon)
      throw err;
    },
  );
  return libs;
}

/** Parent pid -> child pids, from one pass over /proc (Linux; no `ps` spawned every sample). */
function childrenByParent(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  if (process.platform !== "linux") return children;
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
  return children;
}

/** The pid and its descendants. */
function processTree(root: number, children: Map<number, number[]>): number[] {
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

type CpuTimes = ReturnType<typeof cpus>[number]["times"];

/** What every run's sample shares: the machine's counters and levels at one moment. */
interface MachineReading {
  cpus: CpuTimes[];
  children: Map<number, number[]>;
  memory: { total: number; available: number };
  diskBytes: { read: number; write: number } | null;
  netBytes: { rx: number; tx: number };
  gpu: Record<string, number>;
}

/**
 * Readings taken less than this apart are one: the runs of a shared daemon sample at about the
 * same moments, and each took the same machine-wide figures (and spawned the same commands)
 * for itself before.
 */
const SHARE_MS = 1000;
let lastReading: { at: number; reading: Promise<MachineReading> } | null = null;

/** A recent reading, or a new one; never `previous` (the caller's last: its deltas need two). */
function machineReading(previous: Promise<MachineReading> | null): Promise<MachineReading> {
  if (lastReading && lastReading.reading !== previous && Date.now() - lastReading.at < SHARE_MS) return lastReading.reading;
  const reading = readMachine();
  lastReading = { at: Date.now(), reading };
  return reading;
}

async function readMachine(): Promise<MachineReading> {
  const { si } = await sampling();
  const ifaces = externalInterfaces();
  const [mem, fs, net, gpu] = await Promise.all([
    si.mem(),
    si.fsStats().catch(() => null),
    ifaces.length > 0 ? si.networkStats(ifaces.join(",")).catch(() => []) : [],
    // Without nvidia-smi on PATH this spawns nothing (gpu.ts); with it, one call per reading.
    gpuSample(),
  ]);
  return {
    // The CPU load from the kernel's per-core counters (os.cpus()), not systeminformation's
    // currentLoad(), which runs `cat /proc/stat` with execSync at every call: the event loop
    // of the shared daemon stood still for it, once per run per sample.
    cpus: cpus().map((c) => c.times),
    children: childrenByParent(),
    memory: { total: mem.total, available: mem.available },
    diskBytes: fs ? { read: fs.rx, write: fs.wx } : null,
    netBytes: { rx: net.reduce((a, n) => a + n.rx_bytes, 0), tx: net.reduce((a, n) => a + n.tx_bytes, 0) },
    gpu,
  };
}

/** A share as a percentage in [0, 100] (a tickless kernel's idle counter can step back a little). */
const percent = (share: number): number => Math.min(100, Math.max(0, 100 * share));

/**
 * Busy share (%) of each core and of all of them between two readings of os.cpus(). On Linux
 * these counters (user, nice, sys, irq, idle) leave out iowait, softirq and steal time: the load
 * is the busy share of the time they count.
 */
export function cpuLoad(before: CpuTimes[], after: CpuTimes[]): { all: number; cores: number[] } | null {
  let busy = 0;
  let total = 0;
  const cores: number[] = [];
  for (let i = 0; i < after.length && i < before.length; i++) {
    const a = after[i];
    const b = before[i];
    const idle = a.idle - b.idle;
    const sum = a.user - b.user + (a.nice - b.nice) + (a.sys - b.sys) + (a.irq - b.irq) + idle;
    cores.push(sum > 0 ? percent((sum - idle) / sum) : 0);
    busy += sum - idle;
    total += sum;
  }
  return total > 0 ? { all: percent(busy / total), cores } : null;
}

export class SystemMonitor {
  private timer: NodeJS.Timeout | null = null;
  private primer: NodeJS.Timeout | null = null;
  /** Disk and network byte counters at this run's first sample: what it reports is since then. */
  private base: { diskRead: number; diskWrite: number; netRx: number; netTx: number } | null = null;
  /** The CPU counters of this run's previous sample: its load is over its own interval. */
  private lastCpus: CpuTimes[] | null = null;
  private lastReading: Promise<MachineReading> | null = null;
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
    if (--SystemMonitor.running === 0) {
      libs
        ?.then(({ pidusage }) => {
          if (SystemMonitor.running === 0) pidusage.clear(); // none started meanwhile
        })
        .catch(() => {}); // not loaded: nothing to clear
    }
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
    this.lastReading = machineReading(this.lastReading);
    const m = await this.lastReading;
    const pids = processTree(this.pid, m.children);
    const { pidusage } = await sampling();
    const usage = await pidusage(pids).catch(() => ({}) as Record<string, Pidusage.Status>);
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
    const load = this.lastCpus ? cpuLoad(this.lastCpus, m.cpus) : null;
    this.lastCpus = m.cpus;
    if (load) {
      v["system/cpu"] = load.all;
      load.cores.forEach((c, i) => (v[`system/cpu.${i}.percent`] = c));
    }
    v["system/memory.percent"] = (100 * (m.memory.total - m.memory.available)) / m.memory.total;
    v["system/memory.availableMB"] = m.memory.available / MB;
    const disk = diskUse(this.cwd);
    if (disk !== null) v["system/disk.percent"] = disk;
    const counters = { diskRead: m.diskBytes?.read ?? 0, diskWrite: m.diskBytes?.write ?? 0, netRx: m.netBytes.rx, netTx: m.netBytes.tx };
    this.base ??= counters;
    v["system/disk.readMB"] = (counters.diskRead - this.base.diskRead) / MB;
    v["system/disk.writeMB"] = (counters.diskWrite - this.base.diskWrite) / MB;
    v["system/network.recvMB"] = (counters.netRx - this.base.netRx) / MB;
    v["system/network.sentMB"] = (counters.netTx - this.base.netTx) / MB;
    for (const [k, x] of Object.entries(m.gpu)) v[`system/${k}`] = x;
    return v;
  }
}
