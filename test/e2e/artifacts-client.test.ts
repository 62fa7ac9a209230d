/**
 * The client's artifact calls with a real daemon and a real server (a user's process running the
 * public API, test/fixtures/artifact-run.mjs): logArtifact() resolves once the files are staged
 * and the daemon holds the entry, and wait() gives the version the server made of it; useArtifact()
 * resolves an alias and downloads the bytes; a process killed right after logArtifact() still gets
 * its artifact uploaded; all of it with the blobs in the server's data directory and in an S3-compatible
 * server (s3rver). While the server is out of reach, wait() times out with a coded error that
 * says the daemon goes on, and finish() reports the artifact as pending.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ArtifactQueueEntry, ArtifactVersionDetail } from "../../src/protocol/index.js";
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { SHOTS, browserOrSkip, launchChromium } from "../helpers/browser.js";
import { ROOT, closedPort, eventually, makeEnv, runFixture, showRun, start, startServer, type TestEnv, type TestServer } from "../helpers/processes.js";
import { startS3, type TestS3 } from "../helpers/s3.js";
import { localUser } from "../helpers/run-dir.js";

const ROOT_FIXTURES = join(ROOT, "test/fixtures");
const withBrowser = browserOrSkip("test/e2e/artifacts-client.test.ts");

/** What test/fixtures/artifact-run.mjs prints, as JSON lines. */
interface FixtureOut {
  id: string;
  dir: string;
  logged: { entry: string; digest: string; size: number; fileCount: number };
  version?: string;
  waitError?: string;
  message?: string;
  used?: string;
  files?: { path: string; size: number; digest: string }[];
  downloaded?: string;
  finished: { synced: boolean; pendingArtifacts: number };
}

/** The JSON lines a fixture printed, merged. */
function lines(stdout: string): FixtureOut {
  return Object.assign({}, ...stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as object)) as FixtureOut;
}

function dataset(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "trk-dataset-"));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

describe("logArtifact with the server down", () => {
  it("stages the files, hands the entry to the daemon, and finish() counts it as pending", async () => {
    const t = makeEnv({ TRACKSIDE_BASE_URL: `http://127.0.0.1:${await closedPort()}`, TRACKSIDE_API_KEY: "trk_nobody", TRACKSIDE_ENTITY: "alice" });
    const data = dataset({ "train.csv": "a,b\n1,2\n", "sub/test.csv": "a,b\n3,4\n" });
    const r = await runFixture("artifact-run", t.env, [JSON.stringify({ log: { name: "ds", dir: data }, wait: 300, finishTimeoutMs: 1500 })]);
    expect(r.code, r.stderr).toBe(0);
    const out = lines(r.stdout);
    expect(out.logged).toMatchObject({ size: 16, fileCount: 2 });
    expect(out.waitError).toBe("TRK_ERR_REQUEST_TIMEOUT");
    expect(out.message).toContain("the daemon goes on uploading it");
    expect(out.finished).toMatchObject({ synced: false, pendingArtifacts: 1 });
    expect(r.stderr).toMatch(/records and 1 artifact \([\d.]+ MB\) not uploaded yet/);
    // What the daemon will upload is in the run directory: the entry, and the staged bytes.
    const entry = JSON.parse(readFileSync(join(out.dir, "artifacts/queue", `${out.logged.entry}.json`), "utf8")) as ArtifactQueueEntry & { kind: "log" };
    expect(entry).toMatchObject({ kind: "log", digest: out.logged.digest, aliases: [] });
    for (const f of entry.manifest.files) expect(existsSync(join(out.dir, "artifacts/blobs", f.digest))).toBe(true);
  });
});

// The same runs with the server's blobs in its data directory, then in a real S3-compatible
// server (s3rver on loopback, `trackside server --artifact-store s3://...`).
describe.each(["filesystem", "s3"] as const)("logArtifact and useArtifact with a server, blobs in the %s store", (store) => {
  let t: TestEnv;
  let server: TestServer;
  let entity: string;
  let apiKey: string;
  let s3: TestS3 | null = null;
  beforeAll(async () => {
    t = makeEnv();
    if (store === "s3") s3 = await startS3();
    server = await startServer({ ...t.env, ...s3?.env }, s3 ? { args: ["--artifact-store", `s3://${s3.bucket}/team-blobs`] } : {});
    t.env.TRACKSIDE_BASE_URL = server.url;
    ({ user: entity, apiKey } = localUser(t.home, server.url));
  });
  afterAll(async () => {
    await server?.stop();
    await s3?.stop();
  });

  /** The digests of the blobs the server's store holds for the project `fixtures`. */
  async function storedBlobs(): Promise<string[]> {
    if (s3) {
      const client = new S3Client({ endpoint: s3.endpoint, region: "us-east-1", forcePathStyle: true, credentials: { accessKeyId: s3.env.AWS_ACCESS_KEY_ID, secretAccessKey: s3.env.AWS_SECRET_ACCESS_KEY } });
      const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `team-blobs/${entity}/fixtures/` }));
      client.destroy();
      return (listed.Contents ?? []).map((o) => basename(o.Key!)).sort();
    }
    // Content-addressed: <data dir>/artifacts/blobs/<entity>/<project>/<2 hex>/<digest>.
    const root = join(server.dataDir, "artifacts", "blobs", entity, "fixtures");
    return readdirSync(root, { recursive: true, encoding: "utf8" }).map((p) => basename(p)).filter((n) => /^[0-9a-f]{64}$/.test(n)).sort();
  }

  const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

  /** GET a version as the API answers it, or null for a 404. */
  async function version(name: string, alias: string): Promise<ArtifactVersionDetail | null> {
    const res = await fetch(`${server.url}/api/v1/artifacts/${entity}/fixtures/${name}/${alias}`, { headers: { authorization: `Bearer ${apiKey}` } });
    if (res.status === 404) return null;
    if (!res.ok) throw new Error(`GET ${name}:${alias}: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as ArtifactVersionDetail;
  }

  async function logDir(name: string, dir: string): Promise<FixtureOut> {
    const r = await runFixture("artifact-run", t.env, [JSON.stringify({ log: { name, dir }, wait: 30_000 })]);
    expect(r.code, r.stderr).toBe(0);
    return lines(r.stdout);
  }

  it("gives v0 for a directory, v0 again for it unchanged, v1 once a file changed; a run using latest downloads v1's bytes", async () => {
    const data = dataset({ "train.csv": "x,y\n1,2\n", "labels/names.txt": "cat\ndog\n" });
    const first = await logDir("dataset", data);
    expect(first.version).toBe("dataset:v0");
    expect(first.finished).toMatchObject({ synced: true, pendingArtifacts: 0 });
    expect(await showRun(`${entity}/fixtures/${first.id}`, t.env)).toMatchObject({
      state: "finished",
      artifactOutputs: [{ name: "dataset", version: "v0", type: "dataset", aliases: ["latest"], size: 16 }],
    });
    const before = await storedBlobs();
    expect(before).toEqual([sha256("x,y\n1,2\n"), sha256("cat\ndog\n")].sort());
    const second = await logDir("dataset", data);
    expect(second.version).toBe("dataset:v0");
    expect(await showRun(`${entity}/fixtures/${second.id}`, t.env)).toMatchObject({ artifactOutputs: [{ name: "dataset", version: "v0" }] });
    writeFileSync(join(data, "train.csv"), "x,y\n1,2\n3,4\n");
    const third = await logDir("dataset", data);
    expect(third.version).toBe("dataset:v1");
    // Only the changed file's bytes were stored anew.
    expect(await storedBlobs()).toEqual([...before, sha256("x,y\n1,2\n3,4\n")].sort());

    const into = join(mkdtempSync(join(tmpdir(), "trk-use-")), "got");
    const r = await runFixture("artifact-run", t.env, [JSON.stringify({ use: "dataset:latest", download: into })]);
    expect(r.code, r.stderr).toBe(0);
    const user = lines(r.stdout);
    expect(user.used).toBe("dataset:v1");
    expect(user.downloaded).toBe(into);
    expect(user.files?.map((f) => f.path)).toEqual(["labels/names.txt", "train.csv"]);
    for (const path of ["train.csv", "labels/names.txt"]) expect(readFileSync(join(into, path))).toEqual(readFileSync(join(data, path)));
    const v1 = await version("dataset", "v1");
    expect(v1?.producedBy.map((run) => run.id)).toEqual([third.id]);
    expect(v1?.usedBy.map((run) => run.id)).toEqual([user.id]);
    expect(await showRun(`${entity}/fixtures/${user.id}`, t.env)).toMatchObject({ artifactInputs: [{ name: "dataset", version: "v1" }] });

    // The artifact's page names the run that produced v1 and the run that used it.
    if (!withBrowser) return;
    const names = await Promise.all([third.id, user.id].map(async (id) => (await showRun(`${entity}/fixtures/${id}`, t.env)).name as string));
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      page.setDefaultTimeout(10_000);
      const link = await fetch(`${server.url}/api/v1/auth/login-links`, { method: "POST", headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" }, body: JSON.stringify({ next: `/${entity}/fixtures/artifacts/dataset/v1` }) });
      await page.goto(((await link.json()) as { url: string }).url);
      for (const name of names) await page.getByRole("link", { name }).first().waitFor();
      await page.screenshot({ path: join(SHOTS, `artifact-lineage-${store}.png`), fullPage: true });
    } finally {
      await browser.close();
    }
  });

  it("uploads the artifact of a process SIGKILLed right after logArtifact() resolved", async () => {
    const data = dataset({ "weights.bin": "w".repeat(10_000) });
    const p = start([join(ROOT_FIXTURES, "artifact-run.mjs"), JSON.stringify({ log: { name: "killed", dir: data, type: "model" }, kill: true })], t.env);
    const done = await p.exited;
    expect(done.signal).toBe("SIGKILL");
    expect(lines(done.stdout).logged.fileCount).toBe(1);
    const v = await eventually("the daemon uploaded the killed process's artifact", () => version("killed", "latest").then((d) => d ?? undefined), 20_000);
    expect(v).toMatchObject({ ref: "killed:v0", type: "model", fileCount: 1, size: 10_000 });
  });

  it("refuses to use a version that does not exist with the server's TRK_ERR_NOT_FOUND", async () => {
    const r = await runFixture("artifact-run", t.env, [JSON.stringify({ use: "nothing:v7" })]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("TRK_ERR_NOT_FOUND");
  });
});
