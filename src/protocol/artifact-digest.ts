/** The digest of an artifact manifest (protocol/artifacts.ts): Node.js only, for node:crypto. */
import { createHash } from "node:crypto";
import type { ArtifactManifest } from "./artifacts.js";

/**
 * The digest of a manifest's content: sha256 (hex) of the JSON of its entries sorted by path.
 * Two manifests with the same files and references have the same digest whatever their order,
 * description or metadata.
 */
export function manifestDigest(m: Pick<ArtifactManifest, "files" | "references">): string {
  const files = [...m.files].sort(byPath).map((f) => [f.path, f.digest, f.size]);
  const refs = [...m.references].sort(byPath).map((r) => [r.path, r.uri, r.digest, r.size]);
  return createHash("sha256").update(JSON.stringify({ files, refs })).digest("hex");
}

function byPath(a: { path: string }, b: { path: string }): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}
