/**
 * Where artifact bytes live: blobs addressed by their sha256, kept once per project. Two backends:
 * the data directory (content-addressed paths; the server carries the bytes) and an S3-compatible
 * bucket (clients upload and download through presigned URLs; the server never carries them).
 * The HTTP routes (docs/api.md, "Artifacts") speak protocol/artifacts.ts's BlobUploadPlan.
 */
import type { BlobUploadPlan } from "../../protocol/artifacts.js";

/** Whose blobs: an entity's project (names, as in URLs and object keys). */
export interface BlobScope {
  entity: string;
  project: string;
}

export interface BlobStore {
  /** "filesystem" or "s3": for logs and the server's start line. */
  readonly kind: "filesystem" | "s3";
  /** Which of `digests` the scope lacks (each asked once; the answer in the order asked). */
  missing(scope: BlobScope, digests: string[]): Promise<string[]>;
  /**
   * How to upload a blob of `size` bytes (BlobUploadPlan): `exists` when stored already; one part
   * up to ARTIFACT_PART_BYTES; parts above it. `uploadId` resumes an upload begun before.
   * `apiBase` is this server's URL for the filesystem backend's own part routes.
   */
  planUpload(scope: BlobScope, digest: string, size: number, uploadId: string | null, apiBase: string): Promise<BlobUploadPlan>;
  /** Completes a multipart upload; the blob is stored under its digest once its bytes match it. */
  completeUpload(scope: BlobScope, digest: string, uploadId: string, parts: { number: number; etag: string }[]): Promise<void>;
  /** Where to download a blob: a path on this server, or a presigned URL of the bucket. */
  downloadUrl(scope: BlobScope, digest: string, apiBase: string): Promise<string>;
  close(): Promise<void>;
}
