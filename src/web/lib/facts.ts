/**
 * The environment facts of a run's metadata, in reading order: the daemon's probe (host, OS,
 * CPU, GPUs...) where it sent one, else the run record's `program`, which every run has. Every
 * field is optional; one of an unexpected type is skipped rather than shown wrong.
 */
import { formatCommand, formatMB, formatOs, joined, num, obj, str, type Obj } from "../../protocol/metadata-format";

/** CPU, memory and GPUs in one line: "AMD EPYC (16 cores), 64.0 GB, 1 x NVIDIA H100". */
function hardware(meta: Obj): string | null {
  const cpu = obj(meta.cpu);
  const cores = cpu ? (num(cpu.physicalCores) ?? num(cpu.logicalCores)) : null;
  const cpuText = cpu ? joined([str(cpu.model), cores !== null ? `(${cores} cores)` : null]) : null;
  const memory = obj(meta.memory);
  const memText = memory && num(memory.totalMB) !== null ? `${formatMB(memory.totalMB as number)} memory` : null;
  const gpus = Array.isArray(meta.gpus) ? meta.gpus.map(obj).filter((g): g is Obj => g !== null) : [];
  const gpuText = gpus.length ? `${gpus.length} x ${str(gpus[0].name) ?? "GPU"}${num(gpus[0].memoryMB) !== null ? ` (${formatMB(gpus[0].memoryMB as number)})` : ""}` : null;
  return joined([cpuText, memText, gpuText], ", ");
}

export interface RunFacts {
  host: string | null;
  os: string | null;
  node: string | null;
  command: string | null;
  /** The program that ran the script (node, bun, ...), as a path. */
  executable: string | null;
  hardware: string | null;
  trackside: string | null;
  git: string | null;
  gitBranch: string | null;
  gitRemote: string | null;
  gitCommit: string | null;
  /** Whether the working tree had uncommitted changes when the run started; null: unknown. */
  gitDirty: boolean | null;
}

export function runFacts(meta: Obj): RunFacts {
  const program = obj(meta.program);
  const git = obj(meta.git);
  return {
    host: str(meta.host) ?? str(program?.host),
    os: formatOs(meta.os) ?? str(program?.os),
    node: str(meta.node) ?? str(meta.nodeVersion) ?? str(program?.nodeVersion),
    command: formatCommand(program),
    executable: str(program?.executable),
    hardware: hardware(meta),
    trackside: str(meta.tracksideVersion) ?? str(program?.tracksideVersion),
    git: git ? joined([str(git.remote), str(git.commit)]) : null,
    gitBranch: git ? str(git.branch) : null,
    gitRemote: git ? str(git.remote) : null,
    gitCommit: git ? str(git.commit) : null,
    gitDirty: git && typeof git.dirty === "boolean" ? git.dirty : null,
  };
}
