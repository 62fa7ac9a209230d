/**
 * The daemon's artifact queue against a fake server in memory (the HTTP functions injected):
 * which blobs it sends, in which parts, what it resumes after a daemon's death, what it tries
 * again and what it gives up on. The real server and daemon: test/e2e/artifact-upload.test.ts.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readSync, openSync, closeSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { ArtifactQueue, MAX_NOT_FOUND } from "../../src/daemon/artifact-queue.js";
import type { PostResult } from "../../src/daemon/http-post.js";
import type { PutRangeFn } from "../../src/daemon/http-put.js";
import type { PostFn } from "../../src/daemon/uploader.js";
import { manifestDigest, type ArtifactManifest, type BlobUploadPlan, type LogVersionBody } from "../../src/protocol/index.js";
import { MAX_MISSING_DIGESTS } from "../../src/server/blobs/upload-parts.js";
import { sha256, writeEntry, writeLogEntry } from "../helpers/artifact-queue.js";

const silent = pino({ level: "silent" });
const target = { baseUrl: "http://127.0.0.1:1", apiKey: "key", entity: "e", project: "p", runId: "r1" };
const json = (status: number, body: unknown, headers: Record<string, string> = {}): PostResult => ({ status, headers, text: JSON.stringify(body) });
const coded = (status: number, code: string) => json(status, { error: { code, message: `${code} from the fake` } });

/**
 * A server in memory with the artifact routes: blobs of one project, multipart above `partBytes`,
 * versions numbered per name. `fault` may answer a request instead (by route), or throw (the network).
 */
function fakeServer(partBytes = 4) {
  const blobs = new Map<string, Buffer>();
  const uploads = new Map<string, { digest: string; parts: Map<number, Buffer> }>();
  const versions: LogVersionBody[] = [];
  const uses: unknown[] = [];
  const requests: string[] = [];
  const puts: { url: string; start: number; length: number; auth: string | undefined }[] = [];
  let fault: (route: string) => PostResult | "throw" | null = () => null;
  let nextUpload = 0;
  const route = (url: string) => url.replace(/^.*\/api\/v1\/artifacts\/e\/p\//, "").replace(/[0-9a-f]{64}/g, "D");
  const post: PostFn = async (url, headers, body) => {
    const r = route(url);
    requests.push(r);
    const f = fault(r);
    if (f === "throw") throw new Error("ECONNREFUSED (fake)");
    if (f) return f;
    if (headers.authorization !== "Bearer key") return coded(401, "TRK_ERR_UNAUTHORIZED");
    const b = JSON.parse(Buffer.from(body!).toString()) as Record<string, unknown>;
    // The real server's limit: ask in batches.
    if (r === "blobs/missing" && (b.digests as string[]).length > MAX_MISSING_DIGESTS) return coded(413, "TRK_ERR_TOO_LARGE");
    if (r === "blobs/missing") return json(200, { missing: (b.digests as string[]).filter((d) => !blobs.has(d)) });
    const digest = /blobs\/([0-9a-f]{64})/.exec(url)?.[1] ?? "";
    if (r === "blobs/D/uploads") {
      const size = b.size as number;
      if (blobs.has(digest)) return json(200, { exists: true, uploadId: null, partBytes, parts: [] } satisfies BlobUploadPlan);
      if (size <= partBytes) return json(200, { exists: false, uploadId: null, partBytes, parts: [{ number: 1, url: `/api/v1/artifacts/e/p/blobs/${digest}` }] } satisfies BlobUploadPlan);
      const id = typeof b.uploadId === "string" && uploads.has(b.uploadId) ? b.uploadId : `u${nextUpload++}`;
      if (!uploads.has(id)) uploads.set(id, { digest, parts: new Map() });
      const parts = Array.from({ length: Math.ceil(size / partBytes) }, (_, i) => ({ number: i + 1, url: `http://store.example/${id}/${i + 1}?sig=x` }));
      return json(200, { exists: false, uploadId: id, partBytes, parts } satisfies BlobUploadPlan);
    }
    const complete = /uploads\/([^/]+)\/complete$/.exec(url);
    if (complete) {
      const u = uploads.get(complete[1])!;
      const given = b.parts as { number: number; etag: string }[];
      const bytes = Buffer.concat(given.map((p) => u.parts.get(p.number)!));
      if (sha256(bytes) !== u.digest) return coded(400, "TRK_ERR_DIGEST_MISMATCH");
      blobs.set(u.digest, bytes);
      return json(200, { digest: u.digest, size: bytes.length });
    }
    if (r === "versions") {
      const v = b as unknown as LogVersionBody;
      const missing = v.manifest.files.filter((f) => !blobs.has(f.digest));
      if (missing.length > 0) return coded(409, "TRK_ERR_CONFLICT");
      versions.push(v);
      return json(200, { version: versions.filter((x) => x.manifest.name === v.manifest.name).length - 1 });
    }
    if (r === "uses") {
      uses.push(b);
      return json(200, { ok: true });
    }
    return coded(404, "TRK_ERR_NOT_FOUND");
  };
  const put: PutRangeFn = async (url, headers, file, start, length) => {
    puts.push({ url, start, length, auth: headers.authorization });
    const f = fault(`PUT ${url}`);
    if (f === "throw") throw new Error("ECONNRESET (fake)");
    if (f) return f;
    const bytes = Buffer.alloc(length);
    const fd = openSync(file, "r");
    readSync(fd, bytes, 0, length, start);
    closeSync(fd);
    const multipart = /store\.example\/(u\d+)\/(\d+)/.exec(url);
    if (multipart) {
      uploads.get(multipart[1])!.parts.set(Number(multipart[2]), bytes);
      return { status: 200, headers: { etag: `"etag-${multipart[2]}"` }, text: "" };
    }
    const digest = /blobs\/([0-9a-f]{64})$/.exec(url)![1];
    if (sha256(bytes) !== digest) return coded(400, "TRK_ERR_DIGEST_MISMATCH");
    blobs.set(digest, bytes);
    return { status: 200, headers: { etag: `"${digest}"` }, text: "" };
  };
  return { post, put, blobs, versions, uses, requests, puts, setFault: (f: typeof fault) => (fault = f) };
}

function queueFor(runDir: string, server: ReturnType<typeof fakeServer>, extra: Partial<ConstructorParameters<typeof ArtifactQueue>[0]> = {}) {
  return new ArtifactQueue({ runDir, target, log: silent, upload: true, runExists: true, post: server.post, put: server.put, backoff: { baseMs: 1, maxMs: 2 }, ...extra });
}

const runDir = () => mkdtempSync(join(tmpdir(), "trk-aq-"));
const doneFile = (dir: string, entry: string) => JSON.parse(readFileSync(join(dir, "artifacts", "queue", `${entry}.done.json`), "utf8")) as unknown;

describe("the artifact queue", () => {
  it("uploads only the blobs the server lacks, logs the version, and marks the entry done on disk", async () => {
    const dir = runDir();
    const server = fakeServer(64);
    const kept = Buffer.from("kept bytes");
    server.blobs.set(sha256(kept), kept);
    const { entry, manifest } = writeLogEntry(dir, "dataset", { "a.txt": kept, "b.txt": Buffer.from("new bytes") }, ["best"]);
    const q = queueFor(dir, server);
    q.start();
    q.add(entry);
    expect(q.status()).toMatchObject({ entries: 1, bytes: kept.length + 9 }); // before the server was asked: all of it
    expect(await q.wait(entry, 5000)).toEqual({ version: 0, error: null });
    await q.close();
    expect(server.puts.map((p) => [p.start, p.length, p.auth])).toEqual([[0, 9, "Bearer key"]]);
    expect(server.versions).toEqual([{ runId: "r1", manifest, aliases: ["best"] }]);
    expect(doneFile(dir, entry)).toEqual({ version: 0, error: null });
    expect(q.status()).toMatchObject({ entries: 0, bytes: 0 });
  });

  it("asks which blobs are missing in batches the server takes, for a version of more files than one request may name", async () => {
    const dir = runDir();
    const server = fakeServer();
    const files = Array.from({ length: MAX_MISSING_DIGESTS + 1 }, (_, i) => {
      const bytes = Buffer.from(`file ${i}`);
      server.blobs.set(sha256(bytes), bytes); // stored before: nothing to upload
      return { path: `f/${String(i).padStart(6, "0")}.txt`, digest: sha256(bytes), size: bytes.length };
    });
    const manifest: ArtifactManifest = { name: "many", type: "dataset", description: null, metadata: {}, files, references: [] };
    const entry = writeEntry(dir, { kind: "log", manifest, digest: manifestDigest(manifest), aliases: [] });
    const q = queueFor(dir, server);
    q.start();
    expect(await q.wait(entry, 5000)).toEqual({ version: 0, error: null });
    await q.close();
    expect(server.requests).toEqual(["blobs/missing", "blobs/missing", "versions"]);
  });

  it("gives the server time to check each file of a large version against a slow store (an S3 HEAD each), instead of timing out and asking again forever", async () => {
    const dir = runDir();
    const server = fakeServer();
    const files = Array.from({ length: 20_000 }, (_, i) => {
      const bytes = Buffer.from(`file ${i}`);
      server.blobs.set(sha256(bytes), bytes);
      return { path: `f/${String(i).padStart(6, "0")}.txt`, digest: sha256(bytes), size: bytes.length };
    });
    // The store answers 500 questions a second (16 HEADs at once of ~30 ms): a request naming
    // n digests takes n * 2 ms, which the daemon's timeout must allow for (else the request fails).
    const slow: PostFn = async (url, headers, body, timeoutMs, caFile) => {
      const named = JSON.parse(Buffer.from(body!).toString()) as { digests?: string[]; manifest?: { files: unknown[] } };
      const needs = 2 * (named.digests?.length ?? named.manifest?.files.length ?? 0);
      if (timeoutMs < needs) throw new Error(`no response within ${timeoutMs} ms`);
      return server.post(url, headers, body, timeoutMs, caFile);
    };
    const manifest: ArtifactManifest = { name: "many", type: "dataset", description: null, metadata: {}, files, references: [] };
    const entry = writeEntry(dir, { kind: "log", manifest, digest: manifestDigest(manifest), aliases: [] });
    const q = queueFor(dir, server, { post: slow, requestTimeoutMs: 30_000 });
    q.start();
    expect(await q.wait(entry, 5000)).toEqual({ version: 0, error: null });
    await q.close();
  });

  it("sends a large blob in byte ranges to presigned URLs without the key, and a successor daemon resumes its parts", async () => {
    const dir = runDir();
    const server = fakeServer(4);
    const big = Buffer.from("0123456789"); // parts 1..3 of 4, 4, 2 bytes
    const { entry } = writeLogEntry(dir, "model", { "weights.bin": big });
    // The first daemon: part 2's PUT fails, and the daemon dies (closed) before it tries again.
    server.setFault((r) => (r.endsWith("/2?sig=x") ? "throw" : null));
    const first = queueFor(dir, server, { backoff: { baseMs: 60_000, maxMs: 60_000 } });
    first.start();
    first.add(entry);
    await waitUntil(() => server.puts.length === 2);
    await first.close();
    const saved = JSON.parse(readFileSync(join(dir, "artifacts", "uploads", `${sha256(big)}.json`), "utf8")) as unknown;
    expect(saved).toEqual({ uploadId: "u0", parts: [{ number: 1, etag: '"etag-1"' }] });
    // The successor takes the entry from disk, asks for the same upload, and sends parts 2 and 3 only.
    server.setFault(() => null);
    const before = server.puts.length;
    const second = queueFor(dir, server);
    second.start();
    expect(await second.wait(entry, 5000)).toEqual({ version: 0, error: null });
    await second.close();
    expect(server.puts.slice(before).map((p) => [p.url.replace(/\?.*/, ""), p.start, p.length, p.auth])).toEqual([
      ["http://store.example/u0/2", 4, 4, undefined],
      ["http://store.example/u0/3", 8, 2, undefined],
    ]);
    expect(server.blobs.get(sha256(big))).toEqual(big);
    expect(existsSync(join(dir, "artifacts", "uploads", `${sha256(big)}.json`))).toBe(false);
  });

  it("tries again while the server is away or the run not there, and gives up on a refusal for good, going on with the next entry", async () => {
    const dir = runDir();
    const server = fakeServer(64);
    let failures = 0;
    server.setFault((r) => {
      if (r === "blobs/missing" && failures < 3) return ++failures === 1 ? "throw" : failures === 2 ? coded(503, "TRK_ERR_UNAVAILABLE") : coded(404, "TRK_ERR_NOT_FOUND");
      if (r === "uses") return coded(403, "TRK_ERR_FORBIDDEN");
      return null;
    });
    const logged = writeLogEntry(dir, "dataset", { "a.txt": Buffer.from("a") }).entry;
    const used = writeEntry(dir, { kind: "use", entity: "other", project: "p", name: "dataset", version: 2 });
    const after = writeLogEntry(dir, "dataset", { "a.txt": Buffer.from("a"), "b.txt": Buffer.from("b") }).entry;
    const q = queueFor(dir, server);
    q.start(); // a successor: takes all three from disk
    expect(q.status().entries).toBe(3);
    expect(await q.drain(5000)).toBe(true);
    await q.close();
    expect(failures).toBe(3);
    expect(doneFile(dir, logged)).toEqual({ version: 0, error: null });
    expect(doneFile(dir, used)).toEqual({ version: null, error: "TRK_ERR_FORBIDDEN: TRK_ERR_FORBIDDEN from the fake" });
    expect(doneFile(dir, after)).toEqual({ version: 1, error: null });
  });

  it(`gives up after ${MAX_NOT_FOUND} answers of 404 in a row`, async () => {
    const dir = runDir();
    const server = fakeServer();
    server.setFault((r) => (r === "uses" ? coded(404, "TRK_ERR_NOT_FOUND") : null));
    const entry = writeEntry(dir, { kind: "use", entity: "e", project: "p", name: "gone", version: 0 });
    const q = queueFor(dir, server);
    q.start();
    expect(await q.wait(entry, 5000)).toEqual({ version: null, error: "TRK_ERR_NOT_FOUND: TRK_ERR_NOT_FOUND from the fake" });
    await q.close();
    expect(server.requests.filter((r) => r === "uses")).toHaveLength(MAX_NOT_FOUND);
  });

  it("waits for the run to be on the server before it sends anything", async () => {
    const dir = runDir();
    const server = fakeServer();
    const entry = writeEntry(dir, { kind: "use", entity: "e", project: "p", name: "d", version: 1 });
    const q = queueFor(dir, server, { runExists: false });
    q.start();
    expect(await q.wait(entry, 50)).toBeNull();
    expect(server.requests).toEqual([]);
    q.runExists();
    expect(await q.wait(entry, 5000)).toEqual({ version: 1, error: null });
    await q.close();
  });

  it("marks an entry whose staged file is gone done with a coded error", async () => {
    const dir = runDir();
    const server = fakeServer();
    const { entry, manifest } = writeLogEntry(dir, "dataset", { "a.txt": Buffer.from("abc") });
    const { rmSync } = await import("node:fs");
    rmSync(join(dir, "artifacts", "blobs", manifest.files[0].digest));
    const q = queueFor(dir, server);
    q.start();
    const r = await q.wait(entry, 5000);
    await q.close();
    expect(r?.version).toBeNull();
    expect(r?.error).toMatch(/^TRK_ERR_INVALID_ARTIFACT: the staged file .* is gone/);
    expect(server.versions).toEqual([]);
  });

  it("a `blobs` entry (media) uploads only the blobs the server lacks, logs no version, and is done with version null", async () => {
    const dir = runDir();
    const server = fakeServer(64);
    const kept = Buffer.from("kept png");
    const fresh = Buffer.from("fresh png bytes");
    server.blobs.set(sha256(kept), kept);
    mkdirSync(join(dir, "artifacts", "blobs"), { recursive: true });
    for (const b of [kept, fresh]) writeFileSync(join(dir, "artifacts", "blobs", sha256(b)), b);
    const entry = writeEntry(dir, { kind: "blobs", blobs: [kept, fresh].map((b) => ({ digest: sha256(b), size: b.length })) });
    const q = queueFor(dir, server);
    q.start();
    q.add(entry);
    expect(q.status()).toMatchObject({ entries: 1, bytes: kept.length + fresh.length });
    expect(await q.wait(entry, 5000)).toEqual({ version: null, error: null });
    await q.close();
    expect(server.blobs.get(sha256(fresh))?.equals(fresh)).toBe(true);
    expect(server.puts.map((p) => p.length)).toEqual([fresh.length]);
    expect(server.versions).toEqual([]);
    expect(doneFile(dir, entry)).toEqual({ version: null, error: null });
  });

  it("takes the entries a client wrote at exit without handing them over (takeUnclaimed), and refuses a malformed `blobs` entry", async () => {
    const dir = runDir();
    const server = fakeServer(64);
    const png = Buffer.from("left at exit");
    mkdirSync(join(dir, "artifacts", "blobs"), { recursive: true });
    writeFileSync(join(dir, "artifacts", "blobs", sha256(png)), png);
    const q = queueFor(dir, server);
    q.start();
    const left = writeEntry(dir, { kind: "blobs", blobs: [{ digest: sha256(png), size: png.length }] });
    const bad = writeEntry(dir, { kind: "blobs", blobs: [{ digest: "not-a-digest", size: 1 }] } as never);
    q.takeUnclaimed();
    expect(await q.wait(left, 5000)).toEqual({ version: null, error: null });
    expect((await q.wait(bad, 5000))?.error).toMatch(/^TRK_ERR_INVALID_ARTIFACT: .*a blob's digest is not 64 hex characters/);
    await q.close();
    expect(server.blobs.get(sha256(png))?.equals(png)).toBe(true);
  });

  it("uploads media blobs that a killed process staged but named in no entry, once (takeStrayBlobs)", async () => {
    // The client stages an image at log() and writes the entry naming it just after: a process
    // killed in between (the OOM killer) leaves bytes whose record the daemon may hold already.
    const dir = runDir();
    const server = fakeServer(64);
    const [stray, named] = [Buffer.from("staged, never named"), Buffer.from("named and uploaded")];
    mkdirSync(join(dir, "artifacts", "blobs"), { recursive: true });
    for (const b of [stray, named]) writeFileSync(join(dir, "artifacts", "blobs", sha256(b)), b);
    // A half-written blob (its temp name) is no blob.
    writeFileSync(join(dir, "artifacts", "blobs", `${sha256(Buffer.from("x"))}.staging-123`), "x");
    const q = queueFor(dir, server);
    q.start();
    const first = writeEntry(dir, { kind: "blobs", blobs: [{ digest: sha256(named), size: named.length }] });
    q.add(first);
    expect(await q.wait(first, 5000)).toEqual({ version: null, error: null });
    q.takeStrayBlobs();
    expect(await q.drain(5000)).toBe(true);
    expect(server.blobs.get(sha256(stray))?.equals(stray)).toBe(true);
    const asked = server.requests.length;
    // Named now: a second look finds nothing more to do.
    q.takeStrayBlobs();
    expect(await q.drain(5000)).toBe(true);
    await q.close();
    expect(server.requests.length).toBe(asked);
    expect([...server.blobs.keys()].sort()).toEqual([sha256(stray), sha256(named)].sort());
  });

  it("refuses an entry that is not a readable queue entry, and an offline queue sends nothing", async () => {
    const dir = runDir();
    const server = fakeServer();
    const q = queueFor(dir, server, { upload: false });
    q.start();
    expect(thrown(() => q.add("../../etc/passwd"))).toMatch(/^TRK_ERR_INVALID_ARTIFACT: .*not a queue entry's name/);
    expect(thrown(() => q.add("000001733300000-abcdefgh"))).toMatch(/^TRK_ERR_INVALID_ARTIFACT: .*cannot be read as JSON \(ENOENT\)/);
    const { entry } = writeLogEntry(dir, "dataset", { "a.txt": Buffer.from("abcd") });
    q.add(entry);
    expect(q.status()).toMatchObject({ entries: 1, bytes: 4 });
    expect(await q.wait(entry, 5000)).toBeNull();
    expect(await q.drain(10)).toBe(false);
    await q.close();
    expect(server.requests).toEqual([]);
    expect(existsSync(join(dir, "artifacts", "queue", `${entry}.done.json`))).toBe(false);
  });
});

function thrown(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    return `${(err as { code?: string }).code}: ${(err as Error).message}`;
  }
  return "nothing thrown";
}

async function waitUntil(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setImmediate(r));
  }
}
