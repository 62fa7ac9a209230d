/**
 * One set of limits (protocol/limits.ts), the same at ingest and in PATCH, and fastify's own
 * errors as coded answers (issue #13, point 3).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RunView } from "../../src/protocol/api.js";
import { encodeRecords } from "../../src/protocol/codec.js";
import {
  MAX_CONSOLE_LINE,
  MAX_GROUP,
  MAX_JOB_TYPE,
  MAX_KEY,
  MAX_NAME,
  MAX_NOTES,
  MAX_OBJECT_BYTES,
  MAX_PROJECT,
  MAX_SEQ,
  MAX_STRING_VALUE,
  MAX_TAG,
  MAX_TAGS,
} from "../../src/protocol/limits.js";
import type { RunRecord } from "../../src/protocol/records.js";
import { codeOf, get, makeEnv, postRecords, rows, runInfo, T0, type TestEnv } from "./helpers.js";

let env: TestEnv;
beforeEach(async () => {
  env = await makeEnv();
  expect((await postRecords(env, PATH, [{ k: "run", seq: 0, run: runInfo("a1b2c3d4") }])).statusCode).toBe(200);
});
afterEach(async () => {
  await env.close();
});

const PATH = "alice/mnist/a1b2c3d4";
const x = (n: number) => "x".repeat(n);
const tags = (n: number) => Array.from({ length: n }, (_, i) => `t${i}`);
const patch = (body: unknown) =>
  env.app.inject({ method: "PATCH", url: `/api/v1/runs/${PATH}`, headers: { authorization: `Bearer ${env.aliceKey}` }, payload: body as object });

describe("the same limits at ingest and in PATCH", () => {
  const fields: [string, Record<string, unknown>, Record<string, unknown>][] = [
    ["name", { name: x(MAX_NAME) }, { name: x(MAX_NAME + 1) }],
    ["notes", { notes: x(MAX_NOTES) }, { notes: x(MAX_NOTES + 1) }],
    ["tag count", { tags: tags(MAX_TAGS) }, { tags: tags(MAX_TAGS + 1) }],
    ["tag length", { tags: [x(MAX_TAG)] }, { tags: [x(MAX_TAG + 1)] }],
  ];
  for (const [what, ok, over] of fields) {
    it(`takes ${what} at the limit and refuses it over the limit, both ways, with TRK_ERR_TOO_LARGE`, async () => {
      const uploaded = await postRecords(env, PATH, [{ k: "update", seq: 1, ...ok }] as RunRecord[]);
      expect(uploaded.statusCode, uploaded.body.slice(0, 200)).toBe(200);
      expect((await patch(ok)).statusCode).toBe(200);
      const refusedUpload = await postRecords(env, PATH, [{ k: "update", seq: 2, ...over }] as RunRecord[]);
      const refusedPatch = await patch(over);
      for (const res of [refusedUpload, refusedPatch]) {
        expect(res.statusCode, res.body.slice(0, 200)).toBe(400);
        expect(codeOf(res)).toBe("TRK_ERR_TOO_LARGE");
      }
      // A run record (an init or a resume) is held to the same limits.
      const run = await postRecords(env, PATH, [{ k: "run", seq: 3, run: runInfo("a1b2c3d4", over) }]);
      expect(codeOf(run)).toBe("TRK_ERR_TOO_LARGE");
    });
  }

  it("holds group and job type, keys, strings, console lines and objects to their limits", async () => {
    const over: [string, RunRecord[] | Buffer][] = [
      ["group", [{ k: "run", seq: 1, run: runInfo("a1b2c3d4", { group: x(MAX_GROUP + 1) }) }]],
      ["job type", [{ k: "run", seq: 1, run: runInfo("a1b2c3d4", { jobType: x(MAX_JOB_TYPE + 1) }) }]],
      ["history key", [{ k: "history", seq: 1, rows: [{ ...rows(0, 1)[0], [x(MAX_KEY + 1)]: 1 }] }]],
      ["history string", [{ k: "history", seq: 1, rows: [{ ...rows(0, 1)[0], text: x(MAX_STRING_VALUE + 1) }] }] as unknown as RunRecord[]],
      ["config key", [{ k: "config", seq: 1, config: { nested: { [x(MAX_KEY + 1)]: 1 } } }]],
      ["summary string", [{ k: "summary", seq: 1, summary: { text: x(MAX_STRING_VALUE + 1) } }]],
      ["console line", [{ k: "console", seq: 1, lines: [{ at: T0, stream: "stdout", text: x(MAX_CONSOLE_LINE + 1) }] }]],
      ["config size", encodeRecords([{ k: "config", seq: 1, config: Object.fromEntries(Array.from({ length: Math.ceil(MAX_OBJECT_BYTES / MAX_STRING_VALUE) + 1 }, (_, i) => [`k${i}`, x(MAX_STRING_VALUE)])) }])],
    ];
    for (const [what, body] of over) {
      const res = await postRecords(env, PATH, body);
      expect(res.statusCode, `${what}: ${res.body.slice(0, 200)}`).toBe(400);
      expect(codeOf(res), what).toBe("TRK_ERR_TOO_LARGE");
    }
    const fits = await postRecords(env, PATH, [
      { k: "history", seq: 1, rows: [{ ...rows(0, 1)[0], [x(MAX_KEY)]: 1, text: x(MAX_STRING_VALUE) }] },
      { k: "console", seq: 2, lines: [{ at: T0, stream: "stdout", text: x(MAX_CONSOLE_LINE) }] },
    ] as unknown as RunRecord[]);
    expect(fits.statusCode, fits.body.slice(0, 200)).toBe(200);
  });

  it("refuses a seq that leaves no room after it (2^53-1), and takes one up to MAX_SEQ", async () => {
    const tooFar = await postRecords(env, PATH, [{ k: "summary", seq: Number.MAX_SAFE_INTEGER, summary: { a: 1 } }]);
    expect(tooFar.statusCode).toBe(400);
    expect(codeOf(tooFar)).toBe("TRK_ERR_TOO_LARGE");
    const spans = await postRecords(env, PATH, [{ k: "history", seq: MAX_SEQ, rows: rows(0, 2) }]);
    expect(codeOf(spans)).toBe("TRK_ERR_TOO_LARGE");
    const last = await postRecords(env, PATH, [{ k: "summary", seq: MAX_SEQ, summary: { a: 1 } }]);
    expect(last.statusCode).toBe(200);
    expect(((await get(env, `/api/v1/runs/${PATH}`)).json() as RunView).lastSeq).toBe(MAX_SEQ);
  });
});

describe("paths and fastify's own errors", () => {
  it("serves a project name of 101 to 128 characters (fastify's maxParamLength was 100: a 414)", async () => {
    for (const length of [101, MAX_PROJECT]) {
      const project = x(length);
      const res = await postRecords(env, `alice/${project}/a1b2c3d4`, [{ k: "run", seq: 0, run: runInfo("a1b2c3d4", { project }) }]);
      expect(res.statusCode, res.body.slice(0, 200)).toBe(200);
      expect((await get(env, `/api/v1/runs/alice/${project}/a1b2c3d4`)).statusCode).toBe(200);
      expect((await get(env, `/alice/${project}/runs/a1b2c3d4`)).statusCode).toBe(200);
    }
    const over = await get(env, `/api/v1/runs/alice/${x(MAX_PROJECT + 1)}`);
    expect(over.statusCode).toBe(400);
    expect(codeOf(over)).toBe("TRK_ERR_INVALID_PROJECT");
  });

  it("answers a URL part far over any limit with 414 TRK_ERR_TOO_LARGE", async () => {
    const res = await get(env, `/api/v1/runs/alice/${x(5000)}`);
    expect(res.statusCode).toBe(414);
    expect(codeOf(res)).toBe("TRK_ERR_TOO_LARGE");
  });

  it("answers a body over the limit with 413 TRK_ERR_TOO_LARGE, and bad JSON with TRK_ERR_BAD_REQUEST", async () => {
    const big = await patch({ notes: x(2 * 1024 * 1024) });
    expect(big.statusCode).toBe(413);
    expect(codeOf(big)).toBe("TRK_ERR_TOO_LARGE");
    const bad = await env.app.inject({
      method: "PATCH",
      url: `/api/v1/runs/${PATH}`,
      headers: { authorization: `Bearer ${env.aliceKey}`, "content-type": "application/json" },
      payload: "{nope",
    });
    expect(bad.statusCode).toBe(400);
    expect(codeOf(bad)).toBe("TRK_ERR_BAD_REQUEST");
    const badUrl = await get(env, "/api/v1/runs/alice/%E0%A4%A/a1b2c3d4");
    expect(badUrl.statusCode).toBe(400);
    expect(codeOf(badUrl)).toMatch(/^TRK_ERR_/);
  });
});
