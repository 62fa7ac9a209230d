import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The exit code of a spawned daemon that found another one already listening at its address. */
export const ALREADY_RUNNING_EXIT = 3;

/** Bumped on any incompatible change to the client <-> daemon messages or the WAL records. */
export const PROTOCOL_VERSION = 3;

/**
 * The directory of trackside's package.json, found from this module: dist/src/protocol/ (tsc's
 * output), src/protocol/ (tests), or dist/client/ and dist/daemon/ (the bundles).
 */
function findRoot(): { dir: string; version: string } | null {
  for (const rel of ["../../../", "../../"]) {
    try {
      const dir = new URL(rel, import.meta.url);
      const pkg = JSON.parse(readFileSync(new URL("package.json", dir), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "trackside" && pkg.version) return { dir: fileURLToPath(dir), version: pkg.version };
    } catch {
      // try the next candidate
    }
  }
  return null;
}

const root = findRoot();

/** trackside's package directory (where dist/ is), or null if this module was moved out of it. */
export function packageRoot(): string | null {
  return root?.dir ?? null;
}

/** The trackside package version, as in package.json. */
export const PACKAGE_VERSION = root?.version ?? "0.0.0";
