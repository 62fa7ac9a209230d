/**
 * Media logged by a user's process (test/fixtures/media-run.mjs) with a real daemon and a real
 * server: the media records reach the server, and so do the image bytes, through the daemon's
 * `blobs` queue entries: the server's blob route serves PNGs that decode to the pixels logged.
 * Also when the process exits right after its last log(), without finish(): the entry of its last
 * blobs, written at exit, is found and uploaded by the daemon; and for an offline run, by
 * `trackside sync`.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, eventually, makeEnv, runFixture, showRun, startServer, stopDaemons, type TestEnv, type TestServer } from "../helpers/processes.js";
import { localUser } from "../helpers/run-dir.js";

const H = 6;
const W = 8;
/** The fixture's pixels of step `s` (RGB). */
const pixelsOf = (s: number): number[] => Array.from({ length: H * W * 3 }, (_, i) => (i * 7 + s * 13) & 255);

interface Out {
  id: string;
  dir: string;
  finished?: { synced: boolean; state: string };
}

function lines(stdout: string): Out {
  return Object.assign({}, ...stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as object)) as Out;
}

/** The digests of the `blobs` queue entries in a run directory. */
function queuedBlobs(dir: string): string[] {
  const queue = join(dir, "artifacts", "queue");
  const digests: string[] = [];
  for (const name of readdirSync(queue).filter((n) => /^\d{15}-[a-z0-9]{8}\.json$/.test(n))) {
    const entry = JSON.parse(readFileSync(join(queue, name), "utf8")) as { kind: string; blobs?: { digest: string }[] };
    expect(entry.kind).toBe("blobs");
    for (const b of entry.blobs ?? []) digests.push(b.digest);
  }
  return digests;
}

/** A PNG's RGB values. */
function rgb(bytes: Buffer): number[] {
  const png = PNG.sync.read(bytes);
  expect([png.width, png.height]).toEqual([W, H]);
  const out: number[] = [];
  for (let p = 0; p < W * H; p++) out.push(png.data[p * 4], png.data[p * 4 + 1], png.data[p * 4 + 2]);
  return out;
}

describe("media through the daemon to the server", () => {
  let t: TestEnv;
  let server: TestServer;
  let entity: string;
  let apiKey: string;
  beforeAll(async () => {
    t = makeEnv();
    server = await startServer(t.env);
    t.env.TRACKSIDE_BASE_URL = server.url;
    ({ user: entity, apiKey } = localUser(t.home, server.url));
    t.env.TRACKSIDE_API_KEY = apiKey;
  });
  afterAll(async () => {
    // The clients first: a daemon still uploading holds a connection the server's close waits for.
    if (t) await stopDaemons(t.socketDir);
    await server?.stop();
  });

  const blob = (digest: string): Promise<Response> => fetch(`${server.url}/api/v1/artifacts/${entity}/fixtures/blobs/${digest}`, { headers: { authorization: `Bearer ${apiKey}` } });
  /**
   * The status of a blob's download, its body read to the end: a response left unread keeps its
   * connection busy, and the server's SIGTERM then waits for it (up to its request timeout).
   */
  const blobStatus = async (digest: string): Promise<number> => {
    const res = await blob(digest);
    await res.arrayBuffer();
    return res.status;
  };

  /** Every logged image's bytes, from the server, decoded: the pixels of steps 0..9 and of the table's rows (100..102). */
  async function imagesOnServer(digests: string[]): Promise<number[][]> {
    const out: number[][] = [];
    for (const d of digests) {
      const res = await blob(d);
      expect(res.status, `blob ${d}`).toBe(200);
      out.push(rgb(Buffer.from(await res.arrayBuffer())));
    }
    return out;
  }

  const expected = [...[0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(pixelsOf), ...[100, 101, 102].map(pixelsOf)];
  const sorted = (a: number[][]): string[] => a.map((p) => p.join(",")).sort();

  it("a run that logs images, a histogram and a table for 10 steps: the records and the image bytes reach the server", async () => {
    const r = await runFixture("media-run", t.env, ["{}"]);
    expect(r.code, r.stderr).toBe(0);
    const out = lines(r.stdout);
    expect(out.finished).toEqual({ synced: true, state: "finished" });
    expect(r.stderr).not.toContain("TRK_ERR");
    // finish() waited for the blobs: each entry is done without an error.
    const digests = queuedBlobs(out.dir);
    expect(digests).toHaveLength(13);
    expect(sorted(await imagesOnServer(digests))).toEqual(sorted(expected));
    // 10 steps x 3 keys: the server has 30 media records (stored by the server's media table, or
    // counted as a kind it does not know yet).
    const run = await showRun(`${entity}/fixtures/${out.id}`, t.env);
    const mediaKeys = run.mediaKeys as { key: string; steps: number }[];
    expect(mediaKeys.map((k) => [k.key, k.steps]).sort()).toEqual([["preds", 10], ["samples/input", 10], ["weights", 10]]);
    expect(run.unknownRecords).toEqual([]);
    expect(run).toMatchObject({ state: "finished" });
  });

  it("a process that exits right after its last log() still gets its last images uploaded", async () => {
    const r = await runFixture("media-run", t.env, [JSON.stringify({ steps: 2, exit: true })]);
    expect(r.code, r.stderr).toBe(0);
    const out = lines(r.stdout);
    expect(out.finished).toBeUndefined();
    const digests = queuedBlobs(out.dir);
    expect(digests).toHaveLength(4);
    await eventually("the images on the server", async () => ((await Promise.all(digests.map(blobStatus))).every((status) => status === 200) ? true : undefined), 20_000);
    expect(sorted(await imagesOnServer(digests))).toEqual(sorted([pixelsOf(0), pixelsOf(1), pixelsOf(100), pixelsOf(101)]));
  });

  it("a bad media value is a coded error naming its key, and the call's other values reach the server", async () => {
    const r = await runFixture("media-run", t.env, [JSON.stringify({ steps: 2, offset: 2000, odd: true })]);
    expect(r.code, r.stderr).toBe(0);
    const out = lines(r.stdout);
    expect(out.finished).toEqual({ synced: true, state: "finished" });
    expect(r.stderr).toContain("TRK_ERR_INVALID_MEDIA");
    expect(r.stderr).toContain('"density"');
    // Before, log() took the value, the daemon's check refused it and set the whole batch aside: no loss, no images.
    const run = await showRun(`${entity}/fixtures/${out.id}`, t.env);
    expect(run.summary).toMatchObject({ loss: 0.5 });
    expect((run.mediaKeys as { key: string; steps: number }[]).map((k) => [k.key, k.steps]).sort()).toEqual([["preds", 2], ["samples/input", 2], ["weights", 2]]);
  });

  it("a process killed after staging an image but before naming it in a queue entry: the daemon uploads those bytes", async () => {
    const r = await runFixture("media-run", t.env, [JSON.stringify({ steps: 1, offset: 3000, stray: true })]);
    expect(r.signal).toBe("SIGKILL");
    const { stray } = lines(r.stdout) as Out & { stray: string };
    await eventually("the stray bytes on the server", async () => ((await blobStatus(stray)) === 200 ? true : undefined), 20_000);
  });

  it("an offline run's images reach the server with trackside sync", async () => {
    const r = await runFixture("media-run", { ...t.env, TRACKSIDE_MODE: "offline" }, [JSON.stringify({ steps: 1, offset: 1000 })]);
    expect(r.code, r.stderr).toBe(0);
    const out = lines(r.stdout);
    const digests = queuedBlobs(out.dir);
    expect(digests).toHaveLength(2);
    for (const status of await Promise.all(digests.map(blobStatus))) expect(status).toBe(404);
    const sync = await cli(["sync", out.dir], t.env);
    expect(sync.code, sync.stderr).toBe(0);
    expect(sorted(await imagesOnServer(digests))).toEqual(sorted([pixelsOf(1000), pixelsOf(1100)]));
  });
});
