/**
 * The blob routes on the S3 backend, against a real S3-compatible server (s3rver on loopback,
 * test/helpers/s3.ts) that checks the presigned URLs' signatures: the shared suite, and what
 * sets S3 apart: the bytes go between the client and the bucket, never through the server.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openBlobStore } from "../../src/server/blobs/open-blob-store.js";
import { startS3, type TestS3 } from "../helpers/s3.js";
import { blobsPath, blobRouteSuite, call, download, plan, putTo, sha256, startBlobServer, type BlobBackend, type BlobServer } from "./blobs-suite.js";

let s3: TestS3;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(async () => {
  await s3?.stop();
});

let stores = 0;
/** Each server its own prefix: a blob stored by one test's server is not another's. */
const bucket: BlobBackend = { open: (dataDir, partBytes) => openBlobStore(`s3://${s3.bucket}/run-${++stores}`, { dataDir, partBytes, env: s3.env }) };

describe("blob routes, S3 backend", () => {
  blobRouteSuite(bucket);
});

describe("the S3 backend never carries the bytes", () => {
  let s: BlobServer & { close(): Promise<void> };
  beforeAll(async () => {
    s = await startBlobServer(bucket);
  });
  afterAll(async () => {
    await s?.close();
  });

  it("plans uploads to presigned URLs of the bucket, and answers a download with a redirect to one", async () => {
    const bytes = randomBytes(700);
    const digest = sha256(bytes);
    const p = await plan(s, digest, bytes.length);
    expect(p.parts[0].url.startsWith(`${s3.endpoint}/${s3.bucket}/run-`)).toBe(true);
    expect(p.parts[0].url).toContain(`/alice/data/${digest}?`);
    expect(p.parts[0].url).toContain("X-Amz-Signature=");
    expect((await putTo(s, p.parts[0].url, bytes)).status).toBe(200);
    const got = await download(s, digest);
    expect(got.redirectedTo?.startsWith(`${s3.endpoint}/${s3.bucket}/`)).toBe(true);
    expect(Buffer.compare(got.bytes, bytes)).toBe(0);
  });

  it("lets the web app's pages show images from the bucket (its origin in the CSP's img-src), and scripts from nowhere else", async () => {
    const page = await fetch(`${s.server.url}/`);
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toMatch(new RegExp(`img-src 'self' data: ${s3.endpoint.replace(/[.]/g, "\\.")};`));
    expect(csp).toContain("script-src 'self';");
    expect(csp).toContain("connect-src 'self';");
  });

  it("refuses PUTs of bytes to the server itself", async () => {
    const bytes = randomBytes(10);
    const put = await call(s, "PUT", `${blobsPath(s)}/${sha256(bytes)}`, bytes);
    expect([put.status, (put.json.error as { code: string }).code]).toEqual([400, "TRK_ERR_BAD_REQUEST"]);
  });
});
