import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WAL_FRAMES_CONTENT_TYPE, type RunView } from "../../src/protocol/api.js";
import { encodeRecords } from "../../src/protocol/codec.js";
import { frameHeader } from "../../src/protocol/wal-format.js";
import type { RunRecord } from "../../src/protocol/records.js";
import { codeOf, get, makeEnv, msgpackBody, postRecords, rows, runInfo, T0, type TestEnv } from "./helpers.js";

let env: TestEnv;
beforeEach(async () => {
  env = await makeEnv();
});
afterEach(async () => {
  await env.close();
});

const PATH = "alice/mnist/a1b2c3d4";
const view = async (key: string | null = env.aliceKey) => (await get(env, `/api/v1/runs/${PATH}`, key)).json() as RunView;

describe("POST /api/v1/runs/:entity/:project/:id/records", () => {
  it("creates the run from a msgpack body of several batches and applies every record", async () => {
    const body = msgpackBody(
      [{ k: "run", seq: 0, run: runInfo("a1b2c3d4") }],
      [{ k: "history", seq: 1, rows: rows(0, 3) }, { k: "summary", seq: 4, summary: { loss: 0.33 } }],
    );
    const res = await postRecords(env, PATH, body);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ records: 3, lastSeq: 4 });

    const run = await view();
    expect(run).toMatchObject({ id: "a1b2c3d4", name: "likely-lion-9", state: "running", historySteps: 3, path: PATH });
    expect(run.config).toEqual({ lr: 0.001 });
    expect(run.summary).toEqual({ loss: 0.33 });
    expect(run.author).toBe("alice");
    expect(run.metadata.program).toMatchObject({ host: "gpu-box-1" });
  });

  it("takes the daemon's WAL frames as they are on disk, and refuses a frame whose CRC does not match", async () => {
    const frames = (...batches: RunRecord[][]): Buffer =>
      Buffer.concat(batches.flatMap((b) => {
        const payload = encodeRecords(b);
        return [frameHeader(payload), payload];
      }));
    const post = (body: Buffer) =>
      env.app.inject({ method: "POST", url: `/api/v1/runs/${PATH}/records`, headers: { "content-type": WAL_FRAMES_CONTENT_TYPE, authorization: `Bearer ${env.aliceKey}` }, payload: body });
    const good = frames([{ k: "run", seq: 0, run: runInfo("a1b2c3d4") }], [{ k: "history", seq: 1, rows: rows(0, 5) }]);
    const bad = Buffer.from(frames([{ k: "history", seq: 6, rows: rows(5, 5) }]));
    bad[bad.length - 3] ^= 0xff;
    const refused = await post(bad);
    expect(refused.statusCode).toBe(400);
    expect(codeOf(refused)).toBe("TRK_ERR_BAD_REQUEST");
    expect(refused.json().error.message).toContain("CRC-32");
    expect((await post(good)).statusCode).toBe(200);
    expect((await view()).historySteps).toBe(5);
  });

  it("accepts one JSON array of records", async () => {
    const res = await postRecords(env, PATH, [{ k: "run", seq: 0, run: runInfo("a1b2c3d4") }, { k: "history", seq: 1, rows: rows(0, 2) }]);
    expect(res.statusCode).toBe(200);
    expect((await view()).historySteps).toBe(2);
  });

  it("stores a resent body once: same steps, same history, same lastSeq", async () => {
    const body = msgpackBody([{ k: "run", seq: 0, run: runInfo("a1b2c3d4") }, { k: "history", seq: 1, rows: rows(0, 100) }]);
    const first = await postRecords(env, PATH, body);
    const second = await postRecords(env, PATH, body);
    expect(second.json()).toEqual(first.json());
    expect((await view()).historySteps).toBe(100);
    const history = (await get(env, `/api/v1/runs/${PATH}/history?keys=loss`)).json() as { rows: { _step: number }[] };
    expect(history.rows.map((r) => r._step)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it("lets a resent history row replace the stored one at the same seq", async () => {
    await postRecords(env, PATH, [{ k: "run", seq: 0, run: runInfo("a1b2c3d4") }, { k: "history", seq: 1, rows: rows(0, 2) }]);
    await postRecords(env, PATH, [{ k: "history", seq: 2, rows: rows(1, 1, { loss: 42 }) }]);
    const history = (await get(env, `/api/v1/runs/${PATH}/history?keys=loss`)).json();
    expect(history.rows).toEqual([{ _step: 0, loss: 1 }, { _step: 1, loss: 42 }]);
  });

  it("never lets an older record overwrite a newer one", async () => {
    await postRecords(env, PATH, [
      { k: "run", seq: 0, run: runInfo("a1b2c3d4") },
      { k: "config", seq: 5, config: { lr: 0.1, batch: 64 } },
      { k: "update", seq: 6, name: "newest-name" },
    ]);
    // A late, older batch (a retry that crossed a newer one) arrives afterwards.
    await postRecords(env, PATH, [
      { k: "config", seq: 3, config: { lr: 0.5 } },
      { k: "update", seq: 2, name: "older-name", tags: ["kept"] },
    ]);
    const run = await view();
    expect(run.config).toEqual({ lr: 0.1, batch: 64 });
    expect(run.name).toBe("newest-name");
    // Fields the newer update did not touch still take the older record's value.
    expect(run.tags).toEqual(["kept"]);
  });

  it("ends the run on an exit record, and a newer run record (a resume) reopens it", async () => {
    await postRecords(env, PATH, [{ k: "run", seq: 0, run: runInfo("a1b2c3d4") }]);
    const exit: RunRecord = { k: "exit", seq: 1, state: "failed", exitCode: 1, signal: null, error: "Error: boom", finishedAt: T0 + 90_000 };
    await postRecords(env, PATH, [exit]);
    let run = await view();
    expect(run).toMatchObject({ state: "failed", exitCode: 1, error: "Error: boom", durationSeconds: 90 });
    expect(run.finishedAt).toBe(new Date(T0 + 90_000).toISOString());

    // Replaying the original run record changes nothing...
    await postRecords(env, PATH, [{ k: "run", seq: 0, run: runInfo("a1b2c3d4") }]);
    expect((await view()).state).toBe("failed");
    // ...but a resume, numbered after the exit, reopens the run and keeps its start time.
    await postRecords(env, PATH, [{ k: "run", seq: 2, run: runInfo("a1b2c3d4", { createdAt: T0 + 100_000, resumed: true }) }]);
    run = await view();
    expect(run).toMatchObject({ state: "running", exitCode: null, error: null, finishedAt: null, createdAt: new Date(T0).toISOString() });
  });

  it("keeps NaN and the infinities in history exactly", async () => {
    const row = { _step: 0, _timestamp: T0, _runtime: 0, loss: NaN, up: Infinity, down: -Infinity, ok: 0.5 };
    await postRecords(env, PATH, msgpackBody([{ k: "run", seq: 0, run: runInfo("a1b2c3d4") }, { k: "history", seq: 1, rows: [row] }]));
    const res = await get(env, `/api/v1/runs/${PATH}/history`);
    expect(res.body).toContain('"loss":"NaN"');
    expect(res.json().rows[0]).toMatchObject({ _step: 0, loss: "NaN", up: "Infinity", down: "-Infinity", ok: 0.5 });
    const run = await env.store.getRun("alice", "mnist", "a1b2c3d4");
    const [stored] = await env.store.readHistory(run!.pk, { limit: 10 });
    expect(Number.isNaN(stored.loss)).toBe(true);
    expect(stored.up).toBe(Infinity);
    expect(stored.down).toBe(-Infinity);
  });

  it("refuses a malformed body with TRK_ERR_BAD_REQUEST and applies none of it", async () => {
    const garbage = await postRecords(env, PATH, Buffer.from([0x92, 0x01]));
    expect(garbage.statusCode).toBe(400);
    expect(codeOf(garbage)).toBe("TRK_ERR_BAD_REQUEST");

    const badRow = await postRecords(env, PATH, [
      { k: "run", seq: 0, run: runInfo("a1b2c3d4") },
      { k: "history", seq: 1, rows: [{ _timestamp: T0, loss: 1 }] },
    ] as unknown as RunRecord[]);
    expect(badRow.statusCode).toBe(400);
    expect(codeOf(badRow)).toBe("TRK_ERR_BAD_REQUEST");
    expect(badRow.json().error.message).toContain("record 1");
    expect(badRow.json().error.message).toContain("_step");
    // The valid run record of that body was not applied either.
    expect((await get(env, `/api/v1/runs/${PATH}`)).statusCode).toBe(404);

    const badJson = await postRecords(env, PATH, "[{not json");
    expect(badJson.statusCode).toBe(400);
    expect(codeOf(badJson)).toBe("TRK_ERR_BAD_REQUEST");

    const notRecords = await postRecords(env, PATH, { k: "run" } as unknown as RunRecord[]);
    expect(notRecords.statusCode).toBe(400);
    expect(notRecords.json().error.message).toContain("not an array of records");

    const plain = await env.app.inject({
      method: "POST",
      url: `/api/v1/runs/${PATH}/records`,
      headers: { authorization: `Bearer ${env.aliceKey}`, "content-type": "application/xml" },
      payload: "<records/>",
    });
    expect(plain.statusCode).toBe(415);
    expect(codeOf(plain)).toBe("TRK_ERR_BAD_REQUEST");
  });

  it("refuses a run record whose id is not the URL's", async () => {
    const res = await postRecords(env, PATH, [{ k: "run", seq: 0, run: runInfo("zzzzzzzz") }]);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toContain("zzzzzzzz");
  });

  it("answers 404 for records of a run that does not exist and no run record", async () => {
    const res = await postRecords(env, PATH, [{ k: "history", seq: 1, rows: rows(0, 1) }]);
    expect(res.statusCode).toBe(404);
    expect(codeOf(res)).toBe("TRK_ERR_NOT_FOUND");
  });

  it("answers 401 for a missing or unknown key", async () => {
    const body = [{ k: "run", seq: 0, run: runInfo("a1b2c3d4") }] as RunRecord[];
    const none = await postRecords(env, PATH, body, null);
    const wrong = await postRecords(env, PATH, body, "trk_not-a-real-key");
    for (const res of [none, wrong]) {
      expect(res.statusCode).toBe(401);
      expect(codeOf(res)).toBe("TRK_ERR_UNAUTHORIZED");
    }
  });

  it("answers 403 when the key's user does not own the entity", async () => {
    const res = await postRecords(env, "alice/mnist/b0b0b0b0", [{ k: "run", seq: 0, run: runInfo("b0b0b0b0") }], env.bobKey);
    expect(res.statusCode).toBe(403);
    expect(codeOf(res)).toBe("TRK_ERR_FORBIDDEN");
    expect(await env.store.getRun("alice", "mnist", "b0b0b0b0")).toBeNull();
  });

  it("validates the path with the protocol's id rules", async () => {
    const res = await postRecords(env, "alice/mnist/bad%3Bid", [{ k: "run", seq: 0, run: runInfo("bad;id") }]);
    expect(res.statusCode).toBe(400);
    expect(codeOf(res)).toBe("TRK_ERR_INVALID_ID");
  });

  it("moves heartbeatAt on every upload and on a heartbeat", async () => {
    await postRecords(env, PATH, [{ k: "run", seq: 0, run: runInfo("a1b2c3d4") }]);
    expect((await view()).heartbeatAt).toBe(new Date(T0).toISOString());
    env.clock.now = T0 + 30_000;
    const hb = await env.app.inject({ method: "POST", url: `/api/v1/runs/${PATH}/heartbeat`, headers: { authorization: `Bearer ${env.aliceKey}` } });
    expect(hb.statusCode).toBe(200);
    const run = await view();
    expect(run.heartbeatAt).toBe(new Date(T0 + 30_000).toISOString());
    // Still running: the duration counts up to now.
    expect(run.durationSeconds).toBe(30);
  });
});
