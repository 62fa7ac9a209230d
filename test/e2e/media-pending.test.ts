/**
 * What a user who logged only images is told while they wait to upload: finish()'s footer with
 * the server out of reach, and `trackside sync` with the server's bucket out of reach, count the
 * images as media files, never as artifacts (the daemon carries both in one queue).
 */
import { afterEach, describe, expect, it } from "vitest";
import { cli, closedPort, makeEnv, runFixture, startServer, stopDaemons, type TestEnv, type TestServer } from "../helpers/processes.js";
import { localUser } from "../helpers/run-dir.js";
import { startS3, type TestS3 } from "../helpers/s3.js";

function lines(stdout: string): { dir: string; finished?: { synced: boolean } } {
  return Object.assign({}, ...stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as object)) as { dir: string; finished?: { synced: boolean } };
}

describe("images waiting to upload are counted as media files", () => {
  let t: TestEnv | null = null;
  let server: TestServer | null = null;
  let s3: TestS3 | null = null;
  afterEach(async () => {
    if (t) await stopDaemons(t.socketDir);
    await server?.stop();
    await s3?.stop();
    [t, server, s3] = [null, null, null];
  });

  it("finish() with the server down: the footer names the run's images as media files, and no artifact", async () => {
    t = makeEnv({ TRACKSIDE_BASE_URL: `http://127.0.0.1:${await closedPort()}`, TRACKSIDE_API_KEY: "trk_nobody", TRACKSIDE_ENTITY: "alice" });
    // One step: its image and the table's first row's image.
    const r = await runFixture("media-run", t.env, [JSON.stringify({ steps: 1, finishTimeoutMs: 1000 })]);
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout).finished?.synced).toBe(false);
    expect(r.stderr).toMatch(/\d+ records and 2 media files \([\d.]+ MB\) not uploaded yet/);
    expect(r.stderr).not.toMatch(/artifact/i);
  });

  it("trackside sync with the server's bucket down: the records go, and it says which media files did not", async () => {
    t = makeEnv();
    s3 = await startS3();
    server = await startServer({ ...t.env, ...s3.env }, { args: ["--artifact-store", `s3://${s3.bucket}/media`] });
    t.env.TRACKSIDE_BASE_URL = server.url;
    t.env.TRACKSIDE_API_KEY = localUser(t.home, server.url).apiKey;
    const run = await runFixture("media-run", { ...t.env, TRACKSIDE_MODE: "offline" }, [JSON.stringify({ steps: 1 })]);
    expect(run.code, run.stderr).toBe(0);
    await s3.stop();
    const sync = await cli(["sync", lines(run.stdout).dir, "--timeout", "5"], t.env);
    expect(sync.code, sync.stderr).toBe(1);
    expect(sync.stdout).toMatch(/^synced \S+: \d+ records/m);
    expect(sync.stderr).toMatch(/could not sync 2 media files of \S+ within 5 s/);
    expect(sync.stderr).not.toMatch(/artifact/i);
  });
});
