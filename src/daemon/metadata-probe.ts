/**
 * Where a run runs: probed by the daemon once the run is open, so that init() never waits for it.
 * Every part is best effort: a probe that fails leaves its field null, never the run.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { hostname, totalmem, userInfo } from "node:os";
import si from "systeminformation";
import type { JsonObject, RunInfo } from "../protocol/index.js";
import { gpuInfo } from "./gpu.js";

function git(cwd: string, args: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile("git", args, { cwd, timeout: 3000 }, (err, stdout) => resolve(err ? null : stdout.trim()));
  });
}

async function gitInfo(cwd: string): Promise<JsonObject | null> {
  const commit = await git(cwd, ["rev-parse", "HEAD"]);
  if (!commit) return null;
  const [branch, remote, status] = await Promise.all([
    git(cwd, ["rev-parse", "--abbrev-ref", "HEAD"]),
    git(cwd, ["remote", "get-url", "origin"]),
    git(cwd, ["status", "--porcelain", "--untracked-files=no"]),
  ]);
  return { commit, branch, remote, dirty: status === null ? null : status.length > 0 };
}

function container(): string | null {
  if (existsSync("/.dockerenv")) return "docker";
  if (existsSync("/run/.containerenv")) return "podman";
  if (process.env.KUBERNETES_SERVICE_HOST) return "kubernetes";
  try {
    const cgroup = readFileSync("/proc/1/cgroup", "utf8");
    if (/kubepods/.test(cgroup)) return "kubernetes";
    if (/docker|containerd/.test(cgroup)) return "docker";
  } catch {
    // not Linux, or no access: no hint
  }
  return null;
}

function ciName(env: Record<string, string>): string | null {
  if (env.GITHUB_ACTIONS) return "github-actions";
  if (env.GITLAB_CI) return "gitlab";
  if (env.BUILDKITE) return "buildkite";
  if (env.JENKINS_URL) return "jenkins";
  return env.CI ? "ci" : null;
}

function slurm(env: Record<string, string>): JsonObject | null {
  const entries = Object.entries(env).filter(([k]) => k.startsWith("SLURM_"));
  return entries.length ? Object.fromEntries(entries.map(([k, v]) => [k.slice(6).toLowerCase(), v])) : null;
}

async function safe<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch {
    return null;
  }
}

/** The run's metadata: the overview fields of DESIGN.md. */
export async function probeMetadata(program: RunInfo["program"], env: Record<string, string>): Promise<JsonObject> {
  const [os, cpu, disks, gpus, gitMeta] = await Promise.all([safe(si.osInfo()), safe(si.cpu()), safe(si.fsSize()), safe(gpuInfo()), safe(gitInfo(program.cwd))]);
  const disk = disks
    ?.filter((d) => program.cwd.startsWith(d.mount))
    .sort((a, b) => b.mount.length - a.mount.length)[0];
  return {
    host: program.host || hostname(),
    os: { platform: os?.platform ?? process.platform, release: os?.kernel ?? null, distro: os ? `${os.distro} ${os.release}`.trim() : null, arch: os?.arch ?? process.arch },
    node: program.nodeVersion,
    program: { executable: program.executable, args: program.args, cwd: program.cwd },
    git: gitMeta,
    cpu: cpu ? { model: `${cpu.manufacturer} ${cpu.brand}`.trim(), physicalCores: cpu.physicalCores, logicalCores: cpu.cores } : null,
    memory: { totalMB: Math.round(totalmem() / 2 ** 20) },
    disk: disk ? { path: disk.mount, totalGB: +(disk.size / 1e9).toFixed(1), usedGB: +(disk.used / 1e9).toFixed(1) } : null,
    gpus: gpus ?? [],
    gpuCount: gpus?.length ?? 0,
    container: container(),
    slurm: slurm(env),
    ci: ciName(env),
    cudaVisibleDevices: env.CUDA_VISIBLE_DEVICES ?? null,
    user: safeUser(),
    tracksideVersion: program.tracksideVersion,
  };
}

function safeUser(): string | null {
  try {
    return userInfo().username;
  } catch {
    return null;
  }
}
