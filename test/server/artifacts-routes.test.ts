/**
 * The artifact version routes (routes-artifacts.ts) on a real SQLite store and a filesystem blob
 * store, through app.inject(): logging versions (v0, the same files again, a changed file),
 * aliases, uses and lineage, a run's outputs and inputs, bodies refused with coded 4xx, and what
 * someone outside the entity sees (only versions a public run logged, only public runs).
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { RunView } from "../../src/protocol/api.js";
import type { ArtifactCollectionDetail, ArtifactCollectionSummary, ArtifactManifest, ArtifactVersionDetail, ArtifactVersionSummary } from "../../src/protocol/artifacts.js";
import { manifestDigest } from "../../src/protocol/artifact-digest.js";
import { buildApp, mintApiKey, PostgresStore, SqliteStore } from "../../src/server/index.js";
import { FilesystemBlobStore } from "../../src/server/blobs/filesystem-blob-store.js";
import type { Store } from "../../src/server/store/store.js";
import { postgresOrSkip, startPostgres, type PostgresCluster } from "../helpers/postgres.js";
import { BASE_URL, codeOf, runInfo, T0 } from "./helpers.js";

interface Env {
  app: FastifyInstance;
  clock: { now: number };
  aliceKey: string;
  bobKey: string;
  close(): Promise<void>;
}

let env: Env;

/** A fresh store, server and blob store per test, with users alice and bob and a key each. */
function freshEnvEach(openStore: (dir: string) => Promise<Store>): void {
  beforeEach(async () => {
    const dir = mkdtempSync(join(tmpdir(), "trackside-artifacts-"));
    const store = await openStore(dir);
    const blobs = new FilesystemBlobStore(join(dir, "artifacts"));
    const clock = { now: T0 };
    const app = buildApp({ store, blobs, publicBaseUrl: BASE_URL, now: () => clock.now });
    const keyFor = async (name: string) => {
      const user = await store.createUser(name, clock.now);
      const key = mintApiKey();
      await store.addApiKey(user.id, key.hash, key.prefix, clock.now);
      return key.key;
    };
    env = {
      app,
      clock,
      aliceKey: await keyFor("alice"),
      bobKey: await keyFor("bob"),
      async close() {
        await app.close();
        await blobs.close();
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
  afterEach(async () => {
    await env.close();
  });
}

function get(url: string, key: string | null = env.aliceKey) {
  return env.app.inject({ method: "GET", url, headers: key ? { authorization: `Bearer ${key}` } : {} });
}

const sha = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");
const file = (path: string, text: string) => ({ path, bytes: Buffer.from(text), digest: sha(Buffer.from(text)), size: Buffer.byteLength(text) });
type TestFile = ReturnType<typeof file>;

/** Creates run `entity/project/id` as `key`'s user, public or private. */
async function makeRun(path: string, privacy: "private" | "public" = "private", key = env.aliceKey): Promise<void> {
  const [entity, project, id] = path.split("/");
  const res = await post(`/api/v1/runs/${path}/records`, [{ k: "run", seq: 0, run: runInfo(id, { entity, project }) }], key);
  expect(res.statusCode, res.body).toBe(200);
  if (privacy === "public") {
    const patched = await env.app.inject({ method: "PATCH", url: `/api/v1/runs/${path}`, headers: { authorization: `Bearer ${key}` }, payload: { privacy } });
    expect(patched.statusCode, patched.body).toBe(200);
  }
}

/** Stores a file's bytes in the project's blob store, as the daemon does (a one-part PUT). */
async function putBlob(project: string, f: TestFile, key = env.aliceKey): Promise<void> {
  const res = await env.app.inject({
    method: "PUT",
    url: `/api/v1/artifacts/${project}/blobs/${f.digest}`,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/octet-stream" },
    payload: f.bytes,
  });
  expect(res.statusCode, res.body).toBe(200);
}

function manifest(name: string, files: TestFile[], over: Partial<ArtifactManifest> = {}): ArtifactManifest {
  return { name, type: "dataset", description: null, metadata: {}, files: files.map(({ path, digest, size }) => ({ path, digest, size })), references: [], ...over };
}

function post(url: string, body: unknown, key: string | null = env.aliceKey) {
  return env.app.inject({
    method: "POST",
    url,
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
    payload: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** Logs a version from run `runPath` (entity/project/id); the reply, whatever its status. */
const logVersion = (runPath: string, m: ArtifactManifest, aliases: string[] = [], key = env.aliceKey) => {
  const [entity, project, runId] = runPath.split("/");
  return post(`/api/v1/artifacts/${entity}/${project}/versions`, { runId, manifest: m, aliases }, key);
};

async function logged(runPath: string, m: ArtifactManifest, aliases: string[] = []): Promise<ArtifactVersionSummary> {
  const res = await logVersion(runPath, m, aliases);
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

const useVersion = (runPath: string, artifact: { entity: string; project: string; name: string; version: number }, key = env.aliceKey) => {
  const [entity, project, runId] = runPath.split("/");
  return post(`/api/v1/artifacts/${entity}/${project}/uses`, { runId, artifact }, key);
};

async function json<T>(url: string, key: string | null = env.aliceKey): Promise<T> {
  const res = await get(url, key);
  expect(res.statusCode, `${url}: ${res.body}`).toBe(200);
  return res.json();
}

const refs = (vs: { ref: string }[]) => vs.map((v) => v.ref);
const ids = (runs: { id: string }[]) => runs.map((r) => r.id);

/** Every test of the routes, on the store that freshEnvEach opens. */
function routesSuite(): void {
  describe("logging versions", () => {
    const a = file("a.csv", "x,y\n1,2\n");
    const b = file("b.csv", "x,y\n3,4\n");
    const b2 = file("b.csv", "x,y\n3,5\n");

    it("makes v0, answers v0 for the same files again, and v1 when one file changed; runs list their outputs", async () => {
      for (const id of ["run1", "run2", "run3"]) await makeRun(`alice/mnist/${id}`);
      for (const f of [a, b, b2]) await putBlob("alice/mnist", f);

      const v0 = await logged("alice/mnist/run1", manifest("dataset", [a, b]));
      expect(v0).toMatchObject({ entity: "alice", project: "mnist", name: "dataset", type: "dataset", version: 0, ref: "dataset:v0", aliases: ["latest"], size: a.size + b.size, fileCount: 2, createdAt: T0 });
      expect(v0.digest).toBe(manifestDigest(manifest("dataset", [a, b])));

      // Another run, the same files in another order, another description: the same version.
      env.clock.now += 1000;
      const again = await logged("alice/mnist/run2", manifest("dataset", [b, a], { description: "again", metadata: { rows: 2 } }));
      expect(again).toMatchObject({ version: 0, ref: "dataset:v0", digest: v0.digest, createdAt: T0 });

      const v1 = await logged("alice/mnist/run3", manifest("dataset", [a, b2]));
      expect(v1).toMatchObject({ version: 1, ref: "dataset:v1", aliases: ["latest"] });

      const detail = await json<ArtifactCollectionDetail>("/api/v1/artifacts/alice/mnist/dataset");
      expect(detail.type).toBe("dataset");
      expect(detail.versions.map((v) => [v.ref, v.aliases])).toEqual([
        ["dataset:v1", ["latest"]],
        ["dataset:v0", []],
      ]);
      for (const [id, want] of [["run1", "dataset:v0"], ["run2", "dataset:v0"], ["run3", "dataset:v1"]]) {
        const view = await json<RunView>(`/api/v1/runs/alice/mnist/${id}`);
        expect(refs(view.artifactOutputs ?? []), id).toEqual([want]);
        expect(view.artifactInputs).toEqual([]);
      }
      const v0Detail = await json<ArtifactVersionDetail>("/api/v1/artifacts/alice/mnist/dataset/v0");
      expect(ids(v0Detail.producedBy)).toEqual(["run1", "run2"]);
    });

    it("answers a version by latest, v<N> and a user alias, with each file's download URL", async () => {
      await makeRun("alice/mnist/run1");
      for (const f of [a, b, b2]) await putBlob("alice/mnist", f);
      await logged("alice/mnist/run1", manifest("dataset", [a, b], { description: "two files", metadata: { source: "unit" } }), ["best"]);
      await logged("alice/mnist/run1", manifest("dataset", [a, b2]), ["candidate"]);

      const best = await json<ArtifactVersionDetail>("/api/v1/artifacts/alice/mnist/dataset/best");
      expect(best).toMatchObject({ ref: "dataset:v0", aliases: ["best"], description: "two files", metadata: { source: "unit" }, references: [] });
      expect(best.files.map((f) => [f.path, f.digest, f.size])).toEqual([
        ["a.csv", a.digest, a.size],
        ["b.csv", b.digest, b.size],
      ]);
      // The URL is a path on this server: downloading it gives the file's bytes.
      for (const [f, want] of [[best.files[0], a], [best.files[1], b]] as const) {
        const res = await get(f.url);
        expect(res.statusCode, f.url).toBe(200);
        expect(res.rawPayload.equals(want.bytes)).toBe(true);
      }
      expect((await json<ArtifactVersionDetail>("/api/v1/artifacts/alice/mnist/dataset/latest")).ref).toBe("dataset:v1");
      expect((await json<ArtifactVersionDetail>("/api/v1/artifacts/alice/mnist/dataset/v1")).aliases).toEqual(["candidate", "latest"]);
      expect((await json<ArtifactVersionDetail>("/api/v1/artifacts/alice/mnist/dataset/v00")).ref).toBe("dataset:v0");

      // "best" moves when a later log names it.
      await logged("alice/mnist/run1", manifest("dataset", [a, b2]), ["best"]);
      expect((await json<ArtifactVersionDetail>("/api/v1/artifacts/alice/mnist/dataset/best")).ref).toBe("dataset:v1");

      for (const alias of ["v2", "nope", "v99999999999999999999"]) {
        const res = await get(`/api/v1/artifacts/alice/mnist/dataset/${alias}`);
        expect([alias, res.statusCode, codeOf(res)]).toEqual([alias, 404, "TRK_ERR_NOT_FOUND"]);
      }
    });

    it("takes a version of 12,000 files, a body over the 1 MiB of other JSON bodies", async () => {
      await makeRun("alice/mnist/run1");
      await putBlob("alice/mnist", a);
      const many = Array.from({ length: 12_000 }, (_, i) => ({ ...a, path: `images/${String(i).padStart(5, "0")}.png` }));
      const m = manifest("images", many);
      expect(Buffer.byteLength(JSON.stringify(m))).toBeGreaterThan(1024 * 1024);
      const v0 = await logged("alice/mnist/run1", m);
      expect([v0.fileCount, v0.size]).toEqual([12_000, 12_000 * a.size]);
      const detail = await json<ArtifactVersionDetail>("/api/v1/artifacts/alice/mnist/images/v0");
      expect(detail.files.length).toBe(12_000);
      expect(detail.files[11_999]).toMatchObject({ path: "images/11999.png", digest: a.digest, url: detail.files[0].url });
    });

    it("lists the project's collections, of one type or all", async () => {
      await makeRun("alice/mnist/run1");
      await putBlob("alice/mnist", a);
      await logged("alice/mnist/run1", manifest("train-set", [a]));
      await logged("alice/mnist/run1", manifest("classifier", [a], { type: "model" }));
      const all = await json<{ artifacts: ArtifactCollectionSummary[] }>("/api/v1/artifacts/alice/mnist");
      expect(all.artifacts.map((c) => [c.name, c.type, c.versions, c.latest.ref])).toEqual([
        ["classifier", "model", 1, "classifier:v0"],
        ["train-set", "dataset", 1, "train-set:v0"],
      ]);
      const models = await json<{ artifacts: ArtifactCollectionSummary[] }>("/api/v1/artifacts/alice/mnist?type=model");
      expect(models.artifacts.map((c) => c.name)).toEqual(["classifier"]);
      const bad = await get("/api/v1/artifacts/alice/mnist?type=a%3Ab");
      expect([bad.statusCode, codeOf(bad)]).toEqual([400, "TRK_ERR_INVALID_ARTIFACT"]);
    });

    it("refuses a version whose files' bytes are not stored (409 naming them), and keeps nothing of it", async () => {
      await makeRun("alice/mnist/run1");
      await putBlob("alice/mnist", a);
      const res = await logVersion("alice/mnist/run1", manifest("dataset", [a, b]));
      expect([res.statusCode, codeOf(res)]).toEqual([409, "TRK_ERR_CONFLICT"]);
      const message = (res.json() as { error: { message: string } }).error.message;
      expect(message).toContain(b.digest);
      expect(message).not.toContain(a.digest);
      expect((await get("/api/v1/artifacts/alice/mnist/dataset")).statusCode).toBe(404);
      // A blob of another project does not count: blobs are kept per project.
      await makeRun("alice/other/run1");
      const elsewhere = await logVersion("alice/other/run1", manifest("dataset", [a]));
      expect([elsewhere.statusCode, codeOf(elsewhere)]).toEqual([409, "TRK_ERR_CONFLICT"]);
    });

    it("answers 404 for a run that does not exist, and 403 to who may not log to the entity", async () => {
      await makeRun("alice/mnist/run1");
      await putBlob("alice/mnist", a);
      const missing = await logVersion("alice/mnist/nosuchrun", manifest("dataset", [a]));
      expect([missing.statusCode, codeOf(missing)]).toEqual([404, "TRK_ERR_NOT_FOUND"]);
      const bob = await logVersion("alice/mnist/run1", manifest("dataset", [a]), [], env.bobKey);
      expect([bob.statusCode, codeOf(bob)]).toEqual([403, "TRK_ERR_FORBIDDEN"]);
    });

    it("refuses a bad body with a coded 4xx, never a 5xx, and stores nothing", async () => {
      await makeRun("alice/mnist/run1");
      await putBlob("alice/mnist", a);
      const good = { runId: "run1", manifest: manifest("dataset", [a]), aliases: [] as unknown[] };
      const fa = good.manifest.files[0];
      const withManifest = (over: Record<string, unknown>) => ({ ...good, manifest: { ...good.manifest, ...over } });
      const withFile = (over: Record<string, unknown>) => withManifest({ files: [{ ...fa, ...over }] });
      const cases: [string, unknown, string][] = [
        ["not JSON", "{", "TRK_ERR_BAD_REQUEST"],
        ["an array", [], "TRK_ERR_BAD_REQUEST"],
        ["an unknown field", { ...good, extra: 1 }, "TRK_ERR_BAD_REQUEST"],
        ["no manifest", { runId: "run1" }, "TRK_ERR_BAD_REQUEST"],
        ["a bad run id", { ...good, runId: "a/b" }, "TRK_ERR_INVALID_ID"],
        ["a name with /", withManifest({ name: "a/b" }), "TRK_ERR_INVALID_ARTIFACT"],
        ["a name with :", withManifest({ name: "a:b" }), "TRK_ERR_INVALID_ARTIFACT"],
        ["a reserved name", withManifest({ name: "blobs" }), "TRK_ERR_INVALID_ARTIFACT"],
        ["no type", withManifest({ type: undefined }), "TRK_ERR_INVALID_ARTIFACT"],
        ["files not an array", withManifest({ files: {} }), "TRK_ERR_BAD_REQUEST"],
        ["a file with an unknown field", withFile({ mode: 420 }), "TRK_ERR_BAD_REQUEST"],
        ["an upper-case digest", withFile({ digest: fa.digest.toUpperCase() }), "TRK_ERR_INVALID_ARTIFACT"],
        ["a short digest", withFile({ digest: "abc" }), "TRK_ERR_INVALID_ARTIFACT"],
        ["a path with ..", withFile({ path: "../a.csv" }), "TRK_ERR_INVALID_ARTIFACT"],
        ["an absolute path", withFile({ path: "/etc/passwd" }), "TRK_ERR_INVALID_ARTIFACT"],
        ["a negative size", withFile({ size: -1 }), "TRK_ERR_BAD_REQUEST"],
        ["a fractional size", withFile({ size: 1.5 }), "TRK_ERR_BAD_REQUEST"],
        ["a size as text", withFile({ size: "9" }), "TRK_ERR_BAD_REQUEST"],
        ["two entries with one path", withManifest({ files: [fa, fa] }), "TRK_ERR_INVALID_ARTIFACT"],
        // A download could not make both: a.csv a file and a directory.
        ["a file under another file's path", withManifest({ files: [fa, { ...fa, path: `${fa.path}/x` }] }), "TRK_ERR_INVALID_ARTIFACT"],
        ["a reference under a file's path", withManifest({ references: [{ path: `${fa.path}/r`, uri: "s3://b/k", digest: null, size: null }] }), "TRK_ERR_INVALID_ARTIFACT"],
        ["a reference of another scheme", withManifest({ references: [{ path: "r", uri: "ftp://host/x", digest: null, size: null }] }), "TRK_ERR_INVALID_ARTIFACT"],
        ["a reference that is no URI", withManifest({ references: [{ path: "r", uri: "not a uri", digest: null, size: null }] }), "TRK_ERR_INVALID_ARTIFACT"],
        ["a reference sharing a file's path", withManifest({ references: [{ path: "a.csv", uri: "s3://b/k", digest: null, size: null }] }), "TRK_ERR_INVALID_ARTIFACT"],
        ["metadata that is an array", withManifest({ metadata: [1] }), "TRK_ERR_BAD_REQUEST"],
        ["metadata nested too deep", withManifest({ metadata: JSON.parse('{"a":'.repeat(40) + "1" + "}".repeat(40)) as unknown }), "TRK_ERR_TOO_LARGE"],
        ["a description that is a number", withManifest({ description: 3 }), "TRK_ERR_BAD_REQUEST"],
        ["aliases that are not an array", { ...good, aliases: "best" }, "TRK_ERR_BAD_REQUEST"],
        ["the alias latest", { ...good, aliases: ["latest"] }, "TRK_ERR_INVALID_ARTIFACT"],
        ["an alias that is a version", { ...good, aliases: ["v3"] }, "TRK_ERR_INVALID_ARTIFACT"],
        ["an alias that is a number", { ...good, aliases: [3] }, "TRK_ERR_INVALID_ARTIFACT"],
      ];
      const got: string[] = [];
      const want: string[] = [];
      for (const [what, body, code] of cases) {
        const res = await post("/api/v1/artifacts/alice/mnist/versions", body);
        got.push(`${what}: ${res.statusCode} ${res.statusCode < 500 && res.statusCode >= 400 ? codeOf(res) : res.body}`);
        want.push(`${what}: 400 ${code}`);
      }
      expect(got).toEqual(want);
      expect((await json<{ artifacts: unknown[] }>("/api/v1/artifacts/alice/mnist")).artifacts).toEqual([]);

      // The good body passes: the table's faults were the fields, not the rest of the body.
      expect((await post("/api/v1/artifacts/alice/mnist/versions", good)).statusCode).toBe(200);
      // A collection keeps its type, refused for good (a 400, which the daemon does not retry).
      const model = await post("/api/v1/artifacts/alice/mnist/versions", withManifest({ type: "model" }));
      expect([model.statusCode, codeOf(model)]).toEqual([400, "TRK_ERR_INVALID_ARTIFACT"]);
    });
  });

  describe("what a store cannot hold", () => {
    it("refuses a reference URI with a control character, and any value the store cannot hold, with a coded 400, never a 5xx", async () => {
      await makeRun("alice/mnist/run1");
      const ref = (path: string, uri: string) => ({ runId: "run1", manifest: manifest("refs", [], { references: [{ path, uri, digest: null, size: null }] }), aliases: [] });
      // new URL() takes a NUL (it percent-encodes it), so addReference() lets it through to here.
      const nul = await post("/api/v1/artifacts/alice/mnist/versions", ref("r", "https://host/a\u0000b"));
      expect([nul.statusCode, codeOf(nul)]).toEqual([400, "TRK_ERR_INVALID_ARTIFACT"]);
      // A lone surrogate: SQLite keeps it; PostgreSQL cannot, and says so (a 5xx the daemon would retry forever).
      const surrogate = await post("/api/v1/artifacts/alice/mnist/versions", ref("a\ud800", "https://host/x"));
      expect(surrogate.statusCode, surrogate.body).toBeLessThan(500);
      if (surrogate.statusCode !== 200) expect([surrogate.statusCode, codeOf(surrogate)]).toEqual([400, "TRK_ERR_BAD_VALUE"]);
      // Nothing half-stored: a good version of the same name is v0.
      const good = await post("/api/v1/artifacts/alice/mnist/versions", ref("r", "https://host/x"));
      expect(good.statusCode, good.body).toBe(200);
    });
  });

  describe("uses and lineage", () => {
    const a = file("a.csv", "1\n");

    it("records a run's input once, and shows it in the version's lineage and the run's inputs", async () => {
      await makeRun("alice/mnist/maker");
      await makeRun("alice/mnist/user1");
      await makeRun("alice/other/user2");
      await putBlob("alice/mnist", a);
      await logged("alice/mnist/maker", manifest("dataset", [a]));
      const artifact = { entity: "alice", project: "mnist", name: "dataset", version: 0 };
      for (const runPath of ["alice/mnist/user1", "alice/mnist/user1", "alice/other/user2"]) {
        const res = await useVersion(runPath, artifact);
        expect([runPath, res.statusCode, res.body]).toEqual([runPath, 200, JSON.stringify({ ok: true })]);
      }
      const detail = await json<ArtifactVersionDetail>("/api/v1/artifacts/alice/mnist/dataset/v0");
      expect(detail.producedBy).toEqual([{ entity: "alice", project: "mnist", id: "maker", name: "likely-lion-9", state: "running" }]);
      expect(ids(detail.usedBy)).toEqual(["user1", "user2"]);
      expect(refs((await json<RunView>("/api/v1/runs/alice/other/user2")).artifactInputs ?? [])).toEqual(["dataset:v0"]);
      expect((await json<RunView>("/api/v1/runs/alice/mnist/maker")).artifactInputs).toEqual([]);

      const cases: [string, string, unknown, number, string][] = [
        ["no such version", "alice/mnist/user1", { ...artifact, version: 1 }, 404, "TRK_ERR_NOT_FOUND"],
        ["no such collection", "alice/mnist/user1", { ...artifact, name: "nope" }, 404, "TRK_ERR_NOT_FOUND"],
        ["no such run", "alice/mnist/nosuchrun", artifact, 404, "TRK_ERR_NOT_FOUND"],
        ["a version as text", "alice/mnist/user1", { ...artifact, version: "v0" }, 400, "TRK_ERR_BAD_REQUEST"],
        ["a bad entity", "alice/mnist/user1", { ...artifact, entity: "a b" }, 400, "TRK_ERR_INVALID_ENTITY"],
        ["a bad name", "alice/mnist/user1", { ...artifact, name: "a:b" }, 400, "TRK_ERR_INVALID_ARTIFACT"],
        ["an unknown field", "alice/mnist/user1", { ...artifact, alias: "latest" }, 400, "TRK_ERR_BAD_REQUEST"],
      ];
      for (const [what, runPath, body, status, code] of cases) {
        const res = await useVersion(runPath, body as typeof artifact);
        expect([what, res.statusCode, codeOf(res)]).toEqual([what, status, code]);
      }
    });
  });

  describe("what someone outside the entity sees", () => {
    const secret = file("secret.csv", "private\n");
    const open = file("open.csv", "public\n");

    /**
     * alice/shared: a private run logs data:v0, a public run logs data:v1; a private run uses v1,
     * a public run uses v0. bob is no member of alice's entity.
     */
    async function seed(): Promise<void> {
      await makeRun("alice/shared/privmake");
      await makeRun("alice/shared/pubmake1", "public");
      await makeRun("alice/shared/privuse1");
      await makeRun("alice/shared/pubuse01", "public");
      await putBlob("alice/shared", secret);
      await putBlob("alice/shared", open);
      await logged("alice/shared/privmake", manifest("data", [secret]));
      await logged("alice/shared/pubmake1", manifest("data", [open]));
      await logged("alice/shared/privmake", manifest("hidden", [secret], { type: "model" }));
      expect((await useVersion("alice/shared/privuse1", { entity: "alice", project: "shared", name: "data", version: 1 })).statusCode).toBe(200);
      expect((await useVersion("alice/shared/pubuse01", { entity: "alice", project: "shared", name: "data", version: 0 })).statusCode).toBe(200);
    }

    it("shows only versions a public run logged, and only public runs in their lineage", async () => {
      await seed();
      for (const key of [env.bobKey, null]) {
        const who = key ? "bob" : "anonymous";
        const list = await json<{ artifacts: ArtifactCollectionSummary[] }>("/api/v1/artifacts/alice/shared", key);
        expect(list.artifacts.map((c) => [c.name, c.latest.ref]), who).toEqual([["data", "data:v1"]]);
        const data = await json<ArtifactCollectionDetail>("/api/v1/artifacts/alice/shared/data", key);
        expect(refs(data.versions), who).toEqual(["data:v1"]);
        const v1 = await json<ArtifactVersionDetail>("/api/v1/artifacts/alice/shared/data/v1", key);
        expect([ids(v1.producedBy), ids(v1.usedBy)], who).toEqual([["pubmake1"], []]);
        expect((await json<ArtifactVersionDetail>("/api/v1/artifacts/alice/shared/data/latest", key)).ref, who).toBe("data:v1");
        for (const url of ["/api/v1/artifacts/alice/shared/data/v0", "/api/v1/artifacts/alice/shared/hidden", "/api/v1/artifacts/alice/shared/hidden/latest"]) {
          const res = await get(url, key);
          expect([who, url, res.statusCode, codeOf(res)]).toEqual([who, url, 404, "TRK_ERR_NOT_FOUND"]);
        }
        // A public run that used a version no public run logged: its input is left out.
        const view = await json<RunView>("/api/v1/runs/alice/shared/pubuse01", key);
        expect(view.artifactInputs, who).toEqual([]);
        expect(refs((await json<RunView>("/api/v1/runs/alice/shared/pubmake1", key)).artifactOutputs ?? []), who).toEqual(["data:v1"]);
      }
      // alice, a member, sees it all.
      const v1 = await json<ArtifactVersionDetail>("/api/v1/artifacts/alice/shared/data/v1");
      expect([ids(v1.producedBy), ids(v1.usedBy)]).toEqual([["pubmake1"], ["privuse1"]]);
      expect(refs((await json<RunView>("/api/v1/runs/alice/shared/pubuse01")).artifactInputs ?? [])).toEqual(["data:v0"]);
      expect(refs((await json<ArtifactCollectionDetail>("/api/v1/artifacts/alice/shared/data")).versions)).toEqual(["data:v1", "data:v0"]);
    });

    it("answers 404 for a project with no public run, and refuses to record a use of a version its user may not see", async () => {
      await seed();
      await makeRun("alice/secret/run1");
      await putBlob("alice/secret", secret);
      await logged("alice/secret/run1", manifest("data", [secret]));
      for (const url of ["/api/v1/artifacts/alice/secret", "/api/v1/artifacts/alice/secret/data", "/api/v1/artifacts/alice/secret/data/v0"]) {
        for (const key of [env.bobKey, null]) {
          const res = await get(url, key);
          expect([url, key ? "bob" : "anonymous", res.statusCode]).toEqual([url, key ? "bob" : "anonymous", 404]);
        }
      }
      await makeRun("bob/mine/bobrun01", "private", env.bobKey);
      const tries: [unknown, number][] = [
        [{ entity: "alice", project: "secret", name: "data", version: 0 }, 404],
        [{ entity: "alice", project: "shared", name: "data", version: 0 }, 404],
        [{ entity: "alice", project: "shared", name: "data", version: 1 }, 200],
      ];
      for (const [artifact, status] of tries) {
        const res = await useVersion("bob/mine/bobrun01", artifact as { entity: string; project: string; name: string; version: number }, env.bobKey);
        expect([artifact, res.statusCode]).toEqual([artifact, status]);
      }
      expect(refs((await json<RunView>("/api/v1/runs/bob/mine/bobrun01", env.bobKey)).artifactInputs ?? [])).toEqual(["data:v1"]);
      // alice sees bob's private run nowhere in her version's lineage.
      expect(ids((await json<ArtifactVersionDetail>("/api/v1/artifacts/alice/shared/data/v1")).usedBy)).toEqual(["privuse1"]);
    });
  });
}

describe("artifact routes on SQLite", () => {
  freshEnvEach(async (dir) => SqliteStore.open(join(dir, "trackside.db")));
  routesSuite();
});

const pgBin = postgresOrSkip();
describe.skipIf(pgBin === null)("artifact routes on PostgreSQL", () => {
  let pg: PostgresCluster | undefined;
  let databases = 0;
  // Registered before freshEnvEach's hooks: the cluster is up before the first store opens.
  beforeAll(async () => {
    pg = await startPostgres(pgBin as string);
  });
  afterAll(() => pg?.stop());
  freshEnvEach(async () => PostgresStore.open(await pg!.createDatabase(`artifacts${++databases}`), { max: 4 }));
  routesSuite();
});
