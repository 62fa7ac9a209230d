import { readFileSync } from "node:fs";

/** Bumped on any incompatible change to the client <-> daemon messages or the WAL records. */
export const PROTOCOL_VERSION = 1;

function readPackageVersion(): string {
  // dist/src/protocol/version.js and src/protocol/version.ts both sit three levels below the root.
  for (const rel of ["../../../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as { name?: string; version?: string };
      if (pkg.name === "trackside" && pkg.version) return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return "0.0.0";
}

/** The trackside package version, as in package.json. */
export const PACKAGE_VERSION = readPackageVersion();
