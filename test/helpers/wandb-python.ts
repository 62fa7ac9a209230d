/**
 * W&B's real Python SDK for the compatibility tests: a virtual environment built by
 * `../shared/tools/wandb-python-venv.sh` from this machine's local Python package index, once per
 * machine (about 8 s), cached by the script's content under TRACKSIDE_TEST_CACHE (the temp dir the
 * test run started with: temp-root.ts), else the OS temp dir. Where the script or
 * the index is missing the tests using it are skipped with a warning; under CI=true a machine that
 * has the index must run them.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** Where the venv script lives: beside the repository, or named by TRACKSIDE_WANDB_VENV_SCRIPT. */
function venvScript(): string | null {
  const candidates = [
    process.env.TRACKSIDE_WANDB_VENV_SCRIPT,
    resolve(__dirname, "../../../shared/tools/wandb-python-venv.sh"),
    "/work/shared/tools/wandb-python-venv.sh",
  ];
  return candidates.find((p): p is string => !!p && existsSync(p)) ?? null;
}

let cached: string | null | undefined;

/**
 * The path of a Python interpreter that can `import wandb`, or null after a warning that the
 * Python SDK's tests are skipped (no script or no local package index). Throws under CI=true when
 * the index exists but the venv cannot be built. The venv is renamed after its build, so the
 * console scripts in its bin/ name the wrong interpreter: run `python -m wandb ...`, never `bin/wandb`.
 */
export function wandbPythonOrSkip(): string | null {
  if (cached !== undefined) return cached;
  const script = venvScript();
  if (!script) {
    console.warn("W&B's Python SDK: ../shared/tools/wandb-python-venv.sh not found; its tests are skipped.");
    return (cached = null);
  }
  const hash = createHash("sha256").update(readFileSync(script)).digest("hex").slice(0, 12);
  const cache = process.env.TRACKSIDE_TEST_CACHE ?? tmpdir();
  mkdirSync(cache, { recursive: true });
  const dir = join(cache, `wandb-venv-${hash}`);
  const python = join(dir, "bin", "python");
  if (existsSync(join(dir, ".complete"))) return (cached = python);
  // Built in a directory of its own and renamed into place, so that two test files building at
  // once, or a build killed half-way, never leave a venv others would use.
  const building = mkdtempSync(join(cache, "wandb-venv-build-"));
  const built = spawnSync("bash", [script, building], { encoding: "utf8" });
  if (built.status === 3) {
    rmSync(building, { recursive: true, force: true });
    console.warn("W&B's Python SDK: no local Python package index on this machine; its tests are skipped.");
    return (cached = null);
  }
  const check = spawnSync(join(building, "bin", "python"), ["-c", "import wandb"], { encoding: "utf8" });
  if (built.status !== 0 || check.status !== 0) {
    rmSync(building, { recursive: true, force: true });
    const why = `${built.stderr}\n${check.stderr}`.trim();
    if (process.env.CI === "true") throw new Error(`W&B's Python SDK venv could not be built: ${why}`);
    console.warn(`W&B's Python SDK venv could not be built; its tests are skipped: ${why}`);
    return (cached = null);
  }
  spawnSync("touch", [join(building, ".complete")]);
  try {
    renameSync(building, dir);
  } catch {
    // Another process won the race: use its venv, drop ours.
    rmSync(building, { recursive: true, force: true });
  }
  if (!existsSync(join(dir, ".complete"))) throw new Error(`W&B's Python SDK venv missing after build: ${dir}`);
  return (cached = python);
}
