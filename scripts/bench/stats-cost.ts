/**
 * What system sampling costs: CPU time (this process and the children it spawns, e.g. `df`) per
 * sample of the daemon's SystemMonitor, as a share of one core at the default 10 s interval.
 * Baseline, same run: one read of /proc/self/stat, the floor of any sample.
 */
import { readFileSync } from "node:fs";
import pino from "pino";
import { SystemMonitor } from "../../src/daemon/system-monitor.js";
import { median, type Figure } from "./stats.js";

const TICK_MS = 1000 / 100; // USER_HZ is 100 on Linux

/** CPU ms used so far by this process and its reaped children. */
function cpuMs(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields 14-17 (utime, stime, cutime, cstime) are 12-15 after the name
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * TICK_MS;
}

export async function benchStatsCost(samples: number): Promise<Figure[]> {
  const monitor = new SystemMonitor(process.pid, process.cwd(), 10_000, () => {}, pino({ level: "silent" }));
  const read = (monitor as unknown as { read(): Promise<Record<string, number>> }).read.bind(monitor);
  await read(); // the first call loads and primes systeminformation
  const perSample: number[] = [];
  const floor: number[] = [];
  for (let i = 0; i < samples; i++) {
    let t0 = cpuMs();
    for (let k = 0; k < 5; k++) await read();
    perSample.push((cpuMs() - t0) / 5);
    t0 = cpuMs();
    for (let k = 0; k < 500; k++) readFileSync("/proc/self/stat");
    floor.push((cpuMs() - t0) / 500);
  }
  const share = (ms: number): number => (100 * ms) / 10_000;
  return [
    {
      name: "system sampling at the default 10 s interval, share of one core",
      value: share(median(perSample)),
      baseline: Math.max(share(median(floor)), 1e-6),
      baselineName: "reading /proc/self/stat once per interval",
      unit: "%",
      better: "lower",
      samples,
      goal: "< 1 %",
    },
  ];
}
