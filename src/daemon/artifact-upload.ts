/**
 * One artifact queue entry carried to the server (docs/api.md, "Artifacts"): for a `log`, ask
 * which blobs the project lacks, upload those (each by its upload plan: one PUT, or parts and a
 * complete), then log the version; for `blobs` (media), the same without a version; for a `use`,
 * record it. Each step's answer says whether the
 * entry is done, should be tried again later (the server is away or busy, the run not there
 * yet), or is refused for good. Steps are idempotent, so trying an entry again from its start
 * costs a few small requests: the blobs stored already are not missing any more, and the parts
 * of a multipart upload under way are remembered on disk (artifact-files.ts, UploadState).
 */
import { createHash } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import type { Logger } from "pino";
import {
  API_PREFIX,
  MAX_MISSING_DIGESTS,
  type ArtifactQueueEntry,
  type ArtifactVersionSummary,
  type BlobUploadPlan,
  type CompleteUploadBody,
  type LogVersionBody,
  type MissingBlobsAnswer,
  type UseVersionBody,
} from "../protocol/index.js";
import type { ArtifactFiles } from "./artifact-files.js";
import { isRetryableStatus, serverError } from "./backoff.js";
import type { PostResult } from "./http-post.js";
import type { PutRangeFn } from "./http-put.js";
import type { PostFn, UploadTarget } from "./uploader.js";

/** How an entry (or one step of it) went. */
export type EntryOutcome =
  /** `version` null: a `blobs` entry, which makes no version. */
  | { kind: "done"; version: number | null }
  /** Try the entry again later. `notFound`: the server answered 404 (the run, or the artifact, is not there yet). */
  | { kind: "retry"; why: string; notFound?: boolean }
  /** Never: the server refused it for good, or its staged files are gone. */
  | { kind: "refused"; why: string };

type Step<T> = { kind: "ok"; value: T } | Exclude<EntryOutcome, { kind: "done" }>;

export interface EntryContext {
  target: UploadTarget;
  files: ArtifactFiles;
  post: PostFn;
  put: PutRangeFn;
  log: Logger;
  requestTimeoutMs: number;
  /** The bytes of blobs the server does not have yet, as this entry learns them. */
  progress: { remaining: number };
  /** True once the queue is closing: no further request is begun (the entry is left for a successor). */
  stopped: () => boolean;
}

/** Blobs of one entry uploaded at once. */
const BLOB_CONCURRENCY = 4;

const STOPPED: Exclude<EntryOutcome, { kind: "done" }> = { kind: "retry", why: "the queue is closing" };

/** Does one entry, start to end; never throws for the network (a retry), only for the local disk. */
export async function uploadEntry(ctx: EntryContext, entry: ArtifactQueueEntry): Promise<EntryOutcome> {
  const { target } = ctx;
  if (entry.kind === "use") {
    const body: UseVersionBody = { runId: target.runId, artifact: { entity: entry.entity, project: entry.project, name: entry.name, version: entry.version } };
    const r = await postJson<{ ok: boolean }>(ctx, "uses", body);
    return r.kind === "ok" ? { kind: "done", version: entry.version } : r;
  }
  const sizes = new Map<string, number>();
  for (const f of entry.kind === "log" ? entry.manifest.files : entry.blobs) sizes.set(f.digest, f.size);
  const digests = [...sizes.keys()];
  const lacking: string[] = [];
  // In batches: the server takes MAX_MISSING_DIGESTS per request (a 413 would refuse the version for good).
  for (let i = 0; i < digests.length; i += MAX_MISSING_DIGESTS) {
    const batch = digests.slice(i, i + MAX_MISSING_DIGESTS);
    const missing = await postJson<MissingBlobsAnswer>(ctx, "blobs/missing", { digests: batch }, storeTime(ctx, batch.length));
    if (missing.kind !== "ok") return missing;
    lacking.push(...missing.value.missing);
  }
  const todo = [...new Set(lacking)].filter((d) => sizes.has(d));
  // What a refusal tells the user to do: a `blobs` entry holds the files of logged images, not an artifact's.
  const redo = entry.kind === "blobs" ? "log the image again" : "log the artifact again";
  ctx.progress.remaining = todo.reduce((n, d) => n + sizes.get(d)!, 0);
  // A few blobs at a time: a directory of small files is round trips, not bytes (measured: 1,000
  // files of 4 KiB took 6.4 s one by one). The first failure stops the others from starting more.
  let failed: Step<void> | null = null;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (failed === null && next < todo.length) {
      const digest = todo[next++];
      const blob = await uploadBlob(ctx, digest, sizes.get(digest)!, redo);
      if (blob.kind !== "ok") failed ??= blob;
    }
  };
  await Promise.all(Array.from({ length: Math.min(BLOB_CONCURRENCY, todo.length) }, worker));
  if (failed) return failed;
  if (entry.kind === "blobs") {
    ctx.progress.remaining = 0;
    return { kind: "done", version: null };
  }
  const body: LogVersionBody = { runId: target.runId, manifest: entry.manifest, aliases: entry.aliases };
  const version = await postJson<ArtifactVersionSummary>(ctx, "versions", body, storeTime(ctx, sizes.size));
  if (version.kind !== "ok") return version;
  if (!Number.isSafeInteger(version.value?.version)) return { kind: "retry", why: "the server's answer to the version carries no version number" };
  ctx.progress.remaining = 0;
  return { kind: "done", version: version.value.version };
}

/**
 * Uploads one blob by its plan. A multipart upload's id and every part sent are saved before the
 * next request, so that a successor daemon (or this one, after a retry) asks for the plan of the
 * same upload and sends only the parts that are not there.
 */
async function uploadBlob(ctx: EntryContext, digest: string, size: number, redo: string): Promise<Step<void>> {
  const path = ctx.files.blobPath(digest);
  let onDisk: number;
  let stamp: string;
  try {
    const st = statSync(path);
    onDisk = st.size;
    stamp = `${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  } catch (err) {
    return { kind: "refused", why: `TRK_ERR_INVALID_ARTIFACT: the staged file ${path} is gone (${(err as NodeJS.ErrnoException).code}); ${redo}` };
  }
  if (onDisk !== size) return { kind: "refused", why: `TRK_ERR_INVALID_ARTIFACT: the staged file ${path} holds ${onDisk} bytes, not the ${size} its manifest says; ${redo}` };
  const saved = ctx.files.uploadState(digest);
  const planned = await postJson<BlobUploadPlan>(ctx, `blobs/${digest}/uploads`, { size, uploadId: saved?.uploadId ?? null });
  if (planned.kind !== "ok") return planned;
  const plan = planned.value;
  if (plan.exists) {
    ctx.files.dropUploadState(digest);
    ctx.progress.remaining -= size;
    return { kind: "ok", value: undefined };
  }
  if (plan.parts.some((p) => ABSOLUTE.test(p.url))) {
    // Presigned URLs of a bucket: nobody checks the bytes on their way in (the filesystem backend
    // does), and a blob stored wrong under its digest is never uploaded again. The staged file
    // is a hard link to the user's, which a program that rewrites that file in place changes.
    // Once per file as it is: a retry of a large upload does not read it all again.
    if (ctx.files.verified.get(digest) !== stamp) {
      const got = await sha256Of(path);
      if (got !== digest) {
        return { kind: "refused", why: `TRK_ERR_DIGEST_MISMATCH: the staged file ${path} no longer holds the bytes logged (sha256 ${got}, not ${digest}): its file was written again in place after logArtifact(); ${redo}` };
      }
      ctx.files.verified.set(digest, stamp);
    }
  }
  if (plan.uploadId === null) {
    const part = plan.parts[0];
    if (!part) return { kind: "retry", why: "the server's upload plan has no part" };
    const r = await putPart(ctx, part.url, path, 0, size);
    if (r.kind !== "ok") return r;
    ctx.progress.remaining -= size;
    return { kind: "ok", value: undefined };
  }
  // The server may have forgotten an upload begun before (it expired): then it starts anew.
  const state = { uploadId: plan.uploadId, parts: saved?.uploadId === plan.uploadId ? saved.parts : [] };
  ctx.files.saveUploadState(digest, state);
  const partBytes = plan.partBytes;
  for (const part of [...plan.parts].sort((a, b) => a.number - b.number)) {
    const start = (part.number - 1) * partBytes;
    const length = Math.max(0, Math.min(partBytes, size - start));
    if (state.parts.some((p) => p.number === part.number)) {
      ctx.progress.remaining -= length;
      continue;
    }
    const r = await putPart(ctx, part.url, path, start, length);
    if (r.kind !== "ok") return forgetIfGone(ctx, digest, r);
    state.parts.push({ number: part.number, etag: r.value });
    ctx.files.saveUploadState(digest, state);
    ctx.progress.remaining -= length;
  }
  const body: CompleteUploadBody = { parts: [...state.parts].sort((a, b) => a.number - b.number) };
  const done = await postJson<unknown>(ctx, `blobs/${digest}/uploads/${encodeURIComponent(plan.uploadId)}/complete`, body);
  if (done.kind !== "ok") return forgetIfGone(ctx, digest, done);
  ctx.files.dropUploadState(digest);
  return { kind: "ok", value: undefined };
}

/**
 * A part or the complete answered 404: the store has forgotten the upload (S3 aborts or expires
 * them, answering NoSuchUpload; the server takes the saved id on trust). Its saved state is
 * dropped, so that the next try begins a new upload instead of sending to the dead one until the
 * 404s give the artifact up.
 */
function forgetIfGone<T>(ctx: EntryContext, digest: string, step: Exclude<Step<T>, { kind: "ok" }>): Exclude<Step<T>, { kind: "ok" }> {
  if (step.kind === "retry" && step.notFound) ctx.files.dropUploadState(digest);
  return step;
}

const ABSOLUTE = /^https?:\/\//i;

/** The sha256 (hex) of a file, streamed. */
function sha256Of(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    createReadStream(path, { highWaterMark: 1 << 20 })
      .on("data", (chunk) => hash.update(chunk))
      .on("error", reject)
      .on("end", () => resolve(hash.digest("hex")));
  });
}

/**
 * PUTs one part: to the server's own URL with the API key, or to an object store's presigned URL
 * with no credentials at all (the URL carries them). Resolves with the part's ETag.
 */
async function putPart(ctx: EntryContext, url: string, file: string, start: number, length: number): Promise<Step<string>> {
  const { baseUrl, apiKey, caFile } = ctx.target;
  if (ctx.stopped()) return STOPPED;
  const presigned = ABSOLUTE.test(url);
  const headers: Record<string, string> = { "content-type": "application/octet-stream" };
  if (!presigned && apiKey) headers.authorization = `Bearer ${apiKey}`;
  let res: PostResult;
  try {
    res = await ctx.put(presigned ? url : `${baseUrl}${url}`, headers, file, start, length, partTimeout(ctx, length), caFile);
  } catch (err) {
    ctx.log.warn({ err: (err as Error).message }, "artifact part not uploaded");
    return { kind: "retry", why: (err as Error).message };
  }
  // A presigned URL that expired (the entry waited on a backoff) is refused with 403: a fresh
  // plan brings fresh URLs.
  if (presigned && res.status === 403) return { kind: "retry", why: `the object store refused the part (HTTP 403): ${res.text.slice(0, 200)}` };
  const step = answerOf(res);
  if (step.kind !== "ok") return step;
  const etag = res.headers.etag;
  if (typeof etag !== "string" || etag === "") return { kind: "retry", why: "the part's PUT answered no etag header" };
  return { kind: "ok", value: etag };
}

/** A part's PUT gets the request timeout plus a second per MiB at 1 MiB/s, at the least. */
function partTimeout(ctx: EntryContext, length: number): number {
  return ctx.requestTimeoutMs + Math.ceil(length / 2 ** 20) * 1000;
}

/**
 * Files the server's blob store is asked about per second, at the least: `missing` and a version
 * ask the store about every digest, an S3 HEAD each (16 at once of 30 to 60 ms: 250 to 500 a
 * second). A version of 100,000 files on S3 takes minutes, not the 30 s of other requests.
 */
const STORE_CHECKS_PER_S = 250;

/** The timeout of a request that makes the server ask its store about `digests` digests. */
function storeTime(ctx: EntryContext, digests: number): number {
  return ctx.requestTimeoutMs + Math.ceil(digests / STORE_CHECKS_PER_S) * 1000;
}

async function postJson<T>(ctx: EntryContext, route: string, body: unknown, timeoutMs = ctx.requestTimeoutMs): Promise<Step<T>> {
  if (ctx.stopped()) return STOPPED;
  const { baseUrl, apiKey, entity, project, caFile } = ctx.target;
  const url = `${baseUrl}${API_PREFIX}/artifacts/${encodeURIComponent(entity)}/${encodeURIComponent(project)}/${route}`;
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (apiKey) headers.authorization = `Bearer ${apiKey}`;
  let res: PostResult;
  try {
    res = await ctx.post(url, headers, Buffer.from(JSON.stringify(body)), timeoutMs, caFile);
  } catch (err) {
    ctx.log.warn({ err: (err as Error).message, route }, "server unreachable");
    return { kind: "retry", why: (err as Error).message };
  }
  const step = answerOf(res);
  if (step.kind !== "ok") return step;
  try {
    return { kind: "ok", value: JSON.parse(res.text) as T };
  } catch {
    return { kind: "retry", why: `the server's answer to ${route} is not JSON` };
  }
}

/**
 * 2xx: on. 404 (the run or project is not on the server yet: the WAL's upload makes it), 408,
 * 409 (a version whose blobs are not all there: a race with another upload), 425, 429, 5xx: later.
 * Any other: refused for good, with the server's coded message.
 */
function answerOf(res: PostResult): Step<void> {
  if (res.status >= 200 && res.status < 300) return { kind: "ok", value: undefined };
  const { code, message } = serverError(res.status, res.text);
  const why = code ? `${code}: ${message}` : message;
  if (res.status === 404) return { kind: "retry", why, notFound: true };
  if (isRetryableStatus(res.status)) return { kind: "retry", why };
  return { kind: "refused", why };
}
