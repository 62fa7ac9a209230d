/**
 * The environment facts of a run's metadata, in reading order: the daemon's probe (host, OS,
 * CPU, GPUs...) where it sent one, else the run record's `program`, which every run has. Every
 * field is optional; one of an unexpected type is skipped rather than shown wrong.
 */
type Obj = Record<string, unknown>;

const obj = (v: unknown): Obj | null => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : null);
const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);
const n = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const join = (parts: (string | null)[], sep = " "): string | null => parts.filter((p) => p !== null).join(sep) || null;
const mb = (x: number) => (x >= 1024 ? `${(x / 1024).toFixed(1)} GB` : `${Math.round(x)} MB`);

/** A shell-like command line: arguments with spaces or quotes get quoted. */
export function formatCommand(program: Obj | null): string | null {
  if (!program || typeof program.executable !== "string") return null;
  const args = Array.isArray(program.args) ? program.args.map(String) : [];
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return [program.executable, ...args].map(quote).join(" ");
}

function os(v: unknown): string | null {
  const o = obj(v);
  if (!o) return str(v);
  const detail = join([str(o.distro), str(o.arch)], ", ");
  return join([str(o.platform), str(o.release), detail ? `(${detail})` : null]);
}

/** CPU, memory and GPUs in one line: "AMD EPYC (16 cores), 64.0 GB, 1 x NVIDIA H100". */
function hardware(meta: Obj): string | null {
  const cpu = obj(meta.cpu);
  const cores = cpu ? (n(cpu.physicalCores) ?? n(cpu.logicalCores)) : null;
  const cpuText = cpu ? join([str(cpu.model), cores !== null ? `(${cores} cores)` : null]) : null;
  const memory = obj(meta.memory);
  const memText = memory && n(memory.totalMB) !== null ? `${mb(memory.totalMB as number)} memory` : null;
  const gpus = Array.isArray(meta.gpus) ? meta.gpus.map(obj).filter((g): g is Obj => g !== null) : [];
  const gpuText = gpus.length ? `${gpus.length} x ${str(gpus[0].name) ?? "GPU"}${n(gpus[0].memoryMB) !== null ? ` (${mb(gpus[0].memoryMB as number)})` : ""}` : null;
  return join([cpuText, memText, gpuText], ", ");
}

export interface RunFacts {
  host: string | null;
  os: string | null;
  node: string | null;
  command: string | null;
  hardware: string | null;
  trackside: string | null;
  git: string | null;
}

export function runFacts(meta: Obj): RunFacts {
  const program = obj(meta.program);
  const git = obj(meta.git);
  return {
    host: str(meta.host) ?? str(program?.host),
    os: os(meta.os) ?? str(program?.os),
    node: str(meta.node) ?? str(meta.nodeVersion) ?? str(program?.nodeVersion),
    command: formatCommand(program),
    hardware: hardware(meta),
    trackside: str(meta.tracksideVersion) ?? str(program?.tracksideVersion),
    git: git ? join([str(git.remote), str(git.commit)]) : null,
  };
}
