/**
 * Artifact blobs over HTTP (docs/api.md, "Artifacts"): the bytes of artifact files, addressed by
 * sha256 and kept once per project in the server's BlobStore. The daemon asks which digests are
 * missing, asks for an upload plan for each, PUTs its parts (to these routes on the filesystem
 * backend; to presigned URLs of the bucket on S3) and completes a multipart upload.
 *
 * - `POST .../blobs/missing`                       `{ digests }` -> `{ missing }`
 * - `POST .../blobs/:digest/uploads`               `{ size, uploadId? }` -> BlobUploadPlan
 * - `PUT  .../blobs/:digest`                       bytes -> `{ digest, size }` (filesystem)
 * - `PUT  .../blobs/:digest/uploads/:id/parts/:n`  bytes -> `{ number, etag }` (filesystem)
 * - `POST .../blobs/:digest/uploads/:id/complete`  `{ parts }` -> `{ digest, size }`
 * - `GET  .../blobs/:digest`                       the bytes, or 302 to a presigned URL (S3): a PNG
 *                                                   or JPEG as its image type, inline; anything else
 *                                                   as application/octet-stream, attachment
 *
 * (`...` is `/api/v1/artifacts/:entity/:project`.) Writes need `entity:write`, as uploading runs
 * does; the GET lets the entity's members read any blob of the project, and anyone else only a
 * blob that a version visible to them holds (logged by a public run).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Readable } from "node:stream";
import { API_PREFIX } from "../../protocol/api.js";
import { ARTIFACT_PART_BYTES, type BlobUploadBody, type BlobUploadPlan, type CompleteUploadBody, type MissingBlobsAnswer } from "../../protocol/artifacts.js";
import { errors, show } from "../../protocol/errors.js";
import { may, projectPath } from "./access.js";
import type { AppContext } from "./app-context.js";
import { closeAfterAnswer } from "./limits.js";
import type { BlobBytes, BlobScope } from "../blobs/blob-store.js";
import { blobAnswer, SNIFF_BYTES } from "../blobs/blob-type.js";
import { checkDigest, MAX_MISSING_DIGESTS, MAX_UPLOAD_PARTS } from "../blobs/upload-parts.js";
import { fieldsOf } from "./body-fields.js";

const BLOBS = `${API_PREFIX}/artifacts/:entity/:project/blobs`;
const write = { config: { access: "entity:write" as const } };

/** `{ digests }`: sha256 digests, at most MAX_MISSING_DIGESTS (ask in batches). */
export function parseMissingBody(body: unknown): string[] {
  const b = fieldsOf(body, ["digests"]);
  if (!Array.isArray(b.digests)) throw errors.badRequest("digests must be an array of sha256 digests");
  if (b.digests.length > MAX_MISSING_DIGESTS) throw errors.tooLarge("digests", `${b.digests.length} entries`, `${MAX_MISSING_DIGESTS} per request (ask in batches)`);
  return b.digests.map(checkDigest);
}

/** `{ size, uploadId? }`. */
export function parseUploadBody(body: unknown): Required<BlobUploadBody> {
  const b = fieldsOf(body, ["size", "uploadId"]);
  if (typeof b.size !== "number" || !Number.isSafeInteger(b.size) || b.size < 0) throw errors.badRequest(`size ${show(b.size)} is not a whole number of bytes`);
  const uploadId = b.uploadId ?? null;
  if (uploadId !== null && (typeof uploadId !== "string" || uploadId.length === 0 || uploadId.length > 1024)) {
    throw errors.badRequest(`uploadId ${show(uploadId)} is not an upload id (a string from a plan, or null)`);
  }
  return { size: b.size, uploadId };
}

/** `{ parts: [{ number, etag }] }`. */
export function parseCompleteBody(body: unknown): CompleteUploadBody {
  const b = fieldsOf(body, ["parts"]);
  if (!Array.isArray(b.parts) || b.parts.length === 0 || b.parts.length > MAX_UPLOAD_PARTS) {
    throw errors.badRequest(`parts must be an array of 1 to ${MAX_UPLOAD_PARTS} { number, etag }`);
  }
  const parts = b.parts.map((p: unknown, i) => {
    const part = fieldsOf(p, ["number", "etag"]);
    if (typeof part.number !== "number" || !Number.isSafeInteger(part.number) || part.number < 1 || typeof part.etag !== "string" || part.etag.length > 1024) {
      throw errors.badRequest(`parts[${i}] is not { number: a whole number from 1, etag: the part's PUT's etag header }`);
    }
    return { number: part.number, etag: part.etag };
  });
  return { parts };
}

/** `:entity/:project` and `:digest`, checked. */
function blobParams(req: FastifyRequest): { scope: BlobScope; digest: string } {
  return { scope: projectPath(req.params), digest: checkDigest((req.params as { digest?: unknown }).digest) };
}

/**
 * Runs an upload's handler; a refusal before the body was read whole (too large, unknown
 * upload) closes the connection after the answer instead of reading the rest (limits.ts).
 */
async function receiving<T>(req: FastifyRequest, reply: FastifyReply, handle: () => Promise<T>): Promise<T> {
  try {
    return await handle();
  } catch (err) {
    closeAfterAnswer(req, reply);
    throw err;
  }
}

/** The blob routes. */
export function registerBlobRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.post(`${BLOBS}/missing`, write, async (req): Promise<MissingBlobsAnswer> => {
    const scope = projectPath(req.params);
    return { missing: await ctx.blobs.missing(scope, parseMissingBody(req.body)) };
  });

  app.post(`${BLOBS}/:digest/uploads`, write, async (req): Promise<BlobUploadPlan> => {
    const { scope, digest } = blobParams(req);
    const { size, uploadId } = parseUploadBody(req.body);
    return ctx.blobs.planUpload(scope, digest, size, uploadId, API_PREFIX);
  });

  app.post(`${BLOBS}/:digest/uploads/:uploadId/complete`, write, async (req) => {
    const { scope, digest } = blobParams(req);
    const { parts } = parseCompleteBody(req.body);
    const { size } = await ctx.blobs.completeUpload(scope, digest, (req.params as { uploadId: string }).uploadId, parts);
    return { digest, size };
  });

  app.get(`${BLOBS}/:digest`, { config: { access: "project:read" } }, async (req, reply) => {
    const { scope, digest } = blobParams(req);
    // Members read any blob of the project; anyone else one that a version visible to them holds,
    // or one that a public run's media references (its images are as public as the run).
    if (!may(ctx.access(req).role, "read")) {
      const visible = { entityId: ctx.entity(req).id, project: scope.project };
      const allowed = (await ctx.store.blobInVisibleVersion(visible, digest, true)) || (await ctx.store.blobInVisibleMedia(visible, digest, true));
      if (!allowed) throw errors.notFound(`Blob ${digest} of ${scope.entity}/${scope.project}`);
    }
    // Its first bytes tell a media image (shown) from anything else (a download): blob-type.ts.
    // Asked first also on S3, so that a blob the bucket lacks is a coded 404 here, not the bucket's XML.
    const head = await ctx.blobs.firstBytes(scope, digest, SNIFF_BYTES);
    if (!head) throw errors.notFound(`Blob ${digest} of ${scope.entity}/${scope.project}`);
    const answer = blobAnswer(digest, head);
    const bytes = ctx.blobs.bytes;
    if (!bytes) return reply.redirect(await ctx.blobs.downloadUrl(scope, digest, API_PREFIX, answer), 302);
    const blob = await bytes.openBlob(scope, digest);
    if (!blob) throw errors.notFound(`Blob ${digest} of ${scope.entity}/${scope.project}`);
    // Content-addressed: the bytes under this URL never change. `private`: shared caches must not keep them.
    // nosniff: the browser takes the type given, never guesses HTML; the CSP runs nothing even so.
    return reply
      .type(answer.contentType)
      .header("content-disposition", answer.disposition)
      .header("x-content-type-options", "nosniff")
      .header("content-security-policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
      .header("content-length", blob.size)
      .header("etag", `"${digest}"`)
      .header("cache-control", "private, max-age=31536000, immutable")
      .send(blob.stream);
  });

  // The PUTs carry raw bytes of any content type, streamed to disk: never parsed, never held whole.
  void app.register(async (uploads) => {
    uploads.removeAllContentTypeParsers();
    uploads.addContentTypeParser("*", (_req, payload, done) => done(null, payload));
    const put = { ...write, bodyLimit: ARTIFACT_PART_BYTES };
    /** The store's bytes, or a refusal when they do not pass through this server (S3). */
    const local = (): BlobBytes => {
      if (ctx.blobs.bytes) return ctx.blobs.bytes;
      throw errors.badRequest(`this server keeps artifacts in ${ctx.blobs.kind}: PUT the bytes to the presigned URLs of the upload plan`);
    };
    const bodyOf = (req: FastifyRequest): Readable => (req.body as Readable | undefined) ?? req.raw;

    uploads.put(`${BLOBS}/:digest`, put, async (req, reply) =>
      receiving(req, reply, async () => {
        const { scope, digest } = blobParams(req);
        const stored = await local().putBlob(scope, digest, bodyOf(req));
        reply.header("etag", stored.etag);
        return { digest, size: stored.size };
      }),
    );

    uploads.put(`${BLOBS}/:digest/uploads/:uploadId/parts/:number`, put, async (req, reply) =>
      receiving(req, reply, async () => {
        const { scope, digest } = blobParams(req);
        const params = req.params as { uploadId: string; number: string };
        const number = /^[1-9]\d{0,4}$/.test(params.number) ? Number(params.number) : NaN;
        if (Number.isNaN(number)) throw errors.badRequest(`part number ${show(params.number)} is not a whole number from 1 to ${MAX_UPLOAD_PARTS}`);
        const stored = await local().putPart(scope, digest, params.uploadId, number, bodyOf(req));
        reply.header("etag", stored.etag);
        return { number, etag: stored.etag };
      }),
    );
  });
}
