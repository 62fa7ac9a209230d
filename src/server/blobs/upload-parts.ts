/**
 * What both blob backends agree on: how a blob is cut into parts, the checks of a digest, a size
 * and an upload id, and the paths of the filesystem backend's own routes (routes-blobs.ts).
 */
import { DIGEST_PATTERN } from "../../protocol/artifacts.js";
import { errors, show } from "../../protocol/errors.js";
import type { BlobScope } from "./blob-store.js";

/** S3's most parts in one upload; the filesystem keeps to it too, so both answer the same plans. */
export const MAX_UPLOAD_PARTS = 10_000;

/** S3's smallest part (but the last): a part size under it works on s3rver, never on S3. */
export const S3_MIN_PART_BYTES = 5 * 1024 * 1024;

export { MAX_MISSING_DIGESTS } from "../../protocol/artifacts.js";

/** The digest unchanged, or TRK_ERR_BAD_REQUEST: it becomes a file name and an object key. */
export function checkDigest(digest: unknown): string {
  if (typeof digest !== "string" || !DIGEST_PATTERN.test(digest)) {
    throw errors.badRequest(`digest ${show(digest)} is not a sha256 (64 lower-case hex characters)`);
  }
  return digest;
}

/** How many parts a multipart upload of `size` bytes has; TRK_ERR_TOO_LARGE past MAX_UPLOAD_PARTS. */
export function partCount(size: number, partBytes: number): number {
  if (!Number.isSafeInteger(size) || size < 0) throw errors.badRequest(`size ${show(size)} is not a whole number of bytes`);
  const count = Math.max(1, Math.ceil(size / partBytes));
  if (count > MAX_UPLOAD_PARTS) throw errors.tooLarge("The blob", `${size} bytes`, `${MAX_UPLOAD_PARTS} parts of ${partBytes} bytes`);
  return count;
}

/** The size of part `number` (from 1) of a blob of `size` bytes: `partBytes`, the last one the rest. */
export function partSize(size: number, partBytes: number, number: number): number {
  return Math.min(partBytes, size - (number - 1) * partBytes);
}

/** The part number of a route, checked against the upload's count (TRK_ERR_BAD_REQUEST). */
export function checkPartNumber(value: unknown, count: number): number {
  const n = typeof value === "string" && /^[1-9]\d{0,4}$/.test(value) ? Number(value) : typeof value === "number" ? value : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > count) throw errors.badRequest(`part number ${show(value)} is not one of 1 to ${count}`);
  return n;
}

/** An ETag as S3 and HTTP write it ("..."), or bare: the same value. */
export const bareEtag = (etag: string): string => etag.replace(/^W\//, "").replace(/^"(.*)"$/, "$1");

const blobPath = (apiBase: string, scope: BlobScope, digest: string) =>
  `${apiBase}/artifacts/${encodeURIComponent(scope.entity)}/${encodeURIComponent(scope.project)}/blobs/${digest}`;

/** The URL (under `apiBase`) of a blob: PUT its bytes in one part, GET them. */
export const blobUrl = blobPath;

/** The URL (under `apiBase`) of one part of a filesystem upload. */
export const partUrl = (apiBase: string, scope: BlobScope, digest: string, uploadId: string, number: number): string =>
  `${blobPath(apiBase, scope, digest)}/uploads/${encodeURIComponent(uploadId)}/parts/${number}`;

/**
 * The digests (each once, in the order asked) for which `stored` answers false, asking up to
 * `concurrency` at a time: one stat or HEAD per digest, never all of a 10,000-file manifest at once.
 */
export async function missingOf(digests: string[], concurrency: number, stored: (digest: string) => Promise<boolean>): Promise<string[]> {
  const asked = [...new Set(digests)];
  const absent = new Array<boolean>(asked.length).fill(false);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < asked.length) {
      const i = next++;
      absent[i] = !(await stored(asked[i]));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, asked.length) }, worker));
  return asked.filter((_, i) => absent[i]);
}
