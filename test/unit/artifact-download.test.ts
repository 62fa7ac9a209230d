/**
 * downloadVersion (src/client/artifact-download.ts) against a small HTTP server on 127.0.0.1
 * that plays the tracking server and an object store: every file is checked against its sha256
 * before it takes its place, the API key goes to the server's own paths only, and a path from
 * the manifest cannot leave the target directory.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { downloadVersion } from "../../src/client/artifact-download.js";
import type { ArtifactVersionDetail } from "../../src/protocol/index.js";

const sha = (data: string): string => createHash("sha256").update(data).digest("hex");

/** What the fake server serves, by path; and what it was asked. */
const bodies = new Map<string, string>();
const asked: { path: string; headers: IncomingHttpHeaders }[] = [];
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? "";
    asked.push({ path, headers: req.headers });
    if (path.startsWith("/redirect/")) {
      // The server's blob route with an S3 store: a redirect to the object store's presigned URL.
      res.writeHead(302, { location: `http://localhost:${(server.address() as AddressInfo).port}/store/${path.slice("/redirect/".length)}?X-Amz-Signature=abc` }).end();
      return;
    }
    const body = bodies.get(path.replace(/\?.*$/, ""));
    if (body === undefined) {
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "TRK_ERR_NOT_FOUND", message: `${path} was not found.` } }));
      return;
    }
    res.writeHead(200, { "content-type": "application/octet-stream" }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));
beforeEach(() => {
  bodies.clear();
  asked.length = 0;
});

function version(files: { path: string; content: string; url: string; digest?: string }[]): ArtifactVersionDetail {
  return {
    entity: "e",
    project: "p",
    name: "mnist",
    type: "dataset",
    version: 3,
    ref: "mnist:v3",
    aliases: ["latest"],
    digest: "0".repeat(64),
    size: files.reduce((n, f) => n + f.content.length, 0),
    fileCount: files.length,
    createdAt: 0,
    description: null,
    metadata: {},
    files: files.map((f) => ({ path: f.path, digest: f.digest ?? sha(f.content), size: f.content.length, url: f.url })),
    references: [],
    producedBy: [],
    usedBy: [],
  };
}

describe("downloadVersion", () => {
  it("writes each file at its path, the server's own paths with the key, presigned URLs without", async () => {
    bodies.set("/api/v1/artifacts/e/p/blobs/aaa", "train rows");
    bodies.set("/store/bbb", "test rows");
    const detail = version([
      { path: "train/rows.csv", content: "train rows", url: "/api/v1/artifacts/e/p/blobs/aaa" },
      { path: "test.csv", content: "test rows", url: "/redirect/bbb" },
    ]);
    const dir = join(mkdtempSync(join(tmpdir(), "trk-dl-")), "mnist-v3");
    const seen: [number, number][] = [];
    await downloadVersion(detail, dir, { baseUrl: base, apiKey: "trk_secret" }, (done, total) => seen.push([done, total]));
    expect(readFileSync(join(dir, "train/rows.csv"), "utf8")).toBe("train rows");
    expect(readFileSync(join(dir, "test.csv"), "utf8")).toBe("test rows");
    expect(seen[seen.length - 1]).toEqual([19, 19]);
    const auth = Object.fromEntries(asked.map((a) => [a.path.replace(/\?.*$/, ""), a.headers.authorization ?? null]));
    expect(auth).toEqual({
      "/api/v1/artifacts/e/p/blobs/aaa": "Bearer trk_secret",
      "/redirect/bbb": "Bearer trk_secret",
      // Another origin (localhost, not 127.0.0.1): the key stays behind.
      "/store/bbb": null,
    });
  });

  it("refuses bytes that do not match their digest with TRK_ERR_DIGEST_MISMATCH, keeping nothing of them", async () => {
    bodies.set("/a", "good");
    bodies.set("/b", "tampered");
    const detail = version([
      { path: "a.txt", content: "good", url: "/a" },
      { path: "b.txt", content: "tampered", url: "/b", digest: sha("original") },
    ]);
    const dir = mkdtempSync(join(tmpdir(), "trk-dl-"));
    await expect(downloadVersion(detail, dir, { baseUrl: base, apiKey: null })).rejects.toMatchObject({
      code: "TRK_ERR_DIGEST_MISMATCH",
      message: expect.stringContaining(`mnist:v3 file "b.txt"`),
    });
    expect(existsSync(join(dir, "b.txt"))).toBe(false);
    expect(readdirSync(dir).filter((n) => n.endsWith(".tmp"))).toEqual([]);
  });

  it("keeps a file already there with the right digest, and replaces one with the wrong bytes", async () => {
    bodies.set("/a", "alpha");
    bodies.set("/b", "beta");
    const dir = mkdtempSync(join(tmpdir(), "trk-dl-"));
    writeFileSync(join(dir, "a.txt"), "alpha");
    writeFileSync(join(dir, "b.txt"), "BETA");
    await downloadVersion(version([{ path: "a.txt", content: "alpha", url: "/a" }, { path: "b.txt", content: "beta", url: "/b" }]), dir, { baseUrl: base, apiKey: null });
    expect(asked.map((a) => a.path)).toEqual(["/b"]);
    expect(readFileSync(join(dir, "b.txt"), "utf8")).toBe("beta");
  });

  it("passes on the server's coded error, and refuses a path that leaves the directory", async () => {
    const dir = mkdtempSync(join(tmpdir(), "trk-dl-"));
    await expect(downloadVersion(version([{ path: "x", content: "x", url: "/missing" }]), dir, { baseUrl: base, apiKey: null })).rejects.toMatchObject({ code: "TRK_ERR_NOT_FOUND" });
    mkdirSync(join(dir, "inner"));
    bodies.set("/evil", "evil");
    await expect(downloadVersion(version([{ path: "../evil.sh", content: "evil", url: "/evil" }]), join(dir, "inner"), { baseUrl: base, apiKey: null })).rejects.toMatchObject({ code: "TRK_ERR_INVALID_ARTIFACT" });
    expect(existsSync(join(dir, "evil.sh"))).toBe(false);
  });
});
