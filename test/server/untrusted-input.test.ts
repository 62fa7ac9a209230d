/**
 * Uploads the server must either refuse with a coded 400 or store readable (issue #13, point 2):
 * whatever a body holds, every read of the run answers 200 afterwards.
 */
import { Packr } from "msgpackr";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RunView } from "../../src/protocol/api.js";
import { encodeRecords } from "../../src/protocol/codec.js";
import { MAX_ROW_KEYS } from "../../src/protocol/limits.js";
import type { RunRecord } from "../../src/protocol/records.js";
import { codeOf, get, makeEnv, postRecords, rows, runInfo, T0, type TestEnv } from "./helpers.js";

let env: TestEnv;
beforeEach(async () => {
  env = await makeEnv();
  const res = await postRecords(env, PATH, [{ k: "run", seq: 0, run: runInfo("a1b2c3d4") }, { k: "history", seq: 1, rows: rows(0, 2) }]);
  expect(res.statusCode).toBe(200);
});
afterEach(async () => {
  await env.close();
});

const PATH = "alice/mnist/a1b2c3d4";
const plain = new Packr({ useRecords: false });
const cloning = new Packr({ structuredClone: true, useRecords: true, moreTypes: true });

/** Every read of the run: each must answer 200 whatever was uploaded before. */
async function expectReadable(): Promise<void> {
  for (const url of [`/api/v1/runs/${PATH}`, `/api/v1/runs/${PATH}/history`, `/api/v1/runs/${PATH}/history?keys=loss`, "/api/v1/runs/alice/mnist"]) {
    const res = await get(env, url);
    expect(res.statusCode, `${url}: ${res.body.slice(0, 300)}`).toBe(200);
  }
}

/** Posts a body, expects a coded 400 naming `key`, and the run still readable. */
async function expectRefused(body: Buffer | string, code: string, key: string): Promise<void> {
  const res = await postRecords(env, PATH, body);
  expect(res.statusCode, res.body.slice(0, 300)).toBe(400);
  expect(codeOf(res)).toBe(code);
  expect(res.json().error.message).toContain(key);
  await expectReadable();
}

const row = (extra: Record<string, unknown>) => ({ _step: 2, _timestamp: T0 + 2000, _runtime: 2, ...extra });

describe("values the server cannot read back", () => {
  it("refuses a 64-bit integer beyond 2^53 in a history row, and keeps one that fits as a number", async () => {
    await expectRefused(encodeRecords([{ k: "history", seq: 3, rows: [row({ big: 2n ** 60n })] }] as unknown as RunRecord[]), "TRK_ERR_BAD_VALUE", "big");
    const fits = await postRecords(env, PATH, plain.pack([{ k: "history", seq: 3, rows: [row({ small: 5n })] }]));
    expect(fits.statusCode, fits.body).toBe(200);
    const history = (await get(env, `/api/v1/runs/${PATH}/history`)).json();
    expect(history.rows[2].small).toBe(5);
    await expectReadable();
  });

  it("refuses a time no Date can hold (a run's start, its end, a step's timestamp), which made every read of the run a 500", async () => {
    const exit = { k: "exit", seq: 3, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: 1e308 };
    await expectRefused(encodeRecords([exit] as RunRecord[]), "TRK_ERR_BAD_REQUEST", "finishedAt");
    await expectRefused(encodeRecords([{ k: "run", seq: 3, run: { ...runInfo("a1b2c3d4"), createdAt: -1e16 } }]), "TRK_ERR_BAD_REQUEST", "createdAt");
    await expectRefused(encodeRecords([{ k: "history", seq: 3, rows: [{ ...row({}), _timestamp: 9e15 }] }]), "TRK_ERR_BAD_REQUEST", "_timestamp");
  });

  it("refuses a 64-bit integer in config", async () => {
    await expectRefused(encodeRecords([{ k: "config", seq: 3, config: { seed: 2n ** 63n - 1n } }] as unknown as RunRecord[]), "TRK_ERR_BAD_VALUE", "seed");
  });

  it("refuses a map with a key that is not a string", async () => {
    const weird = new Map<unknown, unknown>([[[1, 2], "x"]]);
    await expectRefused(encodeRecords([{ k: "history", seq: 3, rows: [row({ m: weird })] }] as unknown as RunRecord[]), "TRK_ERR_BAD_VALUE", "m");
    // A plain msgpack map (another library's encoder) with a number key, deep in config.
    await expectRefused(plain.pack([{ k: "config", seq: 3, config: { opt: new Map<unknown, unknown>([[7, "x"]]) } }]), "TRK_ERR_BAD_VALUE", "opt");
  });

  it("accepts plain msgpack maps with string keys, as another library encodes them", async () => {
    const res = await postRecords(env, PATH, plain.pack([{ k: "summary", seq: 3, summary: { best: { acc: 0.9 } } }, { k: "history", seq: 4, rows: [row({ acc: 0.9 })] }]));
    expect(res.statusCode, res.body).toBe(200);
    expect(((await get(env, `/api/v1/runs/${PATH}`)).json() as RunView).summary).toEqual({ best: { acc: 0.9 } });
    await expectReadable();
  });

  it("refuses a history row of more than 65,535 keys (and of more than the limit)", async () => {
    const wide: Record<string, number> = {};
    for (let i = 0; i < 70_000; i++) wide[`m${i}`] = i;
    await expectRefused(encodeRecords([{ k: "history", seq: 3, rows: [row(wide)] }] as unknown as RunRecord[]), "TRK_ERR_TOO_LARGE", "key count");
    const cols: Record<string, Float64Array> = { _step: Float64Array.of(2), _timestamp: Float64Array.of(T0), _runtime: Float64Array.of(0) };
    for (let i = 0; i < MAX_ROW_KEYS + 1; i++) cols[`m${i}`] = Float64Array.of(i);
    await expectRefused(encodeRecords([{ k: "history", seq: 3, n: 1, cols }]), "TRK_ERR_TOO_LARGE", "key count");
  });

  it("refuses JSON nested 20,000 deep with a coded 400, not a stack overflow", async () => {
    const deep = `${"[".repeat(20_000)}${"]".repeat(20_000)}`;
    await expectRefused(`[{"k":"config","seq":3,"config":{"deep":${deep}}}]`, "TRK_ERR_TOO_LARGE", "deep");
    const deepObject = `${'{"a":'.repeat(20_000)}1${"}".repeat(20_000)}`;
    await expectRefused(`[{"k":"summary","seq":3,"summary":{"nest":${deepObject}}}]`, "TRK_ERR_TOO_LARGE", "nest");
    // A body that also holds "constructor" goes through the JSON parser's poisoning scan.
    const poisonScan = `[{"k":"summary","seq":3,"summary":{"constructor":1,"nest":${deepObject}}}]`;
    const res = await postRecords(env, PATH, poisonScan);
    expect(res.statusCode).toBe(400);
    expect(codeOf(res)).toMatch(/^TRK_ERR_/);
    await expectReadable();
  });

  it("refuses msgpack nested 20,000 deep", async () => {
    const head = Buffer.from(encodeRecords([{ k: "config", seq: 3, config: { deep: 0 } }]));
    // Swap the value 0 (the last byte) for 20,000 nested one-element arrays.
    const body = Buffer.concat([head.subarray(0, head.length - 1), Buffer.alloc(20_000, 0x91), Buffer.from([0x00])]);
    const res = await postRecords(env, PATH, body);
    expect(res.statusCode, res.body.slice(0, 300)).toBe(400);
    expect(["TRK_ERR_TOO_LARGE", "TRK_ERR_BAD_VALUE"]).toContain(codeOf(res));
    await expectReadable();
  });

  it("refuses cyclic values (msgpackr's structured clone)", async () => {
    const cyclic: Record<string, unknown> = { lr: 0.1 };
    cyclic.self = cyclic;
    const res = await postRecords(env, PATH, cloning.pack([{ k: "config", seq: 3, config: { opt: cyclic } }]));
    expect(res.statusCode, res.body.slice(0, 300)).toBe(400);
    expect(codeOf(res)).toBe("TRK_ERR_BAD_VALUE");
    await expectReadable();
  });

  it("refuses extension types the client never sends, naming the key", async () => {
    const more = new Packr({ useRecords: true, moreTypes: true });
    for (const [key, value] of [
      ["when", new Date(T0)],
      ["set", new Set([1, 2])],
      ["re", /a+/],
      ["ints", Int32Array.of(1, 2)],
      ["err", new Error("x")],
    ] as const) {
      await expectRefused(more.pack([{ k: "summary", seq: 3, summary: { [key]: value } }]), "TRK_ERR_BAD_VALUE", key);
    }
    // A Float64Array is a history column, not a config value.
    await expectRefused(more.pack([{ k: "config", seq: 3, config: { w: Float64Array.of(1) } }]), "TRK_ERR_BAD_VALUE", "w");
    // Nested objects are flattened by the client: a history value is a number, string, boolean or null.
    await expectRefused(encodeRecords([{ k: "history", seq: 3, rows: [row({ nested: { a: 1 } })] }] as unknown as RunRecord[]), "TRK_ERR_BAD_VALUE", "nested");
  });

  it("keeps accepting what the client sends: columns of Float64Arrays and of mixed values with gaps", async () => {
    const res = await postRecords(
      env,
      PATH,
      encodeRecords([
        {
          k: "history",
          seq: 3,
          n: 3,
          cols: {
            _step: Float64Array.of(2, 3, 4),
            _timestamp: Float64Array.of(T0, T0 + 1, T0 + 2),
            _runtime: Float64Array.of(0, 1, 2),
            loss: Float64Array.of(0.5, NaN, Infinity),
            label: ["a", undefined, null],
            done: [undefined, true, false],
          },
        },
      ]),
    );
    expect(res.statusCode, res.body).toBe(200);
    const history = (await get(env, `/api/v1/runs/${PATH}/history`)).json();
    expect(history.rows.slice(2)).toEqual([
      { _step: 2, _timestamp: T0, _runtime: 0, loss: 0.5, label: "a" },
      { _step: 3, _timestamp: T0 + 1, _runtime: 1, loss: "NaN", done: true },
      { _step: 4, _timestamp: T0 + 2, _runtime: 2, loss: "Infinity", label: null, done: false },
    ]);
  });
});
