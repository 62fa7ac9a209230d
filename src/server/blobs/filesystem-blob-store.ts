/**
 * Blobs in the data directory: `<root>/blobs/<entity>/<project>/<digest[0..2]>/<digest>`, each
 * written to a temp file beside its place while its sha256 is computed, and renamed into place
 * only when that is its name (a rename within a directory is atomic: a blob is whole or absent,
 * and two replicas writing the same blob at once leave one). A multipart upload writes each part
 * at its place in one file, `<root>/uploads/<uploadId>/blob`, with the part's sha256 (its ETag)
 * beside it once its bytes are synced; complete hashes that file once and renames it into place.
 * (It was parts in files of their own, concatenated by complete: a second write of every byte,
 * which took 9.8 s of a 960 MiB blob's 17 s on this machine's disk.)
 *
 * Several server replicas need `root` on a directory they share (docs/deploy.md).
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { ARTIFACT_PART_BYTES, type BlobUploadPlan } from "../../protocol/artifacts.js";
import { errors } from "../../protocol/errors.js";
import type { BlobBytes, BlobScope, BlobStore, StoredBytes } from "./blob-store.js";
import { hashFile, writeBody } from "./hashed-write.js";
import { bareEtag, blobUrl, checkPartNumber, missingOf, partCount, partSize, partUrl } from "./upload-parts.js";

/** An upload id: 32 hex characters (128 random bits); it names a directory, so nothing else passes. */
const UPLOAD_ID = /^[0-9a-f]{32}$/;

/** Stats at once when answering `missing` (a version may name thousands of files). */
const STAT_CONCURRENCY = 32;

/** What `<root>/uploads/<uploadId>/upload.json` holds: the plan the parts must fit. */
interface UploadInfo {
  entity: string;
  project: string;
  digest: string;
  size: number;
  partBytes: number;
}

export interface FilesystemBlobStoreOptions {
  /** Bytes above this go in parts of this size; default ARTIFACT_PART_BYTES (tests use less). */
  partBytes?: number;
}

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR";

/**
 * A project name as a directory name: itself, unless its UTF-8 is longer than a file name may be
 * (128 characters of some scripts are 384 bytes; NAME_MAX is 255): then `#` and its sha256,
 * which no project name can be (`#` is not allowed in one).
 */
function projectDir(project: string): string {
  return Buffer.byteLength(project) <= 255 ? project : `#${createHash("sha256").update(project).digest("hex")}`;
}

export class FilesystemBlobStore implements BlobStore, BlobBytes {
  readonly kind = "filesystem" as const;
  readonly downloadOrigins: readonly string[] = [];
  readonly partBytes: number;
  readonly bytes: BlobBytes = this;

  /**
   * @param root the store's directory (`<dataDir>/artifacts`); made on first write.
   * @example
   * const blobs = new FilesystemBlobStore(join(dataDir, "artifacts"));
   */
  constructor(
    readonly root: string,
    options: FilesystemBlobStoreOptions = {},
  ) {
    this.partBytes = options.partBytes ?? ARTIFACT_PART_BYTES;
    if (!Number.isSafeInteger(this.partBytes) || this.partBytes < 1) throw errors.invalidOption("partBytes", this.partBytes, "a whole number of bytes from 1");
  }

  private blobDir(scope: BlobScope, digest: string): string {
    return join(this.root, "blobs", scope.entity, projectDir(scope.project), digest.slice(0, 2));
  }

  private blobFile(scope: BlobScope, digest: string): string {
    return join(this.blobDir(scope, digest), digest);
  }

  private uploadDir(uploadId: string): string {
    return join(this.root, "uploads", uploadId);
  }

  private async has(scope: BlobScope, digest: string): Promise<boolean> {
    try {
      return (await stat(this.blobFile(scope, digest))).isFile();
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  async missing(scope: BlobScope, digests: string[]): Promise<string[]> {
    return missingOf(digests, STAT_CONCURRENCY, (digest) => this.has(scope, digest));
  }

  /** The upload's plan as written when it began, or null when there is none of that id for this blob. */
  private async upload(uploadId: string, scope?: BlobScope, digest?: string): Promise<UploadInfo | null> {
    if (!UPLOAD_ID.test(uploadId)) return null;
    let text: string;
    try {
      text = await readFile(join(this.uploadDir(uploadId), "upload.json"), "utf8");
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
    let info: UploadInfo;
    try {
      info = JSON.parse(text) as UploadInfo;
    } catch {
      // Torn by a crash while it was written: an upload that never began (its uploader begins a new one).
      return null;
    }
    if (typeof info !== "object" || info === null) return null;
    if (scope && (info.entity !== scope.entity || info.project !== scope.project || info.digest !== digest)) return null;
    return info;
  }

  async planUpload(scope: BlobScope, digest: string, size: number, uploadId: string | null, apiBase: string): Promise<BlobUploadPlan> {
    const count = partCount(size, this.partBytes);
    if (await this.has(scope, digest)) return { exists: true, uploadId: null, partBytes: this.partBytes, parts: [] };
    if (size <= this.partBytes) return { exists: false, uploadId: null, partBytes: this.partBytes, parts: [{ number: 1, url: blobUrl(apiBase, scope, digest) }] };
    // The same upload when it is still there and for the same bytes; a new one otherwise (it
    // completed, or its parts were cut for another size).
    const before = uploadId === null ? null : await this.upload(uploadId, scope, digest);
    let id = before && before.size === size && before.partBytes === this.partBytes ? uploadId! : null;
    if (id === null) {
      id = randomBytes(16).toString("hex");
      const info: UploadInfo = { entity: scope.entity, project: scope.project, digest, size, partBytes: this.partBytes };
      await mkdir(this.uploadDir(id), { recursive: true });
      await writeFile(join(this.uploadDir(id), "upload.json"), JSON.stringify(info));
    }
    const parts = Array.from({ length: count }, (_, i) => ({ number: i + 1, url: partUrl(apiBase, scope, digest, id, i + 1) }));
    return { exists: false, uploadId: id, partBytes: this.partBytes, parts };
  }

  async putBlob(scope: BlobScope, digest: string, body: Readable): Promise<StoredBytes> {
    const dir = this.blobDir(scope, digest);
    await mkdir(dir, { recursive: true });
    const temp = join(dir, `.${digest}.${randomBytes(6).toString("hex")}.tmp`);
    const written = await writeBody(body, temp, this.partBytes);
    if (written.sha256 !== digest) {
      await rm(temp, { force: true });
      throw errors.digestMismatch(`the blob uploaded as ${digest}`, digest, written.sha256);
    }
    await rename(temp, this.blobFile(scope, digest));
    return { etag: `"${written.sha256}"`, size: written.size };
  }

  async putPart(scope: BlobScope, digest: string, uploadId: string, number: number, body: Readable): Promise<StoredBytes> {
    const info = await this.upload(uploadId, scope, digest);
    if (!info) throw errors.notFound(`Upload ${uploadId} of blob ${digest}`);
    const n = checkPartNumber(number, partCount(info.size, info.partBytes));
    const want = partSize(info.size, info.partBytes, n);
    const dir = this.uploadDir(uploadId);
    // The part's ETag goes first: until this PUT has synced every byte, complete refuses the part.
    const etagFile = join(dir, `${n}.etag`);
    await rm(etagFile, { force: true });
    const written = await writeBody(body, join(dir, "blob"), want, (n - 1) * info.partBytes);
    if (written.size !== want) throw errors.badRequest(`part ${n} of blob ${digest} has ${written.size} bytes; the plan cut it at ${want}`);
    const temp = `${etagFile}.${randomBytes(6).toString("hex")}.tmp`;
    await writeFile(temp, written.sha256);
    await rename(temp, etagFile);
    // The part's sha256 is its ETag: complete checks each part against the one its PUT answered.
    return { etag: `"${written.sha256}"`, size: written.size };
  }

  async completeUpload(scope: BlobScope, digest: string, uploadId: string, parts: { number: number; etag: string }[]): Promise<{ size: number }> {
    const info = await this.upload(uploadId, scope, digest);
    const completedBefore = async () => {
      // Completed already (a retry after a lost answer, or another replica): the blob is there.
      const done = await stat(this.blobFile(scope, digest)).catch(() => null);
      return done?.isFile() ? { size: done.size } : null;
    };
    if (!info) {
      const done = await completedBefore();
      if (done) return done;
      throw errors.notFound(`Upload ${uploadId} of blob ${digest}`);
    }
    const count = partCount(info.size, info.partBytes);
    const sorted = [...parts].sort((a, b) => a.number - b.number);
    if (sorted.length !== count || sorted.some((p, i) => p.number !== i + 1)) {
      throw errors.badRequest(`complete names parts ${sorted.map((p) => p.number).join(", ") || "none"}; blob ${digest} has parts 1 to ${count}`);
    }
    const dir = this.uploadDir(uploadId);
    for (const p of sorted) {
      const stored = await readFile(join(dir, `${p.number}.etag`), "utf8").catch(() => null);
      if (stored === null) {
        const done = await completedBefore();
        if (done) return done;
        throw errors.badRequest(`part ${p.number} of upload ${uploadId} was not uploaded (PUT it, then complete again)`);
      }
      // A part PUT again since its ETag was taken (or a wrong ETag): the caller's parts are not these.
      if (bareEtag(p.etag) !== stored) throw errors.badRequest(`the ETag given for part ${p.number} is not the stored part's ("${stored}"); PUT that part again`);
    }
    const data = join(dir, "blob");
    let written: Awaited<ReturnType<typeof hashFile>>;
    try {
      written = await hashFile(data);
    } catch (err) {
      // Another complete of the same upload (a retry, another replica) finished first and took the file away.
      const done = await completedBefore();
      if (done) return done;
      throw err;
    }
    if (written.sha256 !== digest || written.size !== info.size) {
      // The bytes are not the blob's: nothing of them is kept, and the upload begins anew.
      await rm(dir, { recursive: true, force: true });
      throw errors.digestMismatch(`the blob uploaded as ${digest} (${written.size} bytes in ${count} parts)`, digest, written.sha256);
    }
    await mkdir(this.blobDir(scope, digest), { recursive: true });
    try {
      await rename(data, this.blobFile(scope, digest));
    } catch (err) {
      const done = await completedBefore();
      if (done) return done;
      throw err;
    }
    await rm(dir, { recursive: true, force: true });
    return { size: written.size };
  }

  async openBlob(scope: BlobScope, digest: string): Promise<{ size: number; stream: Readable } | null> {
    const file = this.blobFile(scope, digest);
    try {
      const found = await stat(file);
      if (!found.isFile()) return null;
      return { size: found.size, stream: createReadStream(file) };
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async firstBytes(scope: BlobScope, digest: string, count: number): Promise<Buffer | null> {
    let handle;
    try {
      handle = await open(this.blobFile(scope, digest), "r");
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
    try {
      const buffer = Buffer.alloc(count);
      const { bytesRead } = await handle.read(buffer, 0, count, 0);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  async downloadUrl(scope: BlobScope, digest: string, apiBase: string): Promise<string> {
    return blobUrl(apiBase, scope, digest);
  }

  async close(): Promise<void> {}
}
