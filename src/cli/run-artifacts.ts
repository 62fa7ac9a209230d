/**
 * A run's artifact versions as `trackside runs show` prints them: the short JSON form of
 * `--json` (`artifactOutputs` and `artifactInputs`) and one text line per version.
 */
import type { ArtifactVersionSummary } from "../protocol/artifacts.js";
import { formatBytes } from "./output.js";

/** A version as `runs show --json` lists it in `artifactOutputs` and `artifactInputs`. */
export interface RunArtifactJson {
  name: string;
  /** "v0", "v1", ... */
  version: string;
  type: string;
  aliases: string[];
  digest: string;
  size: number;
}

/**
 * The short form of a run's output or input version for `runs show --json`.
 *
 * @example
 * runArtifactJson(summary) // { name: "mnist", version: "v0", type: "dataset", aliases: ["latest"], digest: "9f2c...", size: 1024 }
 */
export function runArtifactJson(v: ArtifactVersionSummary): RunArtifactJson {
  return { name: v.name, version: `v${v.version}`, type: v.type, aliases: v.aliases, digest: v.digest, size: v.size };
}

/**
 * A run's versions, one per line: `entity/project/name:v3 (dataset, latest; 1.50 KiB)`; null for none.
 * Unescaped: the caller prints it through printable().
 */
export function runArtifactLines(versions: ArtifactVersionSummary[] | undefined): string | null {
  if (!versions || versions.length === 0) return null;
  return versions.map((v) => `${v.entity}/${v.project}/${v.ref} (${[v.type, ...v.aliases].join(", ")}; ${formatBytes(v.size)})`).join("\n");
}
