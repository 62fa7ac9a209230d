/**
 * A run's metadata as readable facts ("Host", "OS", "GPUs", ...) for `trackside runs show`; pure,
 * so the web app may use it too. Metadata is free-form: the daemon's probe
 * (daemon/metadata-probe.ts) plus `program` from the run record, so every field is optional and
 * one of an unexpected type is skipped rather than shown wrong. Older runs have only `program`
 * (host, nodeVersion, os, ...). The pieces both share are in protocol/metadata-format.ts.
 */
import type { JsonObject } from "../protocol/records.js";
import { formatCommand, formatMB, formatOs, joined, num, obj, str } from "../protocol/metadata-format.js";

/** A label and its text, in the order a person reads them. */
export type Fact = [label: string, value: string];

const text = (v: unknown): string | null => str(v) ?? (num(v) === null ? null : String(v));

function formatGit(git: JsonObject): string | null {
  const commit = str(git.commit);
  const where = joined([str(git.branch) ? `branch ${String(git.branch)}` : null, git.dirty === true ? "uncommitted changes" : null], ", ");
  return joined([commit, where ? `(${where})` : null]);
}

function formatCpu(cpu: JsonObject): string | null {
  const physical = num(cpu.physicalCores);
  const logical = num(cpu.logicalCores);
  const cores = physical !== null && logical !== null && physical !== logical ? `${physical} cores, ${logical} threads` : (physical ?? logical) !== null ? `${physical ?? logical} cores` : null;
  return joined([str(cpu.model), cores ? `(${cores})` : null]);
}

function formatDisk(disk: JsonObject): string | null {
  const total = num(disk.totalGB);
  const used = num(disk.usedGB);
  const size = total === null ? null : used === null ? `${total} GB` : `${used} GB used of ${total} GB`;
  return joined([size, str(disk.path) ? `(${String(disk.path)})` : null]);
}

/** One text per kind of GPU: "2 x NVIDIA H100 80GB HBM3, 79.6 GB, driver 550.54, CUDA 12.4". */
function formatGpus(gpus: unknown[]): string[] {
  const counts = new Map<string, number>();
  for (const g of gpus.map(obj)) {
    if (!g) continue;
    const memory = num(g.memoryMB);
    const one = joined([str(g.name), memory === null ? null : formatMB(memory), str(g.driver) && `driver ${String(g.driver)}`, str(g.cuda) && `CUDA ${String(g.cuda)}`], ", ");
    if (one) counts.set(one, (counts.get(one) ?? 0) + 1);
  }
  return [...counts].map(([one, n]) => (n > 1 ? `${n} x ${one}` : one));
}

/** "job_id=123, partition=gpu" from an object of SLURM settings; a string as it is. */
function formatPairs(v: unknown): string | null {
  const o = obj(v);
  if (!o) return text(v);
  return joined(Object.entries(o).map(([k, x]) => (text(x) === null ? null : `${k}=${text(x)}`)), ", ");
}

/**
 * The facts of a run's metadata that are present, in reading order.
 *
 * @example
 * metadataFacts({ host: "gpu-box-1", node: "v20.11.0", memory: { totalMB: 65536 } })
 * // [["Host", "gpu-box-1"], ["Node.js", "v20.11.0"], ["Memory", "64.0 GB"]]
 */
export function metadataFacts(meta: JsonObject): Fact[] {
  const program = obj(meta.program);
  const git = obj(meta.git);
  const cpu = obj(meta.cpu);
  const memory = obj(meta.memory);
  const disk = obj(meta.disk);
  const gpuList = Array.isArray(meta.gpus) ? meta.gpus : [];
  const gpus = formatGpus(gpuList);
  const facts: [string, string | null][] = [
    ["Host", str(meta.host) ?? str(program?.host)],
    ["User", str(meta.user)],
    ["OS", formatOs(meta.os) ?? str(program?.os)],
    ["Node.js", str(meta.node) ?? str(meta.nodeVersion) ?? str(program?.nodeVersion)],
    // W&B's Python SDK's runs (server/wandb/metadata.ts): "CPython 3.11.7".
    ["Python", str(meta.python)],
    ["Command", formatCommand(program)],
    ["Working dir", str(program?.cwd)],
    ["Git remote", git ? str(git.remote) : null],
    ["Git commit", git ? formatGit(git) : null],
    ["CPU", cpu ? formatCpu(cpu) : null],
    ["Memory", memory && num(memory.totalMB) !== null ? formatMB(memory.totalMB as number) : null],
    ["Disk", disk ? formatDisk(disk) : null],
    ...gpus.map((g): [string, string] => [gpuList.length > 1 ? "GPUs" : "GPU", g]),
    ["CUDA devices", str(meta.cudaVisibleDevices)],
    ["Container", str(meta.container)],
    ["SLURM", formatPairs(meta.slurm)],
    ["CI", str(meta.ci)],
    ["trackside", str(meta.tracksideVersion) ?? str(program?.tracksideVersion)],
  ];
  return facts.filter((f): f is Fact => f[1] !== null);
}
