/**
 * NVIDIA GPUs through nvidia-smi, the one tool every NVIDIA driver ships. Its CSV query output is
 * stable across driver versions; absent nvidia-smi (no NVIDIA GPU) means no GPU keys at all.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";

/** Whether nvidia-smi is on PATH: looked up once, so that machines without it spawn nothing. */
let present: boolean | null = null;
function hasNvidiaSmi(): boolean {
  present ??= (process.env.PATH ?? "").split(delimiter).some((dir) => dir && existsSync(join(dir, "nvidia-smi")));
  return present;
}

function run(args: string[]): Promise<string | null> {
  if (!hasNvidiaSmi()) return Promise.resolve(null);
  return new Promise((resolve) => {
    execFile("nvidia-smi", args, { timeout: 5000 }, (err, stdout) => resolve(err ? null : stdout));
  });
}

const num = (s: string | undefined): number | null => {
  const v = Number(s?.trim());
  return s !== undefined && s.trim() !== "" && Number.isFinite(v) ? v : null;
};

export interface GpuInfo {
  index: number;
  name: string;
  memoryMB: number | null;
  driver: string | null;
  cuda: string | null;
}

/** Static facts about each GPU, or [] without nvidia-smi. */
export async function gpuInfo(): Promise<GpuInfo[]> {
  const [csv, banner] = await Promise.all([run(["--query-gpu=index,name,memory.total,driver_version", "--format=csv,noheader,nounits"]), run([])]);
  if (!csv) return [];
  const cuda = banner ? (/CUDA Version:\s*([\d.]+)/.exec(banner)?.[1] ?? null) : null;
  return csv
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [index, name, mem, driver] = line.split(",").map((s) => s.trim());
      return { index: Number(index), name, memoryMB: num(mem), driver: driver || null, cuda };
    });
}

/** One sample per GPU: `gpu.<i>.gpu` (utilisation %), `.memory` (%), `.memoryMB`, `.temp` (°C), `.powerWatts`. */
export async function gpuSample(): Promise<Record<string, number>> {
  const csv = await run(["--query-gpu=index,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw", "--format=csv,noheader,nounits"]);
  const out: Record<string, number> = {};
  if (!csv) return out;
  for (const line of csv.trim().split("\n").filter(Boolean)) {
    const [index, util, used, total, temp, power] = line.split(",").map((s) => s.trim());
    const put = (key: string, v: number | null): void => {
      if (v !== null) out[`gpu.${index}.${key}`] = v;
    };
    const usedMB = num(used);
    const totalMB = num(total);
    put("gpu", num(util));
    put("memoryMB", usedMB);
    put("memory", usedMB !== null && totalMB ? (100 * usedMB) / totalMB : null);
    put("temp", num(temp));
    put("powerWatts", num(power));
  }
  return out;
}
