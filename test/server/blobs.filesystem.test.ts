/**
 * The blob routes on the filesystem backend (the default: `<dataDir>/artifacts`): the shared
 * suite, and what only a backend that sees the bytes can do: check each blob's sha256 as it
 * arrives, refuse a body over the part size, and keep nothing of what it refuses.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBlobStore } from "../../src/server/blobs/open-blob-store.js";
import { blobsPath, blobRouteSuite, call, download, missing, PART, plan, putTo, sha256, startBlobServer, upload, type BlobBackend, type BlobServer } from "./blobs-suite.js";

const filesystem: BlobBackend = { open: (dataDir, partBytes) => openBlobStore(undefined, { dataDir, partBytes }) };

describe("blob routes, filesystem backend", () => {
  blobRouteSuite(filesystem);
});

/** Every file under the store's directory, relative to it. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => statSync(join(dir, f)).isFile()).sort();
}

describe("the filesystem backend checks the bytes", () => {
  let s: BlobServer & { close(): Promise<void> };
  beforeAll(async () => {
    s = await startBlobServer(filesystem);
  });
  afterAll(async () => {
    await s?.close();
  });
  const blobsDir = () => join(s.dataDir, "artifacts", "blobs");
  const errorCode = (res: { json: Record<string, unknown> }) => (res.json.error as { code: string } | undefined)?.code;

  it("begins a new upload for a daemon resuming one whose plan file a crash left torn, instead of failing (500) on it forever", async () => {
    const bytes = randomBytes(2 * PART + 7);
    const first = await plan(s, sha256(bytes), bytes.length);
    // The server died while writing the plan: an empty or half-written upload.json.
    writeFileSync(join(s.dataDir, "artifacts", "uploads", first.uploadId!, "upload.json"), '{"entity":"al');
    const again = await call(s, "POST", `${blobsPath(s)}/${sha256(bytes)}/uploads`, { size: bytes.length, uploadId: first.uploadId });
    expect(again.status, JSON.stringify(again.json)).toBe(200);
    expect(again.json.uploadId).not.toBe(first.uploadId);
    expect((await upload(s, bytes, again.json as unknown as Parameters<typeof upload>[2])).status).toBe(200);
    expect((await download(s, sha256(bytes))).bytes.equals(bytes)).toBe(true);
  });

  it("keeps a blob at <dataDir>/artifacts/blobs/<entity>/<project>/<digest[0..2]>/<digest>", async () => {
    const bytes = randomBytes(300);
    const digest = sha256(bytes);
    expect((await upload(s, bytes)).status).toBe(200);
    expect(filesUnder(blobsDir())).toContain(join("alice", "data", digest.slice(0, 2), digest));
  });

  it("refuses a PUT whose bytes are not the digest's (TRK_ERR_DIGEST_MISMATCH), and keeps nothing", async () => {
    const before = filesUnder(blobsDir());
    const bytes = randomBytes(200);
    const claimed = sha256(randomBytes(200));
    const p = await plan(s, claimed, bytes.length);
    const put = await putTo(s, p.parts[0].url, bytes);
    expect([put.status, errorCode(put)]).toEqual([400, "TRK_ERR_DIGEST_MISMATCH"]);
    expect(put.json.error).toMatchObject({ message: expect.stringContaining(sha256(bytes)) });
    expect(await missing(s, [claimed])).toEqual([claimed]);
    expect((await download(s, claimed)).status).toBe(404);
    expect(filesUnder(blobsDir())).toEqual(before);
  });

  it("refuses a multipart upload whose whole is not the digest's, drops its parts, and keeps nothing", async () => {
    const before = filesUnder(blobsDir());
    const bytes = randomBytes(PART + 1);
    const claimed = sha256(Buffer.concat([bytes.subarray(0, PART), Buffer.from("x")]));
    const p = await plan(s, claimed, bytes.length);
    const parts = [];
    for (const part of p.parts) {
      const put = await putTo(s, part.url, bytes.subarray((part.number - 1) * PART, part.number * PART));
      expect(put.status).toBe(200);
      parts.push({ number: part.number, etag: put.headers.get("etag")! });
    }
    const done = await call(s, "POST", `${blobsPath(s)}/${claimed}/uploads/${p.uploadId}/complete`, { parts });
    expect([done.status, errorCode(done)]).toEqual([400, "TRK_ERR_DIGEST_MISMATCH"]);
    expect(await missing(s, [claimed])).toEqual([claimed]);
    expect(filesUnder(blobsDir())).toEqual(before);
    expect(existsSync(join(s.dataDir, "artifacts", "uploads", p.uploadId!))).toBe(false);
    // The upload is gone: completing it again finds nothing, and a new plan begins a new one.
    expect((await call(s, "POST", `${blobsPath(s)}/${claimed}/uploads/${p.uploadId}/complete`, { parts })).status).toBe(404);
    expect((await plan(s, claimed, bytes.length, p.uploadId)).uploadId).not.toBe(p.uploadId);
  });

  it("refuses a complete whose ETag is not the stored part's (the part was PUT again since)", async () => {
    const bytes = randomBytes(PART + 5);
    const digest = sha256(bytes);
    const p = await plan(s, digest, bytes.length);
    const parts = [];
    for (const part of p.parts) {
      const put = await putTo(s, part.url, bytes.subarray((part.number - 1) * PART, part.number * PART));
      parts.push({ number: part.number, etag: put.headers.get("etag")! });
    }
    const wrong = [{ ...parts[0], etag: `"${sha256(Buffer.from("other"))}"` }, parts[1]];
    const refused = await call(s, "POST", `${blobsPath(s)}/${digest}/uploads/${p.uploadId}/complete`, { parts: wrong });
    expect([refused.status, errorCode(refused)]).toEqual([400, "TRK_ERR_BAD_REQUEST"]);
    expect(await missing(s, [digest])).toEqual([digest]);
    // The parts are kept: the right ETags complete it.
    expect((await call(s, "POST", `${blobsPath(s)}/${digest}/uploads/${p.uploadId}/complete`, { parts })).status).toBe(200);
    expect(Buffer.compare((await download(s, digest)).bytes, bytes)).toBe(0);
  });

  it("refuses a body over the part size (TRK_ERR_TOO_LARGE) without keeping any of it", async () => {
    const before = filesUnder(blobsDir());
    const bytes = randomBytes(PART + 1);
    const put = await call(s, "PUT", `${blobsPath(s)}/${sha256(bytes)}`, bytes);
    expect([put.status, errorCode(put)]).toEqual([400, "TRK_ERR_TOO_LARGE"]);
    expect(filesUnder(blobsDir())).toEqual(before);
  });

  it("refuses a part of another size than planned, and a part of an unknown upload", async () => {
    const bytes = randomBytes(2 * PART);
    const digest = sha256(bytes);
    const p = await plan(s, digest, bytes.length);
    const short = await putTo(s, p.parts[0].url, bytes.subarray(0, PART - 1));
    expect([short.status, errorCode(short)]).toEqual([400, "TRK_ERR_BAD_REQUEST"]);
    const unknown = await call(s, "PUT", `${blobsPath(s)}/${digest}/uploads/${"0".repeat(32)}/parts/1`, bytes.subarray(0, PART));
    expect([unknown.status, errorCode(unknown)]).toEqual([404, "TRK_ERR_NOT_FOUND"]);
    const traversal = await call(s, "PUT", `${blobsPath(s)}/${digest}/uploads/..%2F..%2Fblobs/parts/1`, bytes.subarray(0, PART));
    expect(traversal.status).toBe(404);
    const beyond = await call(s, "PUT", `${blobsPath(s)}/${digest}/uploads/${p.uploadId}/parts/3`, bytes.subarray(0, PART));
    expect([beyond.status, errorCode(beyond)]).toEqual([400, "TRK_ERR_BAD_REQUEST"]);
  });

  it("streams a part of the full size (64 MiB) to disk and back", async () => {
    const big = await startBlobServer(filesystem, 64 * 1024 * 1024);
    try {
      const bytes = randomBytes(64 * 1024 * 1024);
      const res = await upload(big, bytes);
      expect([res.status, res.json]).toEqual([200, { digest: sha256(bytes), size: bytes.length }]);
      const got = await download(big, sha256(bytes));
      expect(sha256(got.bytes)).toBe(sha256(bytes));
    } finally {
      await big.close();
    }
  });
});
