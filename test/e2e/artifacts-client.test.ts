/**
 * The client's artifact calls with a real daemon and a real server (a user's process running the
 * public API, test/fixtures/artifact-run.mjs): logArtifact() resolves once the files are staged
 * and the daemon holds the entry, and wait() gives the version the server made of it; useArtifact()
 * resolves an alias and downloads the bytes; a process killed right after logArtifact() still gets
 * its artifact uploaded. While the server is out of reach, wait() times out with a coded error that
 * says the daemon goes on, and finish() reports the artifact as pending.
 */
import { createServer } from "node:net";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ArtifactQueueEntry, ArtifactVersionDetail } from "../../src/protocol/index.js";
import { ROOT, eventually, makeEnv, runFixture, serverWithEnv, start, type TestEnv, type TestServer } from "../helpers/processes.js";
import { localUser } from "../helpers/run-dir.js";

const ROOT_FIXTURES = join(ROOT, "test/fixtures");

/** A loopback port that nothing listens on: a tracking server that is down. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

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

describe("logArtifact and useArtifact with a server", () => {
  let t: TestEnv;
  let server: TestServer;
  let entity: string;
  let apiKey: string;
  beforeAll(async () => {
    ({ t, server } = await serverWithEnv());
    ({ user: entity, apiKey } = localUser(t.home, server.url));
  });
  afterAll(() => server?.stop());

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
    expect((await logDir("dataset", data)).version).toBe("dataset:v0");
    writeFileSync(join(data, "train.csv"), "x,y\n1,2\n3,4\n");
    const third = await logDir("dataset", data);
    expect(third.version).toBe("dataset:v1");

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
