import { cpus } from "node:os";
import { describe, expect, it } from "vitest";
import { SystemMonitor, cpuLoad } from "../../src/daemon/system-monitor.js";

const times = (user: number, idle: number) => ({ user, nice: 0, sys: 0, idle, irq: 0 });
const quiet = { warn() {}, info() {}, debug() {}, child: () => quiet } as unknown as ConstructorParameters<typeof SystemMonitor>[4];

describe("system monitor", () => {
  it("computes each core's busy share and the machine's between two counter readings", () => {
    const load = cpuLoad([times(100, 900), times(0, 1000)], [times(400, 1600), times(0, 2000)]);
    expect(load!.cores).toEqual([30, 0]); // core 0: 300 busy of 1000; core 1: idle
    expect(load!.all).toBeCloseTo(15); // 300 of 2000
    expect(cpuLoad([times(1, 1)], [times(1, 1)])).toBeNull(); // no time passed: no figure
  });

  it("gives every run's monitor in one daemon its own samples of the machine, with every core", { timeout: 20_000 }, async () => {
    const samples: Array<Array<Record<string, number>>> = [[], []];
    const done = samples.map(
      (list, i) =>
        new Promise<void>((resolve) => {
          const m = new SystemMonitor(process.pid, process.cwd(), 300, (_at, v) => {
            list.push(v);
            if (list.length === 2) {
              m.close();
              resolve();
            }
          }, quiet);
          setTimeout(() => m.start(), i * 50);
        }),
    );
    await Promise.all(done);
    for (const list of samples) {
      for (const v of list) {
        expect(v["system/cpu"]).toBeGreaterThanOrEqual(0);
        expect(v["system/cpu"]).toBeLessThanOrEqual(100);
        for (let c = 0; c < cpus().length; c++) expect(v[`system/cpu.${c}.percent`]).toBeGreaterThanOrEqual(0);
        expect(v["system/memory.percent"]).toBeGreaterThan(0);
        expect(v["system/proc.count"]).toBeGreaterThanOrEqual(1);
      }
    }
  });
});
