/**
 * Seeds artifact versions on a real server through its HTTP routes, as the daemon uploads them:
 * POST blobs/missing, an upload plan for each missing blob, PUT its bytes (one part: the tests'
 * files are small), then POST versions; POST uses records a run's input. Fails the test with the
 * server's answer on any refusal.
 */
import { createHash } from "node:crypto";
import { expect } from "vitest";
import type { ArtifactManifest, ArtifactVersionSummary, BlobUploadPlan, LogVersionBody, MissingBlobsAnswer, UseVersionBody } from "../../src/protocol/artifacts.js";
import type { JsonObject } from "../../src/protocol/records.js";

export interface SeedArtifact {
  name: string;
  type: string;
  /** path -> content */
  files: Record<string, string | Uint8Array>;
  description?: string | null;
  metadata?: JsonObject;
}

export const sha256 = (bytes: string | Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

async function send(url: string, apiKey: string, method: string, body: unknown, raw = false): Promise<Response> {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${apiKey}`, ...(raw ? { "content-type": "application/octet-stream" } : { "content-type": "application/json" }) },
    body: raw ? Buffer.from(body as Uint8Array) : JSON.stringify(body),
  });
  expect(res.status, `${method} ${url}: ${await res.clone().text()}`).toBeLessThan(300);
  return res;
}

/** Logs `artifact` as run `entity/project/runId` (the run must exist); the version the server answers. */
export async function logVersion(baseUrl: string, apiKey: string, path: { entity: string; project: string; runId: string }, artifact: SeedArtifact, aliases: string[] = []): Promise<ArtifactVersionSummary> {
  const api = `${baseUrl}/api/v1/artifacts/${encodeURIComponent(path.entity)}/${encodeURIComponent(path.project)}`;
  const files = Object.entries(artifact.files)
    .map(([p, content]) => ({ path: p, bytes: typeof content === "string" ? new TextEncoder().encode(content) : content }))
    .sort((a, b) => (a.path < b.path ? -1 : 1));
  const entries = files.map((f) => ({ path: f.path, digest: sha256(f.bytes), size: f.bytes.length }));
  const missing = (await (await send(`${api}/blobs/missing`, apiKey, "POST", { digests: entries.map((e) => e.digest) })).json()) as MissingBlobsAnswer;
  for (const digest of new Set(missing.missing)) {
    const file = files[entries.findIndex((e) => e.digest === digest)];
    const plan = (await (await send(`${api}/blobs/${digest}/uploads`, apiKey, "POST", { size: file.bytes.length })).json()) as BlobUploadPlan;
    if (plan.exists) continue;
    expect(plan.uploadId, "a small blob is one part").toBeNull();
    const url = plan.parts[0].url;
    await send(url.startsWith("http") ? url : `${baseUrl}${url}`, apiKey, "PUT", file.bytes, true);
  }
  const manifest: ArtifactManifest = {
    name: artifact.name,
    type: artifact.type,
    description: artifact.description ?? null,
    metadata: artifact.metadata ?? {},
    files: entries,
    references: [],
  };
  const body: LogVersionBody = { runId: path.runId, manifest, aliases };
  return (await (await send(`${api}/versions`, apiKey, "POST", body)).json()) as ArtifactVersionSummary;
}

/** Records that run `entity/project/runId` used `artifact` (a version of any project it may read). */
export async function useVersion(baseUrl: string, apiKey: string, path: { entity: string; project: string; runId: string }, artifact: UseVersionBody["artifact"]): Promise<void> {
  const api = `${baseUrl}/api/v1/artifacts/${encodeURIComponent(path.entity)}/${encodeURIComponent(path.project)}`;
  const body: UseVersionBody = { runId: path.runId, artifact };
  await send(`${api}/uses`, apiKey, "POST", body);
}
