/**
 * The side streams of a run: system metrics samples and console lines (ingest and read API), the
 * daemon's metadata probe, and how the daemon's records stay out of the client's sequence.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ConsoleView, RunView, SystemMetricsView } from "../../src/protocol/api.js";
import type { ConsoleLine, RunRecord } from "../../src/protocol/records.js";
import { codeOf, get, makeEnv, msgpackBody, postRecords, rows, runInfo, T0, type TestEnv } from "./helpers.js";

let env: TestEnv;
beforeEach(async () => {
  env = await makeEnv();
});
afterEach(async () => {
  await env.close();
});

const PATH = "alice/mnist/strm0001";
const RUN: RunRecord = { k: "run", seq: 0, run: runInfo("strm0001") };
const view = async (key: string | null = env.aliceKey) => (await get(env, `/api/v1/runs/${PATH}`, key)).json() as RunView;
const system = async (qs = "", key: string | null = env.aliceKey) => (await get(env, `/api/v1/runs/${PATH}/system${qs}`, key)).json() as SystemMetricsView;
const consolePage = async (qs = "", key: string | null = env.aliceKey) => (await get(env, `/api/v1/runs/${PATH}/console${qs}`, key)).json() as ConsoleView;

const sample = (i: number, values: Record<string, number>): RunRecord => ({ k: "system", seq: 0, at: T0 + i * 1000, values });
const lines = (from: number, count: number, stream: ConsoleLine["stream"] = "stdout"): ConsoleLine[] =>
  Array.from({ length: count }, (_, i) => ({ at: T0 + (from + i) * 10, stream, text: `line ${from + i}` }));

describe("system metrics", () => {
  it("stores one row per sample, keeps NaN, and a resend overwrites instead of duplicating", async () => {
    const body = msgpackBody(
      [RUN],
      [
        sample(0, { "system/cpu": 10, "system/gpu.0.gpu": NaN }),
        sample(1, { "system/cpu": 20, "system/proc.cpu.percent": 5 }),
      ],
    );
    expect((await postRecords(env, PATH, body)).statusCode).toBe(200);
    expect((await postRecords(env, PATH, body)).statusCode).toBe(200);
    // The same time again with other values: the later sample replaces the stored one.
    expect((await postRecords(env, PATH, msgpackBody([sample(1, { "system/cpu": 25, "system/proc.cpu.percent": 6 })]))).statusCode).toBe(200);

    const all = await system();
    expect(all.keys).toEqual(["system/cpu", "system/gpu.0.gpu", "system/proc.cpu.percent"]);
    expect(all.rows).toEqual([
      { at: T0, "system/cpu": 10, "system/gpu.0.gpu": "NaN" },
      { at: T0 + 1000, "system/cpu": 25, "system/proc.cpu.percent": 6 },
    ]);
    const stored = await env.store.readSystemMetrics((await env.store.getRun("alice", "mnist", "strm0001"))!.pk, { limit: 10 });
    expect(Number.isNaN(stored[0].values["system/gpu.0.gpu"])).toBe(true);
  });

  it("chooses keys and a time range, in time order, up to the limit", async () => {
    const samples = [3, 0, 4, 1, 2].map((i) => sample(i, { "system/cpu": i, "system/memory.percent": 50 + i }));
    await postRecords(env, PATH, [RUN, ...samples]);

    const ranged = await system(`?keys=system/cpu&from=${T0 + 1000}&to=${T0 + 3000}`);
    expect(ranged.keys).toEqual(["system/cpu", "system/memory.percent"]);
    expect(ranged.rows).toEqual([1, 2, 3].map((i) => ({ at: T0 + i * 1000, "system/cpu": i })));
    expect((await system("?limit=2")).rows.map((r) => r.at)).toEqual([T0, T0 + 1000]);
    expect((await get(env, `/api/v1/runs/${PATH}/system?from=soon`)).statusCode).toBe(400);
  });
});

describe("console output", () => {
  it("pages lines in seq order with after and limit, and says where the next page starts", async () => {
    await postRecords(env, PATH, [RUN, { k: "console", seq: 1, lines: lines(0, 5) }, { k: "console", seq: 6, lines: lines(5, 3, "stderr") }]);

    const first = await consolePage("?limit=3");
    expect(first.lines).toEqual([
      { seq: 1, at: T0, stream: "stdout", text: "line 0" },
      { seq: 2, at: T0 + 10, stream: "stdout", text: "line 1" },
      { seq: 3, at: T0 + 20, stream: "stdout", text: "line 2" },
    ]);
    expect(first.next).toBe(3);
    const rest = await consolePage(`?after=${first.next}&limit=10`);
    expect(rest.lines.map((l) => l.text)).toEqual(["line 3", "line 4", "line 5", "line 6", "line 7"]);
    expect(rest.lines.slice(2).every((l) => l.stream === "stderr")).toBe(true);
    expect(rest.next).toBeNull();
    expect((await view()).consoleLines).toBe(8);
    expect((await view()).lastSeq).toBe(8);
  });

  it("filters by a substring, in either case, taking % and _ literally", async () => {
    const text = ["Epoch 1 loss=0.5", "saving checkpoint", "epoch 2 loss=0.4", "100% done", "a_b"];
    await postRecords(env, PATH, [RUN, { k: "console", seq: 1, lines: text.map((t, i) => ({ at: T0 + i, stream: "stdout", text: t })) }]);
    expect((await consolePage("?q=EPOCH")).lines.map((l) => l.seq)).toEqual([1, 3]);
    expect((await consolePage("?q=EPOCH&after=1")).lines.map((l) => l.seq)).toEqual([3]);
    expect((await consolePage(`?q=${encodeURIComponent("0%")}`)).lines.map((l) => l.text)).toEqual(["100% done"]);
    expect((await consolePage("?q=a_b")).lines.map((l) => l.text)).toEqual(["a_b"]);
  });

  it("stores a resent console record once, the resent lines replacing themselves", async () => {
    const body: RunRecord[] = [RUN, { k: "console", seq: 1, lines: lines(0, 4) }];
    await postRecords(env, PATH, body);
    await postRecords(env, PATH, body);
    const page = await consolePage();
    expect(page.lines.map((l) => l.seq)).toEqual([1, 2, 3, 4]);
    expect((await view()).consoleLines).toBe(4);
  });

  it("refuses bad paging parameters", async () => {
    await postRecords(env, PATH, [RUN]);
    for (const qs of ["?limit=0", "?limit=10001", "?after=-2", "?after=x"]) {
      const res = await get(env, `/api/v1/runs/${PATH}/console${qs}`);
      expect(res.statusCode, qs).toBe(400);
      expect(codeOf(res)).toBe("TRK_ERR_BAD_REQUEST");
    }
  });
});

describe("the daemon's records", () => {
  it("do not move lastSeq, from which a resuming client numbers its records", async () => {
    await postRecords(env, PATH, [RUN, { k: "history", seq: 1, rows: rows(0, 3) }]);
    const res = await postRecords(env, PATH, [
      { k: "meta", seq: 0, metadata: { host: "gpu-box-1" } },
      sample(0, { "system/cpu": 1 }),
    ]);
    expect(res.json()).toEqual({ records: 2, lastSeq: 3 });
    expect((await view()).lastSeq).toBe(3);
  });

  it("apply a seq-0 metadata probe, and a later one (a respawned daemon) replaces it", async () => {
    await postRecords(env, PATH, [RUN, { k: "history", seq: 1, rows: rows(0, 3) }]);
    await postRecords(env, PATH, [{ k: "meta", seq: 0, metadata: { host: "first", gpus: [] } }]);
    expect((await view()).metadata).toMatchObject({ host: "first" });
    await postRecords(env, PATH, [{ k: "meta", seq: 0, metadata: { host: "second" } }]);
    const metadata = (await view()).metadata;
    expect(metadata.host).toBe("second");
    expect(metadata).not.toHaveProperty("gpus");
    // The run record's program is kept apart: the probe does not drop it.
    expect(metadata.program).toMatchObject({ executable: "/usr/bin/node" });
  });
});

describe("privacy", () => {
  it("hides a private run's system metrics and console from others as 404, and shows them once public", async () => {
    await postRecords(env, PATH, [RUN, sample(0, { "system/cpu": 1 }), { k: "console", seq: 1, lines: lines(0, 1) }]);
    for (const key of [env.bobKey, null]) {
      for (const stream of ["system", "console"]) {
        const res = await get(env, `/api/v1/runs/${PATH}/${stream}`, key);
        expect(res.statusCode, `${stream} as ${key ? "bob" : "anonymous"}`).toBe(404);
        expect(codeOf(res)).toBe("TRK_ERR_NOT_FOUND");
      }
    }
    await env.app.inject({
      method: "PATCH",
      url: `/api/v1/runs/${PATH}`,
      headers: { authorization: `Bearer ${env.aliceKey}` },
      payload: { privacy: "public" },
    });
    expect((await system("", env.bobKey)).rows).toHaveLength(1);
    expect((await consolePage("", null)).lines).toHaveLength(1);
  });
});

describe("malformed records", () => {
  const bad: [string, unknown, RegExp][] = [
    ["system with a seq", { k: "system", seq: 3, at: T0, values: {} }, /seq is not 0/],
    ["system without at", { k: "system", seq: 0, values: { "system/cpu": 1 } }, /at is not a whole time in ms/],
    ["system values not numbers", { k: "system", seq: 0, at: T0, values: { "system/cpu": "high" } }, /value of "system\/cpu" is not a number/],
    ["system values not an object", { k: "system", seq: 0, at: T0, values: [1] }, /values is not an object/],
    ["console without lines", { k: "console", seq: 1 }, /lines is not an array/],
    ["console bad stream", { k: "console", seq: 1, lines: [{ at: T0, stream: "stdin", text: "x" }] }, /line 0: stream "stdin"/],
    ["console text not a string", { k: "console", seq: 1, lines: [{ at: T0, stream: "stdout", text: 1 }] }, /line 0: text is not a string/],
    
  ];
  for (const [what, record, message] of bad) {
    it(`refuses ${what} with 400 and applies nothing of the body`, async () => {
      await postRecords(env, PATH, [RUN]);
      const res = await postRecords(env, PATH, [{ k: "console", seq: 1, lines: lines(0, 2) }, sample(0, { "system/cpu": 1 }), record] as RunRecord[]);
      expect(res.statusCode).toBe(400);
      expect(codeOf(res)).toBe("TRK_ERR_BAD_REQUEST");
      expect((res.json() as { error: { message: string } }).error.message).toMatch(message);
      expect((await consolePage()).lines).toEqual([]);
      expect((await system()).rows).toEqual([]);
      expect((await view()).lastSeq).toBe(0);
    });
  }
});
