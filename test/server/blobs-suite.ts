/**
 * The blob routes (routes-blobs.ts) over one blob store backend, against a real server on
 * loopback: the daemon's flow (missing, plan, PUT each part to the server or to a presigned URL,
 * complete), downloads, and refusals. blobs.filesystem.test.ts and blobs.s3.test.ts run it.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { get as httpGet } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BlobUploadPlan } from "../../src/protocol/artifacts.js";
import { mintApiKey } from "../../src/server/http/auth.js";
import type { BlobStore } from "../../src/server/blobs/blob-store.js";
import { startServer, type RunningServer } from "../../src/server/start-server.js";
import { manifestDigest } from "../../src/protocol/artifact-digest.js";
import type { ArtifactManifest } from "../../src/protocol/artifacts.js";
import { runInfo } from "./helpers.js";

/** The part size of these tests: a few KiB of data make a multipart upload. */
export const PART = 1024;

export interface BlobBackend {
  /** The store for a server with this data dir and part size. */
  open(dataDir: string, partBytes: number): Promise<BlobStore>;
}

export interface BlobServer {
  server: RunningServer;
  /** alice's project the helpers below upload to and download from. */
  project: string;
  dataDir: string;
  keys: { alice: string; erin: string };
}

export const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

/** A project with a run in it (a project exists once a run does): alice/data, private. */
const ENTITY = "alice";
const PROJECT = "data";
/** The blob routes of the server's project. */
export const blobsPath = (s: BlobServer): string => `/api/v1/artifacts/${ENTITY}/${s.project}/blobs`;

export interface Answer {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
  bytes: Buffer;
}

/** A Buffer as fetch() takes a body (its types want an ArrayBuffer-backed view). */
const bodyOf = (b: Buffer): Uint8Array<ArrayBuffer> => new Uint8Array(b.buffer as ArrayBuffer, b.byteOffset, b.length);

async function answer(res: Response): Promise<Answer> {
  const bytes = Buffer.from(await res.arrayBuffer());
  let json: Record<string, unknown> = {};
  if ((res.headers.get("content-type") ?? "").startsWith("application/json")) json = JSON.parse(bytes.toString()) as Record<string, unknown>;
  return { status: res.status, headers: res.headers, json, bytes };
}

/** A request to the server, as `key`'s holder (null: anonymous). */
export async function call(s: BlobServer, method: string, path: string, body: unknown, key: string | null = s.keys.alice): Promise<Answer> {
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  if (body !== undefined && !Buffer.isBuffer(body)) headers["content-type"] = "application/json";
  const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? bodyOf(body) : JSON.stringify(body);
  return answer(await fetch(`${s.server.url}${path}`, { method, headers, body: payload, redirect: "manual" }));
}

/**
 * PUTs bytes where a plan says, as the daemon does: a path is this server's (with the API key),
 * an absolute URL a presigned one of the bucket (no credentials).
 */
export async function putTo(s: BlobServer, url: string, bytes: Buffer): Promise<Answer> {
  if (url.startsWith("/")) return call(s, "PUT", url, bytes);
  return answer(await fetch(url, { method: "PUT", body: bodyOf(bytes) }));
}

export async function plan(s: BlobServer, digest: string, size: number, uploadId: string | null = null): Promise<BlobUploadPlan> {
  const res = await call(s, "POST", `${blobsPath(s)}/${digest}/uploads`, { size, uploadId });
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return res.json as unknown as BlobUploadPlan;
}

const partOf = (bytes: Buffer, p: BlobUploadPlan, number: number) => bytes.subarray((number - 1) * p.partBytes, number * p.partBytes);

/** Uploads a blob the daemon's way (by plan `p`, or a new one); answers the complete's (or the one PUT's) answer. */
export async function upload(s: BlobServer, bytes: Buffer, p?: BlobUploadPlan): Promise<Answer> {
  const digest = sha256(bytes);
  p ??= await plan(s, digest, bytes.length);
  if (p.exists) throw new Error(`blob ${digest} exists already`);
  const parts: { number: number; etag: string }[] = [];
  for (const part of p.parts) {
    const put = await putTo(s, part.url, partOf(bytes, p, part.number));
    if (p.uploadId === null) return put;
    expect(put.status, put.bytes.toString()).toBe(200);
    parts.push({ number: part.number, etag: put.headers.get("etag")! });
  }
  return call(s, "POST", `${blobsPath(s)}/${digest}/uploads/${p.uploadId}/complete`, { parts });
}

/**
 * A GET on a connection of its own, closed after the answer (node:http, no agent). Not fetch():
 * its keep-alive connection may still be busy, for the server, when the last byte of a large
 * answer has arrived; a server.close() then waits for the server's keep-alive timeout (72 s)
 * before that connection goes (measured on Node.js 20 with a 64 MiB answer).
 */
function getOnce(url: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => {
        const bytes = Buffer.concat(chunks);
        const head = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") head.set(k, v);
        const json = (res.headers["content-type"] ?? "").startsWith("application/json") ? (JSON.parse(bytes.toString()) as Record<string, unknown>) : {};
        resolve({ status: res.statusCode ?? 0, headers: head, json, bytes });
      });
    });
    req.on("error", reject);
  });
}

/** GETs a blob through the server, following a redirect to the bucket without credentials. */
export async function download(s: BlobServer, digest: string, key: string | null = s.keys.alice): Promise<Answer & { redirectedTo: string | null }> {
  const res = await getOnce(`${s.server.url}${blobsPath(s)}/${digest}`, key ? { authorization: `Bearer ${key}` } : {});
  if (res.status !== 302) return { ...res, redirectedTo: null };
  const location = res.headers.get("location")!;
  return { ...(await getOnce(location, {})), redirectedTo: location };
}

export async function missing(s: BlobServer, digests: string[]): Promise<string[]> {
  const res = await call(s, "POST", `${blobsPath(s)}/missing`, { digests });
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return res.json.missing as string[];
}

/** A run of alice in `project` (which it makes exist), private unless `privacy` says otherwise. */
async function makeRun(s: BlobServer, project: string, id: string, privacy: "private" | "public" = "private"): Promise<void> {
  const records = [{ k: "run", seq: 0, run: runInfo(id, { entity: ENTITY, project }) }];
  expect((await call(s, "POST", `/api/v1/runs/${ENTITY}/${project}/${id}/records`, records)).status).toBe(200);
  if (privacy === "public") expect((await call(s, "PATCH", `/api/v1/runs/${ENTITY}/${project}/${id}`, { privacy })).status).toBe(200);
}

/** A server on `backend` with users alice (owner of alice/data, where a run is) and erin (no role there). */
export async function startBlobServer(backend: BlobBackend, partBytes = PART): Promise<BlobServer & { close(): Promise<void> }> {
  const home = mkdtempSync(join(tmpdir(), "trk-blobs-"));
  const savedHome = process.env.HOME;
  process.env.HOME = home; // the server writes its local user's key under ~/.trackside
  const dataDir = join(home, "server");
  const server = await startServer({ port: 0, dataDir, artifactStore: await backend.open(dataDir, partBytes) });
  const keys = { alice: "", erin: "" };
  for (const name of ["alice", "erin"] as const) {
    const user = await server.store.createUser(name);
    const key = mintApiKey();
    await server.store.addApiKey(user.id, key.hash, key.prefix);
    keys[name] = key.key;
  }
  const s: BlobServer = { server, dataDir, keys, project: PROJECT };
  await makeRun(s, PROJECT, "blobrun1");
  return {
    ...s,
    async close() {
      await server.close();
      process.env.HOME = savedHome;
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** What every backend does the same way. */
export function blobRouteSuite(backend: BlobBackend): void {
  let s: BlobServer & { close(): Promise<void> };
  beforeAll(async () => {
    s = await startBlobServer(backend);
  });
  afterAll(async () => {
    await s?.close();
  });

  describe("missing", () => {
    it("names the digests the project lacks, each once, in the order asked", async () => {
      const stored = randomBytes(100);
      expect((await upload(s, stored)).status).toBe(200);
      const [a, b] = [sha256(randomBytes(10)), sha256(randomBytes(10))];
      expect(await missing(s, [a, sha256(stored), b, a])).toEqual([a, b]);
      expect(await missing(s, [])).toEqual([]);
    });

    it("refuses what is not a sha256 digest", async () => {
      const res = await call(s, "POST", `${blobsPath(s)}/missing`, { digests: ["ABC"] });
      expect([res.status, (res.json.error as { code: string }).code]).toEqual([400, "TRK_ERR_BAD_REQUEST"]);
      expect((await call(s, "POST", `${blobsPath(s)}/${"g".repeat(64)}/uploads`, { size: 1 })).status).toBe(400);
      expect((await call(s, "GET", `${blobsPath(s)}/not-a-digest`, undefined)).status).toBe(400);
    });
  });

  describe("uploads", () => {
    it("stores a blob of one part with one PUT, then plans it as existing and serves its bytes", async () => {
      const bytes = randomBytes(PART);
      const digest = sha256(bytes);
      const p = await plan(s, digest, bytes.length);
      expect(p).toMatchObject({ exists: false, uploadId: null, partBytes: PART });
      expect(p.parts.map((x) => x.number)).toEqual([1]);
      const put = await putTo(s, p.parts[0].url, bytes);
      expect(put.status, put.bytes.toString()).toBe(200);
      expect(put.headers.get("etag")).toMatch(/^"\w+"$/);
      expect(await missing(s, [digest])).toEqual([]);
      expect(await plan(s, digest, bytes.length)).toEqual({ exists: true, uploadId: null, partBytes: PART, parts: [] });
      const got = await download(s, digest);
      expect(got.status).toBe(200);
      expect(sha256(got.bytes)).toBe(digest);
    });

    it("stores an empty blob", async () => {
      const empty = Buffer.alloc(0);
      expect((await upload(s, empty)).status).toBe(200);
      const got = await download(s, sha256(empty));
      expect([got.status, got.bytes.length]).toEqual([200, 0]);
    });

    it("cuts a blob over the part size into parts, and complete stores it whole", async () => {
      const bytes = randomBytes(PART + 500);
      const digest = sha256(bytes);
      const p = await plan(s, digest, bytes.length);
      expect(p.uploadId).not.toBeNull();
      expect(p.parts.map((x) => x.number)).toEqual([1, 2]);
      const done = await upload(s, bytes, p);
      expect([done.status, done.json]).toEqual([200, { digest, size: bytes.length }]);
      expect(await missing(s, [digest])).toEqual([]);
      const got = await download(s, digest);
      expect(Buffer.compare(got.bytes, bytes)).toBe(0);
    });

    it("resumes an upload: a successor asks with the upload id, PUTs only the parts left, completes with the ETags remembered", async () => {
      const bytes = randomBytes(2 * PART + 10);
      const digest = sha256(bytes);
      const first = await plan(s, digest, bytes.length);
      expect(first.parts).toHaveLength(3);
      const put1 = await putTo(s, first.parts[0].url, partOf(bytes, first, 1));
      expect(put1.status).toBe(200);
      const remembered = { number: 1, etag: put1.headers.get("etag")! };
      // The daemon dies here; its successor reads {uploadId, parts} from its uploads file.
      const again = await plan(s, digest, bytes.length, first.uploadId);
      expect(again.uploadId).toBe(first.uploadId);
      expect(again.parts.map((x) => x.number)).toEqual([1, 2, 3]);
      const parts = [remembered];
      for (const part of again.parts.slice(1)) {
        const put = await putTo(s, part.url, partOf(bytes, again, part.number));
        expect(put.status).toBe(200);
        parts.push({ number: part.number, etag: put.headers.get("etag")! });
      }
      const done = await call(s, "POST", `${blobsPath(s)}/${digest}/uploads/${again.uploadId}/complete`, { parts });
      expect([done.status, done.json]).toEqual([200, { digest, size: bytes.length }]);
      expect(Buffer.compare((await download(s, digest)).bytes, bytes)).toBe(0);
      // Completing again (an answer lost on the way) is answered the same.
      expect((await call(s, "POST", `${blobsPath(s)}/${digest}/uploads/${again.uploadId}/complete`, { parts })).json).toEqual({ digest, size: bytes.length });
    });

    it("refuses parts that do not add up to the planned size, and keeps nothing of them", async () => {
      const bytes = randomBytes(PART + 100);
      const digest = sha256(bytes);
      const p = await plan(s, digest, bytes.length);
      const etags = [];
      for (const part of p.parts) {
        // The last part short by one byte.
        const body = part.number === p.parts.length ? partOf(bytes, p, part.number).subarray(1) : partOf(bytes, p, part.number);
        const put = await putTo(s, part.url, body);
        if (put.status !== 200) {
          // The filesystem checks each part's size at its PUT already.
          expect([put.status, (put.json.error as { code: string }).code]).toEqual([400, "TRK_ERR_BAD_REQUEST"]);
          return expect(await missing(s, [digest])).toEqual([digest]);
        }
        etags.push({ number: part.number, etag: put.headers.get("etag")! });
      }
      const done = await call(s, "POST", `${blobsPath(s)}/${digest}/uploads/${p.uploadId}/complete`, { parts: etags });
      expect(done.status).toBe(400);
      expect(await missing(s, [digest])).toEqual([digest]);
    });
  });

  describe("downloads and access", () => {
    it("answers 404 for a blob the project does not have", async () => {
      const res = await download(s, sha256(randomBytes(8)));
      expect([res.status, (res.json.error as { code: string }).code]).toEqual([404, "TRK_ERR_NOT_FOUND"]);
    });

    it("serves a PNG or JPEG blob as its image type, which a browser shows, and anything else (HTML, SVG) as a download that no browser renders", async () => {
      const image = new PNG({ width: 2, height: 2 });
      image.data.fill(200);
      const png = PNG.sync.write(image);
      // A JPEG's start of image and JFIF marker; the type is told from the first bytes only.
      const jpeg = Buffer.concat([Buffer.from("ffd8ffe000104a46494600", "hex"), randomBytes(64)]);
      const html = Buffer.from(`<!doctype html><script>fetch("/api/v1/viewer")</script>${randomBytes(4).toString("hex")}`);
      const svg = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><!--${randomBytes(4).toString("hex")}--></svg>`);
      const answers: Record<string, [string | null, string | null]> = {};
      for (const [name, bytes] of Object.entries({ png, jpeg, html, svg })) {
        expect((await upload(s, bytes)).status).toBe(200);
        const got = await download(s, sha256(bytes));
        expect([got.status, Buffer.compare(got.bytes, bytes)]).toEqual([200, 0]);
        answers[name] = [got.headers.get("content-type"), got.headers.get("content-disposition")?.split(";")[0] ?? null];
        // This server's own answer forbids the browser to guess another type (a bucket's answer is the bucket's).
        if (got.redirectedTo === null) expect(got.headers.get("x-content-type-options")).toBe("nosniff");
      }
      expect(answers).toEqual({
        png: ["image/png", "inline"],
        jpeg: ["image/jpeg", "inline"],
        html: ["application/octet-stream", "attachment"],
        svg: ["application/octet-stream", "attachment"],
      });
    });

    it("lets only writers of the entity upload, and only its readers download", async () => {
      const bytes = randomBytes(50);
      expect((await upload(s, bytes)).status).toBe(200);
      const digest = sha256(bytes);
      expect((await call(s, "POST", `${blobsPath(s)}/missing`, { digests: [digest] }, null)).status).toBe(401);
      expect((await call(s, "POST", `${blobsPath(s)}/missing`, { digests: [digest] }, s.keys.erin)).status).toBe(403);
      expect((await call(s, "POST", `${blobsPath(s)}/${digest}/uploads`, { size: 50 }, s.keys.erin)).status).toBe(403);
      expect((await call(s, "PUT", `${blobsPath(s)}/${digest}`, bytes, s.keys.erin)).status).toBe(403);
      // A private project: to others it does not exist.
      expect((await download(s, digest, s.keys.erin)).status).toBe(404);
      expect((await download(s, digest, null)).status).toBe(404);
      expect((await download(s, digest)).status).toBe(200);
    });

    it("lets others download a blob of a public project only when a version that a public run logged holds it", async () => {
      const pub: BlobServer = { ...s, project: "shared" };
      await makeRun(pub, "shared", "pubrun01", "public");
      await makeRun(pub, "shared", "privrun1");
      const [inPublic, inPrivate, inNone] = [randomBytes(30), randomBytes(31), randomBytes(32)];
      for (const bytes of [inPublic, inPrivate, inNone]) expect((await upload(pub, bytes)).status).toBe(200);
      const store = pub.server.store;
      const scope = { entityId: (await store.getEntity(ENTITY))!.id, project: "shared" };
      const log = async (runId: string, name: string, bytes: Buffer) => {
        const manifest: ArtifactManifest = { name, type: "dataset", description: null, metadata: {}, files: [{ path: "f.bin", digest: sha256(bytes), size: bytes.length }], references: [] };
        await store.logArtifactVersion(scope, (await store.getRun(ENTITY, "shared", runId))!.pk, manifest, manifestDigest(manifest), [], Date.now());
      };
      await log("pubrun01", "public-set", inPublic);
      await log("privrun1", "private-set", inPrivate);
      for (const key of [null, s.keys.erin]) {
        const got = await download(pub, sha256(inPublic), key);
        expect([got.status, Buffer.compare(got.bytes, inPublic)]).toEqual([200, 0]);
        expect((await download(pub, sha256(inPrivate), key)).status).toBe(404);
        expect((await download(pub, sha256(inNone), key)).status).toBe(404);
      }
      // Its members read every blob of it.
      expect((await download(pub, sha256(inNone))).status).toBe(200);
    });
  });
}
