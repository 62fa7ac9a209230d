/**
 * Blobs in an S3-compatible bucket, as `<prefix>/<entity>/<project>/<digest>`. Clients PUT and
 * GET the bytes through presigned URLs that this store signs: the server never carries them, so
 * it cannot check their sha256 itself. It checks what it can without the bytes (a multipart
 * upload's size), and clients check each file's sha256 when they download (docs/api.md).
 *
 * Configuration comes from the standard AWS environment (open-blob-store.ts); an endpoint (MinIO,
 * R2, s3rver in the tests) is addressed path-style, `http://host/bucket/key`.
 */
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { ARTIFACT_PART_BYTES, type BlobUploadPlan } from "../../protocol/artifacts.js";
import { errors } from "../../protocol/errors.js";
import type { BlobScope, BlobStore } from "./blob-store.js";
import type { BlobAnswer } from "./blob-type.js";
import { missingOf, partCount } from "./upload-parts.js";

/** HEAD requests at once when answering `missing` (each is a round trip to the bucket). */
const HEAD_CONCURRENCY = 16;

/**
 * How long a presigned URL works: an hour. A daemon whose plan's URLs expired (403) asks for the
 * plan again with its uploadId; a download's URLs are signed when the version is read.
 */
export const DEFAULT_URL_EXPIRES_S = 3600;

/** The planned size, kept on a multipart upload (and so on its object) for complete to check. */
const SIZE_METADATA = "trackside-size";

export interface S3BlobStoreOptions {
  bucket: string;
  /** Key prefix without slashes at its ends; "" for none. */
  prefix: string;
  /** An S3-compatible endpoint (http://127.0.0.1:9000); addressed path-style. Left out: AWS S3. */
  endpoint?: string;
  region: string;
  /** Left out: the SDK's default chain (profiles, instance roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Bytes above this go in parts of this size; default ARTIFACT_PART_BYTES. S3 wants 5 MiB at least (s3rver does not check). */
  partBytes?: number;
  /** Lifetime of presigned URLs in seconds; default DEFAULT_URL_EXPIRES_S. */
  urlExpiresS?: number;
}

const statusOf = (err: unknown): number | undefined => (err instanceof S3ServiceException ? err.$metadata.httpStatusCode : undefined);

export class S3BlobStore implements BlobStore {
  readonly kind = "s3" as const;
  readonly partBytes: number;
  readonly bytes = null;
  readonly downloadOrigins: readonly string[];
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly expiresIn: number;

  /**
   * @example
   * const blobs = new S3BlobStore({ bucket: "ml", prefix: "trackside", region: "us-east-1" });
   */
  constructor(options: S3BlobStoreOptions) {
    // The SDK warns on every client of Node.js 20 (supported by this release; see docs/dependencies.md).
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
    this.bucket = options.bucket;
    this.prefix = options.prefix;
    this.partBytes = options.partBytes ?? ARTIFACT_PART_BYTES;
    this.expiresIn = options.urlExpiresS ?? DEFAULT_URL_EXPIRES_S;
    // Where presigned URLs point: the endpoint (path-style), or AWS's bucket host (virtual-hosted;
    // path-style on the regional host for a bucket name the SDK cannot put in a host name).
    this.downloadOrigins = options.endpoint
      ? [new URL(options.endpoint).origin]
      : [`https://${options.bucket}.s3.${options.region}.amazonaws.com`, `https://s3.${options.region}.amazonaws.com`];
    this.client = new S3Client({
      region: options.region,
      ...(options.endpoint ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      // Otherwise the SDK adds a CRC32 of the (empty) body to presigned PUTs, which S3 then
      // holds the real bytes to: no upload through them could succeed.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
  }

  private key(scope: BlobScope, digest: string): string {
    const key = `${scope.entity}/${scope.project}/${digest}`;
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  /** The object's size and planned size, or null when there is none. */
  private async head(scope: BlobScope, digest: string): Promise<{ size: number; planned: number | null } | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(scope, digest) }));
      const planned = head.Metadata?.[SIZE_METADATA];
      return { size: head.ContentLength ?? 0, planned: planned === undefined ? null : Number(planned) };
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  async missing(scope: BlobScope, digests: string[]): Promise<string[]> {
    return missingOf(digests, HEAD_CONCURRENCY, async (digest) => (await this.head(scope, digest)) !== null);
  }

  async planUpload(scope: BlobScope, digest: string, size: number, uploadId: string | null): Promise<BlobUploadPlan> {
    const count = partCount(size, this.partBytes);
    if (await this.head(scope, digest)) return { exists: true, uploadId: null, partBytes: this.partBytes, parts: [] };
    const Key = this.key(scope, digest);
    if (size <= this.partBytes) {
      const url = await getSignedUrl(this.client, new PutObjectCommand({ Bucket: this.bucket, Key }), { expiresIn: this.expiresIn });
      return { exists: false, uploadId: null, partBytes: this.partBytes, parts: [{ number: 1, url }] };
    }
    // S3 cannot list an upload's parts here (nor can s3rver): a resumed upload is taken on trust,
    // and one that is gone fails its part PUTs (404), after which the client begins anew.
    let id = uploadId;
    if (id === null) {
      const created = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key, Metadata: { [SIZE_METADATA]: String(size) } }));
      if (!created.UploadId) throw errors.internal("the object store began a multipart upload without an upload id");
      id = created.UploadId;
    }
    const parts = await Promise.all(
      Array.from({ length: count }, async (_, i) => ({
        number: i + 1,
        url: await getSignedUrl(this.client, new UploadPartCommand({ Bucket: this.bucket, Key, UploadId: id, PartNumber: i + 1 }), { expiresIn: this.expiresIn }),
      })),
    );
    return { exists: false, uploadId: id, partBytes: this.partBytes, parts };
  }

  async completeUpload(scope: BlobScope, digest: string, uploadId: string, parts: { number: number; etag: string }[]): Promise<{ size: number }> {
    const Key = this.key(scope, digest);
    const sorted = [...parts].sort((a, b) => a.number - b.number);
    try {
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key,
          UploadId: uploadId,
          MultipartUpload: { Parts: sorted.map((p) => ({ PartNumber: p.number, ETag: p.etag })) },
        }),
      );
    } catch (err) {
      // Completed already (a retry after a lost answer; S3 answers NoSuchUpload, s3rver a 500):
      // the object is there, and its bytes are what they are either way.
      const done = await this.head(scope, digest);
      if (done) return { size: done.size };
      const status = statusOf(err);
      if (status === 404) throw errors.notFound(`Upload ${uploadId} of blob ${digest}`);
      if (status === 400) throw errors.badRequest(`the object store refused to complete upload ${uploadId}: ${(err as Error).message}`);
      throw err;
    }
    const stored = await this.head(scope, digest);
    if (!stored) throw errors.internal(`the object store completed upload ${uploadId} but has no object ${Key}`);
    if (stored.planned !== null && stored.planned !== stored.size) {
      // Not the blob's bytes: drop them, so that `missing` names the digest again.
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
      throw errors.badRequest(`the parts of blob ${digest} hold ${stored.size} bytes, not the ${stored.planned} planned; they were dropped (ask for a new plan)`);
    }
    return { size: stored.size };
  }

  async firstBytes(scope: BlobScope, digest: string, count: number): Promise<Buffer | null> {
    // Asked first: a range of an empty object is unsatisfiable (S3 answers 416; s3rver drops the connection).
    const found = await this.head(scope, digest);
    if (!found) return null;
    if (found.size === 0) return Buffer.alloc(0);
    try {
      const got = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(scope, digest), Range: `bytes=0-${count - 1}` }));
      return got.Body ? Buffer.from(await got.Body.transformToByteArray()).subarray(0, count) : Buffer.alloc(0);
    } catch (err) {
      const status = statusOf(err);
      if (status === 404) return null; // gone since the HEAD
      throw err;
    }
  }

  async downloadUrl(scope: BlobScope, digest: string, _apiBase?: string, answer?: BlobAnswer): Promise<string> {
    // The objects were PUT as application/octet-stream (the daemon's uploads): the answer's
    // headers are asked of the bucket in the signed URL (response-content-type, ...-disposition).
    const get = new GetObjectCommand({
      Bucket: this.bucket,
      Key: this.key(scope, digest),
      ...(answer ? { ResponseContentType: answer.contentType, ResponseContentDisposition: answer.disposition } : {}),
    });
    return getSignedUrl(this.client, get, { expiresIn: this.expiresIn });
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
