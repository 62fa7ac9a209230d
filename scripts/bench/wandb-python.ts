/**
 * W&B's Python SDK for the side-by-side benchmark: the virtual environment that
 * `../shared/tools/wandb-python-venv.sh` builds from this machine's local Python package index,
 * found or built once and cached by the script's content in the OS temp dir (or
 * TRACKSIDE_TEST_CACHE, where the tests keep theirs: a venv the tests built is reused). The same
 * rules as test/helpers/wandb-python.ts, which the benchmarks, compiled to dist/, cannot import.
 * TRACKSIDE_WANDB_PYTHON names an interpreter that can `import wandb` instead.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The venv script: named by TRACKSIDE_WANDB_VENV_SCRIPT, or beside the repository (dist/scripts/bench is three levels down). */
function venvScript(): string | null {
  const candidates = [
    process.env.TRACKSIDE_WANDB_VENV_SCRIPT,
    fileURLToPath(new URL("../../../../shared/tools/wandb-python-venv.sh", import.meta.url)),
    "/work/shared/tools/wandb-python-venv.sh",
  ];
  return candidates.find((p): p is string => !!p && existsSync(p)) ?? null;
}

/**
 * A Python interpreter that can `import wandb`, or null with the reason (no venv script, no local
 * package index, a failed build): the caller skips W&B's side with a warning.
 */
export function wandbPython(): { python: string } | { python: null; why: string } {
  const given = process.env.TRACKSIDE_WANDB_PYTHON;
  if (given) return { python: given };
  const script = venvScript();
  if (!script) return { python: null, why: "../shared/tools/wandb-python-venv.sh not found" };
  const hash = createHash("sha256").update(readFileSync(script)).digest("hex").slice(0, 12);
  const cache = process.env.TRACKSIDE_TEST_CACHE ?? tmpdir();
  mkdirSync(cache, { recursive: true });
  // The tests' cache (test/helpers/temp-root.ts) first, then this one: the same build either way.
  for (const dir of [join(cache, `wandb-venv-${hash}`), join(tmpdir(), "trackside-test-cache", `wandb-venv-${hash}`)]) {
    if (existsSync(join(dir, ".complete"))) return { python: join(dir, "bin", "python") };
  }
  const dir = join(cache, `wandb-venv-${hash}`);
  // Built aside and renamed into place: a build killed half-way never leaves a venv others would use.
  const building = mkdtempSync(join(cache, "wandb-venv-build-"));
  const built = spawnSync("bash", [script, building], { encoding: "utf8" });
  if (built.status === 3) {
    rmSync(building, { recursive: true, force: true });
    return { python: null, why: "no local Python package index on this machine" };
  }
  const check = spawnSync(join(building, "bin", "python"), ["-c", "import wandb"], { encoding: "utf8" });
  if (built.status !== 0 || check.status !== 0) {
    rmSync(building, { recursive: true, force: true });
    return { python: null, why: `the venv could not be built: ${`${built.stderr}\n${check.stderr}`.trim()}` };
  }
  writeFileSync(join(building, ".complete"), "");
  try {
    renameSync(building, dir);
  } catch {
    rmSync(building, { recursive: true, force: true }); // another process won the race: its venv is as good
  }
  return { python: join(dir, "bin", "python") };
}
