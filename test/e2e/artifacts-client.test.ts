/**
 * The client's artifact calls with a real daemon (a user's process running the public API,
 * test/fixtures/artifact-run.mjs): logArtifact() resolves once the files are staged and the daemon
 * holds the entry; while the server is out of reach, wait() times out with a coded error that
 * says the daemon goes on, and finish() reports the artifact as pending.
 */
import { createServer } from "node:net";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { ArtifactQueueEntry } from "../../src/protocol/index.js";
import { makeEnv, runFixture } from "../helpers/processes.js";

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
