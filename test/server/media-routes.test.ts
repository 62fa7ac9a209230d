/**
 * A run's media over HTTP (routes-media.ts) on a real SQLite store and a filesystem blob store,
 * through app.inject(): media records posted as a daemon posts them, the keys and the values by
 * step with each image's URL (whose bytes are the PNG posted), the run view's mediaKeys, bad
 * media records refused whole with a coded 400 naming the key, and who may download a media blob
 * (anyone who may read the run: a public run's images for anonymous readers, not a private one's).
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { PNG } from "pngjs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { HistoryView, RunView } from "../../src/protocol/api.js";
import type { ImageRef, MediaKeysView, MediaValue, MediaValuesView } from "../../src/protocol/media.js";
import type { RunRecord } from "../../src/protocol/records.js";
import { buildApp, mintApiKey, SqliteStore } from "../../src/server/index.js";
import { FilesystemBlobStore } from "../../src/server/blobs/filesystem-blob-store.js";
import { BASE_URL, codeOf, runInfo, T0 } from "./helpers.js";

let app: FastifyInstance;
let store: SqliteStore;
let aliceKey: string;
let close: () => Promise<void>;

beforeEach(async () => {
  const dir = mkdtempSync(join(tmpdir(), "trackside-media-"));
  store = SqliteStore.open(join(dir, "db.sqlite"));
  const blobs = new FilesystemBlobStore(join(dir, "artifacts"));
  app = buildApp({ store, blobs, publicBaseUrl: BASE_URL, now: () => T0 });
  const user = await store.createUser("alice", T0);
  const key = mintApiKey();
  await store.addApiKey(user.id, key.hash, key.prefix, T0);
  aliceKey = key.key;
  close = async () => {
    await app.close();
    await blobs.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  };
});
afterEach(async () => {
  await close();
});

const auth = (key: string | null) => (key ? { authorization: `Bearer ${key}` } : {});
const get = (url: string, key: string | null = aliceKey) => app.inject({ method: "GET", url, headers: auth(key) });
const postRecords = (path: string, records: RunRecord[]) =>
  app.inject({ method: "POST", url: `/api/v1/runs/${path}/records`, headers: { ...auth(aliceKey), "content-type": "application/json" }, payload: JSON.stringify(records) });

/** A real PNG of width x height RGBA pixels, all of one grey `level`, and its reference. */
function png(level: number, width = 2, height = 3, caption: string | null = null): { bytes: Buffer; ref: ImageRef } {
  const image = new PNG({ width, height });
  image.data.fill(level);
  const bytes = PNG.sync.write(image);
  const digest = createHash("sha256").update(bytes).digest("hex");
  return { bytes, ref: { type: "image", digest, size: bytes.length, format: "png", width, height, caption } };
}

async function putBlob(project: string, bytes: Buffer, digest: string): Promise<void> {
  const res = await app.inject({ method: "PUT", url: `/api/v1/artifacts/${project}/blobs/${digest}`, headers: { ...auth(aliceKey), "content-type": "application/octet-stream" }, payload: bytes });
  expect(res.statusCode, res.body).toBe(200);
}

const media = (seq: number, step: number, key: string, value: MediaValue): RunRecord => ({ k: "media", seq, step, key, value });

async function makeRun(path: string, privacy: "private" | "public"): Promise<void> {
  const [entity, project, id] = path.split("/");
  expect((await postRecords(path, [{ k: "run", seq: 0, run: runInfo(id, { entity, project }) }])).statusCode).toBe(200);
  const patched = await app.inject({ method: "PATCH", url: `/api/v1/runs/${path}`, headers: auth(aliceKey), payload: { privacy } });
  expect(patched.statusCode, patched.body).toBe(200);
}

describe("media routes", () => {
  it("lists a run's media keys and answers a key's values by step, each image with a URL that serves its bytes", async () => {
    await makeRun("alice/mnist/run00001", "private");
    const [a, b, c] = [png(10), png(200, 4, 1, "b"), png(99)];
    for (const p of [a, b, c]) await putBlob("alice/mnist", p.bytes, p.ref.digest);
    const table: MediaValue = { type: "table", columns: ["label", "image"], rows: [["cat", c.ref], ["dog", null]] };
    const posted = await postRecords("alice/mnist/run00001", [
      media(1, 0, "samples/input", a.ref),
      media(2, 0, "w", { type: "histogram", bins: [0, 1, 2], counts: [5, 6] }),
      media(3, 1, "samples/input", { type: "images", items: [a.ref, b.ref] }),
      media(4, 1, "preds", table),
      // Step 0 again, newer: it replaces the first.
      media(5, 0, "samples/input", b.ref),
    ]);
    expect(posted.statusCode, posted.body).toBe(200);

    const keys = await get("/api/v1/runs/alice/mnist/run00001/media");
    expect(keys.json<MediaKeysView>()).toEqual({
      keys: [
        { key: "preds", type: "table", steps: 1, firstStep: 1, lastStep: 1 },
        { key: "samples/input", type: "images", steps: 2, firstStep: 0, lastStep: 1 },
        { key: "w", type: "histogram", steps: 1, firstStep: 0, lastStep: 0 },
      ],
    });
    expect((await get("/api/v1/runs/alice/mnist/run00001")).json<RunView>().mediaKeys?.map((k) => k.key)).toEqual(["preds", "samples/input", "w"]);

    const values = (await get("/api/v1/runs/alice/mnist/run00001/media/values?key=samples%2Finput")).json<MediaValuesView>();
    expect(values.key).toBe("samples/input");
    expect(values.entries.map((e) => e.step)).toEqual([0, 1]);
    const first = values.entries[0].value as ImageRef & { url: string };
    expect(first).toMatchObject({ ...b.ref });
    const items = (values.entries[1].value as { items: (ImageRef & { url: string })[] }).items;
    expect(items.map((i) => i.digest)).toEqual([a.ref.digest, b.ref.digest]);
    // The URL serves the bytes, which decode to the pixels posted.
    const served = await get(new URL(items[0].url, BASE_URL).pathname);
    expect(served.statusCode).toBe(200);
    const decoded = PNG.sync.read(served.rawPayload);
    expect([decoded.width, decoded.height, decoded.data[0]]).toEqual([2, 3, 10]);

    const preds = (await get("/api/v1/runs/alice/mnist/run00001/media/values?key=preds")).json<MediaValuesView>();
    const row = (preds.entries[0].value as { rows: unknown[][] }).rows[0];
    expect(row[0]).toBe("cat");
    expect(row[1]).toMatchObject({ digest: c.ref.digest, url: expect.stringContaining(c.ref.digest) });
    expect((await get("/api/v1/runs/alice/mnist/run00001/media/values?key=w&fromStep=1")).json<MediaValuesView>().entries).toEqual([]);
    const missingKey = await get("/api/v1/runs/alice/mnist/run00001/media/values");
    expect([missingKey.statusCode, codeOf(missingKey)]).toEqual([400, "TRK_ERR_BAD_REQUEST"]);
  });

  it("gives the media values in the history answer's rows at their steps, each image with its URL", async () => {
    await makeRun("alice/mnist/run00001", "private");
    const [a, b] = [png(10), png(200, 4, 1, "b")];
    for (const p of [a, b]) await putBlob("alice/mnist", p.bytes, p.ref.digest);
    const rows = [0, 1, 2].map((step) => ({ _step: step, _timestamp: T0 + step, _runtime: step, loss: 1 / (step + 1) }));
    const posted = await postRecords("alice/mnist/run00001", [
      { k: "history", seq: 1, rows },
      media(10, 0, "samples/input", a.ref),
      media(11, 0, "w", { type: "histogram", bins: [0, 1, 2], counts: [5, 6] }),
      media(12, 2, "samples/input", { type: "images", items: [a.ref, b.ref] }),
    ]);
    expect(posted.statusCode, posted.body).toBe(200);
    const all = (await get("/api/v1/runs/alice/mnist/run00001/history")).json<HistoryView>();
    expect(all.keys).toEqual(expect.arrayContaining(["loss", "samples/input", "w"]));
    expect(all.mediaLeftOut).toBeUndefined();
    expect(all.rows.map((r) => [r._step, r.loss, r.w !== undefined, r["samples/input"] !== undefined])).toEqual([
      [0, 1, true, true],
      [1, 0.5, false, false],
      [2, 1 / 3, false, true],
    ]);
    expect(all.rows[0]["samples/input"]).toMatchObject({ ...a.ref, url: expect.stringContaining(a.ref.digest) });
    expect(all.rows[0].w).toEqual({ type: "histogram", bins: [0, 1, 2], counts: [5, 6] });
    const items = (all.rows[2]["samples/input"] as { items: { digest: string; url: string }[] }).items;
    expect(items.map((i) => i.digest)).toEqual([a.ref.digest, b.ref.digest]);
    const served = await get(new URL(items[1].url, BASE_URL).pathname);
    expect([served.statusCode, PNG.sync.read(served.rawPayload).data[0]]).toEqual([200, 200]);
    // Keys asked for: only those, media or not.
    const some = (await get("/api/v1/runs/alice/mnist/run00001/history?keys=w")).json<HistoryView>();
    expect(some.rows).toEqual([{ _step: 0, w: { type: "histogram", bins: [0, 1, 2], counts: [5, 6] } }, { _step: 1 }, { _step: 2 }]);
    // Media at steps without a history row (a client posting its own records) take no place
    // from the rows' values: every row of the answer still gets its step's value.
    const sparse = [0, 2, 4, 6, 8].map((step) => ({ _step: 10 + step, _timestamp: T0, _runtime: 0, loss: step }));
    const more = await postRecords("alice/mnist/run00001", [
      { k: "history", seq: 20, rows: sparse },
      ...Array.from({ length: 10 }, (_, i) => media(30 + i, 10 + i, "h", { type: "histogram", bins: [0, 1], counts: [i] })),
    ]);
    expect(more.statusCode, more.body).toBe(200);
    const late = (await get("/api/v1/runs/alice/mnist/run00001/history?keys=loss,h&minStep=10")).json<HistoryView>();
    expect(late.rows.map((r) => [r._step, (r.h as { counts: number[] } | undefined)?.counts[0]])).toEqual([[10, 0], [12, 2], [14, 4], [16, 6], [18, 8]]);
    expect(late.mediaLeftOut).toBeUndefined();
    // media=false: scalars only.
    const scalars = (await get("/api/v1/runs/alice/mnist/run00001/history?media=false")).json<HistoryView>();
    expect(scalars.keys).not.toContain("w");
    expect(scalars.rows[0].w).toBeUndefined();
    const bad = await get("/api/v1/runs/alice/mnist/run00001/history?media=no");
    expect([bad.statusCode, codeOf(bad)]).toEqual([400, "TRK_ERR_BAD_REQUEST"]);
  });

  it("answers at most about 16 MB of values at once, and says where the steps it left out begin", async () => {
    await makeRun("alice/mnist/run00001", "private");
    // A table logged whole at each step: 6 MB a step. Ten thousand such steps (the most limit
    // asks) would be 60 GB built in the server's memory for one answer.
    const rows = Array.from({ length: 100 }, (_, i) => [`${i}`.padEnd(60_000, "x")]);
    for (let step = 0; step < 4; step++) {
      const posted = await postRecords("alice/mnist/run00001", [media(step + 1, step, "t", { type: "table", columns: ["text"], rows })]);
      expect(posted.statusCode, posted.body).toBe(200);
    }
    const first = await get("/api/v1/runs/alice/mnist/run00001/media/values?key=t&limit=10000");
    expect(first.statusCode).toBe(200);
    const page = first.json<MediaValuesView>();
    expect([page.entries.map((e) => e.step), page.next]).toEqual([[0, 1, 2], 3]);
    const rest = (await get(`/api/v1/runs/alice/mnist/run00001/media/values?key=t&fromStep=${page.next}`)).json<MediaValuesView>();
    expect([rest.entries.map((e) => e.step), rest.next]).toEqual([[3], null]);
    // By the limit too.
    const one = (await get("/api/v1/runs/alice/mnist/run00001/media/values?key=t&limit=1&toStep=1")).json<MediaValuesView>();
    expect([one.entries.map((e) => e.step), one.next]).toEqual([[0], 1]);
    // The history answer holds as much, and names the first step it left out.
    const rowsPosted = await postRecords("alice/mnist/run00001", [{ k: "history", seq: 10, rows: [0, 1, 2, 3].map((step) => ({ _step: step, _timestamp: T0, _runtime: 0, loss: step })) }]);
    expect(rowsPosted.statusCode, rowsPosted.body).toBe(200);
    const history = (await get("/api/v1/runs/alice/mnist/run00001/history?keys=t,loss")).json<HistoryView>();
    expect(history.rows.map((r) => [r.loss, r.t !== undefined])).toEqual([[0, true], [1, true], [2, true], [3, false]]);
    expect(history.mediaLeftOut).toEqual({ t: 3 });
  });

  it("refuses a malformed media record with a coded 400 naming its key, and applies nothing of that body", async () => {
    await makeRun("alice/mnist/run00001", "private");
    const { ref } = png(1);
    const bad: [unknown, string][] = [
      [{ ...ref, digest: "xyz" }, "digest"],
      [{ type: "histogram", bins: [0, 1], counts: [1, 2] }, "edges"],
      [{ type: "table", columns: ["a", "b"], rows: [[1]] }, "cells"],
      [{ type: "video" }, "value.type"],
      [{ type: "images", items: Array(1001).fill(ref) }, "1001 images"],
    ];
    for (const [value, why] of bad) {
      const res = await postRecords("alice/mnist/run00001", [media(1, 0, "ok", ref), { k: "media", seq: 2, step: 0, key: "samples/bad", value } as RunRecord]);
      expect([res.statusCode, codeOf(res)], res.body).toEqual([400, "TRK_ERR_BAD_REQUEST"]);
      expect(res.json<{ error: { message: string } }>().error.message).toContain('"samples/bad"');
      expect(res.json<{ error: { message: string } }>().error.message).toContain(why);
    }
    expect((await get("/api/v1/runs/alice/mnist/run00001/media")).json<MediaKeysView>().keys).toEqual([]);
  });

  it("lets anyone who may read a run download its media's blobs: a public run's to anonymous readers, not a private one's", async () => {
    await makeRun("alice/mnist/public01", "public");
    await makeRun("alice/mnist/private1", "private");
    const [shown, hidden] = [png(7), png(8)];
    for (const p of [shown, hidden]) await putBlob("alice/mnist", p.bytes, p.ref.digest);
    expect((await postRecords("alice/mnist/public01", [media(1, 0, "s", shown.ref)])).statusCode).toBe(200);
    expect((await postRecords("alice/mnist/private1", [media(1, 0, "s", hidden.ref)])).statusCode).toBe(200);

    const values = (await get("/api/v1/runs/alice/mnist/public01/media/values?key=s", null)).json<MediaValuesView>();
    const url = new URL((values.entries[0].value as { url: string }).url, BASE_URL).pathname;
    const anonymous = await get(url, null);
    expect(anonymous.statusCode, anonymous.body).toBe(200);
    expect(anonymous.rawPayload.equals(shown.bytes)).toBe(true);
    expect((await get(`/api/v1/artifacts/alice/mnist/blobs/${hidden.ref.digest}`, null)).statusCode).toBe(404);
    expect((await get("/api/v1/runs/alice/mnist/private1/media", null)).statusCode).toBe(404);
    expect((await get(`/api/v1/artifacts/alice/mnist/blobs/${hidden.ref.digest}`)).statusCode).toBe(200);
    // Another signed-in user is no member of alice's: as anonymous, the public run's image only.
    const bob = await store.createUser("bob", T0);
    const bobKey = mintApiKey();
    await store.addApiKey(bob.id, bobKey.hash, bobKey.prefix, T0);
    expect((await get(url, bobKey.key)).statusCode).toBe(200);
    expect((await get(`/api/v1/artifacts/alice/mnist/blobs/${hidden.ref.digest}`, bobKey.key)).statusCode).toBe(404);
    expect((await get("/api/v1/runs/alice/mnist/private1/media/values?key=s", bobKey.key)).statusCode).toBe(404);
    // Made private, the once public run's image is no longer anyone's but alice's.
    await app.inject({ method: "PATCH", url: "/api/v1/runs/alice/mnist/public01", headers: auth(aliceKey), payload: { privacy: "private" } });
    expect((await get(url, bobKey.key)).statusCode).toBe(404);
    expect((await get(url, null)).statusCode).toBe(404);
  });
});
