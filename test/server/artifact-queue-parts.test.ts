/**
 * The daemon's artifact queue (its real HTTP: POSTs and byte-range PUTs from disk) against a real
 * server on loopback with small parts (1 KiB), on the filesystem blob store and on S3 (s3rver,
 * presigned URLs): a large blob goes in parts, a daemon that dies after a part leaves what a
 * successor needs, the successor sends only the parts still missing, and the server holds the
 * bytes exactly; then the version is logged.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArtifactQueue } from "../../src/daemon/artifact-queue.js";
import { putFileRange, type PutRangeFn } from "../../src/daemon/http-put.js";
import { openBlobStore } from "../../src/server/blobs/open-blob-store.js";
import { writeLogEntry } from "../helpers/artifact-queue.js";
import { startS3, type TestS3 } from "../helpers/s3.js";
import { PART, blobsPath, call, download, sha256, startBlobServer, type BlobBackend, type BlobServer } from "./blobs-suite.js";

const silent = pino({ level: "silent" });
let s3: TestS3;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(async () => {
  await s3?.stop();
});

let prefixes = 0;
const backends: [string, BlobBackend][] = [
  ["filesystem", { open: (dataDir, partBytes) => openBlobStore(undefined, { dataDir, partBytes }) }],
  ["S3", { open: (dataDir, partBytes) => openBlobStore(`s3://${s3.bucket}/queue-${++prefixes}`, { dataDir, partBytes, env: s3.env }) }],
];

describe.each(backends)("the artifact queue against the blob routes, %s backend", (_name, backend) => {
  let s: BlobServer & { close(): Promise<void> };
  beforeAll(async () => {
    s = await startBlobServer(backend);
  });
  afterAll(async () => {
    await s?.close();
  });

  const queue = (runDir: string, put: PutRangeFn, backoff = { baseMs: 60_000, maxMs: 60_000 }) =>
    new ArtifactQueue({ runDir, target: { baseUrl: s.server.url, apiKey: s.keys.alice, entity: "alice", project: "data", runId: "blobrun1" }, log: silent, upload: true, runExists: true, put, backoff });

  it("sends a blob of three parts as byte ranges of the staged file; a successor daemon sends only the parts still missing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "trk-aqp-"));
    const big = randomBytes(2 * PART + 300);
    const small = randomBytes(200);
    const { entry } = writeLogEntry(dir, "parts", { "big.bin": big, "small.bin": small });
    const sent: { url: string; start: number; length: number; auth: boolean }[] = [];
    let failPart2 = true;
    let failed!: () => void;
    const partFailed = new Promise<void>((resolve) => (failed = resolve));
    const put: PutRangeFn = (url, headers, file, start, length, timeoutMs, caFile) => {
      sent.push({ url, start, length, auth: "authorization" in headers });
      if (failPart2 && start === PART && length === PART) {
        failed();
        return Promise.reject(new Error("ECONNRESET (the daemon dies here)"));
      }
      return putFileRange(url, headers, file, start, length, timeoutMs, caFile);
    };
    const first = queue(dir, put);
    first.start();
    first.add(entry);
    await partFailed;
    await first.close(); // the daemon is gone; its backoff never ends
    const state = JSON.parse(readFileSync(join(dir, "artifacts", "uploads", `${sha256(big)}.json`), "utf8")) as { uploadId: string; parts: { number: number }[] };
    expect(state.parts.map((p) => p.number)).toEqual([1]);

    failPart2 = false;
    const before = sent.length;
    const second = queue(dir, put);
    second.start(); // takes the entry from disk
    expect(await second.wait(entry, 10_000)).toEqual({ version: 0, error: null });
    await second.close();
    // The successor sends the big blob's two missing parts; the small blob (uploaded beside the
    // big one, by whichever daemon got to it) is sent once in all.
    const ranges = sent.slice(before).map((p) => [p.start, p.length]);
    expect(ranges.filter(([, length]) => length !== small.length)).toEqual([
      [PART, PART],
      [2 * PART, 300],
    ]);
    expect(sent.filter((p) => p.start === 0 && p.length === small.length)).toHaveLength(1);
    expect(Buffer.compare((await download(s, sha256(big))).bytes, big)).toBe(0);
    expect(Buffer.compare((await download(s, sha256(small))).bytes, small)).toBe(0);
    // Presigned URLs of the bucket get no credentials; the server's own URLs the API key.
    for (const p of sent) expect(p.auth).toBe(!/^https?:/.test(p.url.replace(s.server.url, "")));
  });

  it("begins anew a multipart upload the store no longer knows (expired, aborted), instead of giving the artifact up", async () => {
    const dir = mkdtempSync(join(tmpdir(), "trk-aqp-"));
    const big = randomBytes(2 * PART + 100);
    const { entry } = writeLogEntry(dir, "gone-upload", { "big.bin": big });
    // What a daemon left of an upload that the store has since forgotten: its id, one part sent.
    mkdirSync(join(dir, "artifacts", "uploads"), { recursive: true });
    const gone = { uploadId: "0123456789abcdef0123456789abcdef", parts: [{ number: 1, etag: '"0123"' }] };
    writeFileSync(join(dir, "artifacts", "uploads", `${sha256(big)}.json`), JSON.stringify(gone));
    // S3 answers a part of an upload it no longer has 404 NoSuchUpload (s3rver takes the part).
    const put: PutRangeFn = (url, headers, file, start, length, timeoutMs, caFile) =>
      url.includes(gone.uploadId)
        ? Promise.resolve({ status: 404, headers: {}, text: "<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>" })
        : putFileRange(url, headers, file, start, length, timeoutMs, caFile);
    const q = queue(dir, put, { baseMs: 1, maxMs: 5 });
    q.start();
    expect(await q.wait(entry, 20_000)).toEqual({ version: 0, error: null });
    await q.close();
    expect(Buffer.compare((await download(s, sha256(big))).bytes, big)).toBe(0);
  });

  it.each([
    ["one part", 300],
    ["three parts", 2 * PART + 300],
  ])("refuses a staged file rewritten in place since it was staged (%s), and stores nothing under its digest", async (_what, size) => {
    const dir = mkdtempSync(join(tmpdir(), "trk-aqp-"));
    const bytes = randomBytes(size);
    const { entry } = writeLogEntry(dir, `rewritten-${size}`, { "model.bin": bytes });
    // The user's program writes the file again in place: the hard link staged it shares the bytes.
    const changed = Buffer.from(bytes);
    changed[0] ^= 0xff;
    writeFileSync(join(dir, "artifacts", "blobs", sha256(bytes)), changed);
    const q = queue(dir, putFileRange, { baseMs: 1, maxMs: 5 });
    q.start();
    const result = await q.wait(entry, 20_000);
    await q.close();
    expect(result?.version).toBeNull();
    expect(result?.error).toMatch(/^TRK_ERR_DIGEST_MISMATCH/);
    const missing = await call(s, "POST", `${blobsPath(s)}/missing`, { digests: [sha256(bytes)] });
    expect(missing.json).toEqual({ missing: [sha256(bytes)] });
  });
});
