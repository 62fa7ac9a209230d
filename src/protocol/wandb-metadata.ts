/**
 * W&B's environment metadata (`wandb-metadata.json`, and the same facts in the config's
 * `_wandb.e.<writer>`) as trackside's run metadata, in the fields its overview shows
 * (cli/metadata-facts.ts): host, OS, command, git, CPU, memory, GPUs. What has no trackside field
 * (the Python version, W&B's own keys) is kept beside them, under `python` and `wandb`.
 *
 * Shared by the server's W&B routes (the JSON file a client uploads) and `trackside import wandb`
 * (the same facts in the `.wandb` file's environment record, protobuf's field names), so that a
 * run's overview reads the same whichever way it came (wandb-mapping.ts).
 */
import type { JsonObject } from "./records.js";

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
/** A number, or a uint64 that protobuf's JSON writes as a string. */
const num = (v: unknown): number | undefined => {
  const n = typeof v === "string" && /^\d+(\.\d+)?$/.test(v) ? Number(v) : v;
  return typeof n === "number" && Number.isFinite(n) ? n : undefined;
};
/** The first of a field's spellings that is there (snake_case in files, camelCase in protobuf's JSON). */
const pick = (o: JsonObject, ...names: string[]): unknown => names.map((n) => o[n]).find((v) => v !== undefined);
const MB = 1024 * 1024;

/** Drops the fields left undefined, so that the metadata holds only what W&B reported. */
function defined(o: JsonObject): JsonObject {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/**
 * trackside metadata from W&B's environment facts.
 *
 * @example
 * wandbMetadata({ host: "box", python: "CPython 3.11.2", program: "train.py", args: ["--lr", "1"] })
 * // { host: "box", python: "CPython 3.11.2", program: { executable: "train.py", args: ["--lr", "1"] } }
 */
export function wandbMetadata(env: JsonObject): JsonObject {
  const git = isObject(env.git) ? env.git : null;
  const memory = isObject(env.memory) ? num(env.memory.total) : undefined;
  const disks = isObject(env.disk) ? env.disk : null;
  const root = disks && isObject(disks["/"]) ? disks["/"] : null;
  const gpus = pick(env, "gpu_nvidia", "gpuNvidia");
  const program = str(pick(env, "codePath", "code_path", "program"));
  return defined({
    host: str(env.host),
    user: str(env.username),
    os: str(env.os),
    python: str(env.python),
    program: program ? { executable: program, args: Array.isArray(env.args) ? env.args.map(String) : [], cwd: str(env.root) ?? "" } : undefined,
    git: git ? defined({ remote: str(pick(git, "remote", "remoteUrl", "remote_url")), commit: str(git.commit) }) : undefined,
    cpu: defined({ physicalCores: num(pick(env, "cpu_count", "cpuCount")), logicalCores: num(pick(env, "cpu_count_logical", "cpuCountLogical")) }),
    memory: memory === undefined ? undefined : { totalMB: Math.round(memory / MB) },
    disk: root ? defined({ path: "/", totalGB: gb(root.total), usedGB: gb(root.used) }) : undefined,
    gpus: Array.isArray(gpus)
      ? gpus.filter(isObject).map((g) => defined({ name: str(g.name), memoryMB: num(pick(g, "memory_total", "memoryTotal")) === undefined ? undefined : Math.round(num(pick(g, "memory_total", "memoryTotal"))! / MB) }))
      : undefined,
  });
}

function gb(bytes: unknown): number | undefined {
  const n = num(bytes);
  return n === undefined ? undefined : Math.round((n / 1024 ** 3) * 10) / 10;
}

/** The newest writer's environment facts in a `_wandb` config value (`e.<writer id>`), or null. */
export function environmentOf(wandb: JsonObject | null): JsonObject | null {
  if (!wandb || !isObject(wandb.e)) return null;
  const writers = Object.values(wandb.e).filter(isObject);
  return writers.length > 0 ? writers[writers.length - 1] : null;
}
