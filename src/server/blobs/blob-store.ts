/**
 * Where artifact bytes live: blobs addressed by their sha256, kept once per project. Two backends:
 * the data directory (content-addressed paths; the server carries the bytes) and an S3-compatible
 * bucket (clients upload and download through presigned URLs; the server never carries them).
 * The HTTP routes (docs/api.md, "Artifacts") speak protocol/artifacts.ts's BlobUploadPlan.
 *
 * URLs in plans and downloads are either this server's own (they start with `apiBase`, which the
 * routes pass as API_PREFIX, so they are paths: the client prefixes its base URL and sends its
 * API key) or absolute presigned URLs of the bucket (the client sends no credentials).
 */
import type { Readable } from "node:stream";
import type { BlobUploadPlan } from "../../protocol/artifacts.js";
import type { BlobAnswer } from "./blob-type.js";

/** Whose blobs: an entity's project (names, as in URLs and object keys). */
export interface BlobScope {
  entity: string;
  project: string;
}

/** What a PUT of bytes stored: the ETag to hand to `complete` (a part), and how many bytes came. */
export interface StoredBytes {
  etag: string;
  size: number;
}

/**
 * The bytes themselves, for a backend whose bytes go through the server (the filesystem). Every
 * body is a stream: a part may be 64 MiB (ARTIFACT_PART_BYTES), and several arrive at once.
 */
export interface BlobBytes {
  /**
   * Stores a whole blob sent in one PUT: kept under `digest` only when the bytes' sha256 is it
   * (else TRK_ERR_DIGEST_MISMATCH and nothing kept), and at most `partBytes` bytes (else TRK_ERR_TOO_LARGE).
   */
  putBlob(scope: BlobScope, digest: string, body: Readable): Promise<StoredBytes>;
  /** Stores part `number` of an upload (its size must be the plan's); TRK_ERR_NOT_FOUND for an unknown upload. */
  putPart(scope: BlobScope, digest: string, uploadId: string, number: number, body: Readable): Promise<StoredBytes>;
  /** A stored blob's bytes, or null when the scope has none of that digest. */
  openBlob(scope: BlobScope, digest: string): Promise<{ size: number; stream: Readable } | null>;
}

export interface BlobStore {
  /** "filesystem" or "s3": for logs and the server's start line. */
  readonly kind: "filesystem" | "s3";
  /** Bytes above this are uploaded in parts of this size (ARTIFACT_PART_BYTES unless a test asks for smaller). */
  readonly partBytes: number;
  /** The bytes when they go through this server (filesystem); null when they never do (S3). */
  readonly bytes: BlobBytes | null;
  /**
   * The origins of the presigned download URLs (S3), which the web app's pages load media images
   * from (its Content-Security-Policy names them); empty when downloads come from this server.
   */
  readonly downloadOrigins: readonly string[];
  /** Which of `digests` the scope lacks (each asked once; the answer in the order asked). */
  missing(scope: BlobScope, digests: string[]): Promise<string[]>;
  /**
   * How to upload a blob of `size` bytes (BlobUploadPlan): `exists` when stored already; one part
   * up to `partBytes`; parts above it. `uploadId` resumes an upload begun before (an unknown one
   * begins a new upload). `apiBase` prefixes the filesystem backend's own part routes.
   */
  planUpload(scope: BlobScope, digest: string, size: number, uploadId: string | null, apiBase: string): Promise<BlobUploadPlan>;
  /**
   * Completes a multipart upload; the blob is stored under its digest once its bytes match it
   * (filesystem: checked here, TRK_ERR_DIGEST_MISMATCH and the upload dropped otherwise; S3: the
   * server never sees the bytes, so it checks the size only and clients check the sha256 on
   * download). Completing an upload whose blob is stored already succeeds.
   * @returns the blob's size.
   */
  completeUpload(scope: BlobScope, digest: string, uploadId: string, parts: { number: number; etag: string }[]): Promise<{ size: number }>;
  /**
   * The first `count` bytes of a stored blob (fewer when it is shorter), or null when the scope
   * has none of that digest: what the blob download tells the blob's type from (blob-type.ts).
   */
  firstBytes(scope: BlobScope, digest: string, count: number): Promise<Buffer | null>;
  /**
   * Where to download a blob: a path under `apiBase` on this server, or a presigned URL of the
   * bucket. `answer`: the content type and disposition the bucket answers that URL with (S3; the
   * filesystem's path is answered by the blob route, which tells them itself).
   */
  downloadUrl(scope: BlobScope, digest: string, apiBase: string, answer?: BlobAnswer): Promise<string>;
  close(): Promise<void>;
}
