/**
 * Artifact queue entries written by hand, as the client writes them (docs/protocol.md, "The
 * artifact queue"): staged blobs under `<runDir>/artifacts/blobs/<digest>` and the entry's JSON
 * under `<runDir>/artifacts/queue/<entry>.json`.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { manifestDigest, type ArtifactManifest, type ArtifactQueueEntry } from "../../src/protocol/index.js";

let counter = 0;

/** A fresh entry name, after every one made before in this process (names sort in queued order). */
export function entryName(): string {
  counter++;
  return `${String(Date.now() * 100 + counter).padStart(15, "0").slice(-15)}-${randomBytes(4).toString("hex")}`;
}

export const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

/** Stages `files` (path -> bytes) and writes a `log` entry for them; returns its name and manifest. */
export function writeLogEntry(runDir: string, name: string, files: Record<string, Buffer>, aliases: string[] = []): { entry: string; manifest: ArtifactManifest; digest: string } {
  mkdirSync(join(runDir, "artifacts", "blobs"), { recursive: true });
  const entries = Object.entries(files)
    .map(([path, bytes]) => {
      const digest = sha256(bytes);
      writeFileSync(join(runDir, "artifacts", "blobs", digest), bytes);
      return { path, digest, size: bytes.length };
    })
    .sort((a, b) => (a.path < b.path ? -1 : 1));
  const manifest: ArtifactManifest = { name, type: "dataset", description: null, metadata: {}, files: entries, references: [] };
  const digest = manifestDigest(manifest);
  const entry = writeEntry(runDir, { kind: "log", manifest, digest, aliases });
  return { entry, manifest, digest };
}

/** Writes a queue entry as it is; returns its name. */
export function writeEntry(runDir: string, value: ArtifactQueueEntry): string {
  const entry = entryName();
  mkdirSync(join(runDir, "artifacts", "queue"), { recursive: true });
  writeFileSync(join(runDir, "artifacts", "queue", `${entry}.json`), JSON.stringify(value));
  return entry;
}
