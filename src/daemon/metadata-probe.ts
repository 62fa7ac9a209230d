/**
 * Where a run runs: probed by the daemon once the run is open, so that init() never waits for it.
 * Every part is best effort: a probe that fails leaves its field null, never the run.
 *
 * It reads what Node and the kernel already know (os, /etc/os-release, /proc/cpuinfo, statfs)
 * rather than calling systeminformation, whose first calls cost hundreds of ms of CPU and
 * spawn `df`: measured, that slowed the init() and finish() of short runs on 2 cores.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync, statfsSync } from "node:fs";
import { arch, cpus, hostname, platform, release, totalmem, userInfo } from "node:os";
import type { JsonObject, RunInfo } from "../protocol/index.js";
import { gpuInfo } from "./gpu.js";

function distro(): string | null {
  try {
    const text = readFileSync("/etc/os-release", "utf8");
    return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(text)?.[1] ?? null;
  } catch {
    return null;
  }
}

function cpuInfo(): JsonObject | null {
  const list = cpus();
  if (list.length === 0) return null;
  let physical: number | null = null;
  try {
    // Physical cores: distinct (physical id, core id) pairs; Linux only.
    const pairs = new Set<string>();
    for (const block of readFileSync("/proc/cpuinfo", "utf8").split("\n\n")) {
      const phys = /^physical id\s*:\s*(\d+)/m.exec(block)?.[1];
      const core = /^core id\s*:\s*(\d+)/m.exec(block)?.[1];
      if (phys !== undefined && core !== undefined) pairs.add(`${phys}:${core}`);
    }
    physical = pairs.size || null;
  } catch {
    // not Linux
  }
  return { model: list[0].model.trim(), physicalCores: physical ?? list.length, logicalCores: list.length };
}

function diskOf(path: string): JsonObject | null {
  try {
    const s = statfsSync(path);
    const total = s.blocks * s.bsize;
    return { path, totalGB: +(total / 1e9).toFixed(1), usedGB: +((total - s.bfree * s.bsize) / 1e9).toFixed(1) };
  } catch {
    return null;
  }
}

function git(cwd: string, args: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile("git", args, { cwd, timeout: 3000 }, (err, stdout) => resolve(err ? null : stdout.trim()));
  });
}

/**
 * Commit, branch and dirtiness from one `git status` (porcelain v2 prints `# branch.oid` and
 * `# branch.head` before the changed entries), the remote from a second: two processes per run
 * instead of four. Spawning is the costly part for a daemon that many runs share (measured: about
 * 2.5 ms of the daemon's own CPU per spawn, and ~3 ms in git itself).
 */
async function gitInfo(cwd: string): Promise<JsonObject | null> {
  const [status, remote] = await Promise.all([
    git(cwd, ["status", "--porcelain=v2", "--branch", "--untracked-files=no"]),
    git(cwd, ["remote", "get-url", "origin"]),
  ]);
  if (status === null) return null;
  const lines = status.split("\n");
  const header = (name: string): string | null => lines.find((l) => l.startsWith(`# branch.${name} `))?.slice(`# branch.${name} `.length) ?? null;
  const commit = header("oid");
  if (!commit || commit === "(initial)") return null; // no commit yet
  const head = header("head");
  return { commit, branch: head === "(detached)" ? "HEAD" : head, remote, dirty: lines.some((l) => l !== "" && !l.startsWith("#")) };
}

function containerKind(): string | null {
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

/**
 * One call of `probe` for every caller with the same key while it runs: runs that open together
 * in one directory share one git status (and one nvidia-smi), which they would each get the same
 * answer from. Measured, git cost the shared daemon ~8 ms of CPU per run, and git itself ~6 ms.
 */
const inFlight = new Map<string, Promise<unknown>>();
function shared<T>(key: string, probe: () => Promise<T>): Promise<T> {
  let p = inFlight.get(key) as Promise<T> | undefined;
  if (!p) {
    p = probe().finally(() => inFlight.delete(key));
    inFlight.set(key, p);
  }
  return p;
}

/**
 * What does not change while the daemon lives, read once: /proc/cpuinfo alone is ~100 KB to
 * parse on a 64-core machine, and a shared daemon probes every run it serves.
 */
let machine: { os: JsonObject; cpu: JsonObject | null; container: string | null } | null = null;
function machineFacts(): NonNullable<typeof machine> {
  machine ??= { os: { platform: platform(), release: release(), distro: distro(), arch: arch() }, cpu: cpuInfo(), container: containerKind() };
  return machine;
}

/** The run's metadata: the overview fields of DESIGN.md. */
export async function probeMetadata(program: RunInfo["program"], env: Record<string, string>): Promise<JsonObject> {
  const [gpus, gitMeta] = await Promise.all([safe(shared("gpu", gpuInfo)), safe(shared(`git:${program.cwd}`, () => gitInfo(program.cwd)))]);
  const { os, cpu, container } = machineFacts();
  return {
    host: program.host || hostname(),
    os,
    node: program.nodeVersion,
    program: { executable: program.executable, args: program.args, cwd: program.cwd },
    git: gitMeta,
    cpu,
    memory: { totalMB: Math.round(totalmem() / 2 ** 20) },
    disk: diskOf(program.cwd),
    gpus: gpus ?? [],
    gpuCount: gpus?.length ?? 0,
    container,
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
