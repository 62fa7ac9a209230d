/**
 * Records the server keeps without applying them (issue #13): records of kinds it does not know
 * (a newer daemon's) are stored opaque and counted, and the daemon's reports of refused frames
 * are summed for the run's page, the run JSON and `trackside runs show`.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { refusedSentence, type RunView } from "../../src/protocol/api.js";
import { encodeRecords } from "../../src/protocol/codec.js";
import type { RunRecord } from "../../src/protocol/records.js";
import { codeOf, get, makeEnv, postRecords, rows, runInfo, T0, type TestEnv } from "./helpers.js";

let env: TestEnv;
beforeEach(async () => {
  env = await makeEnv();
  expect((await postRecords(env, PATH, [{ k: "run", seq: 0, run: runInfo("a1b2c3d4") }, { k: "history", seq: 1, rows: rows(0, 2) }])).statusCode).toBe(200);
});
afterEach(async () => {
  await env.close();
});

const PATH = "alice/mnist/a1b2c3d4";
const view = async () => (await get(env, `/api/v1/runs/${PATH}`)).json() as RunView;
const post = (records: unknown[]) => postRecords(env, PATH, encodeRecords(records as RunRecord[]));

describe("records of unknown kinds", () => {
  it("are kept, counted by kind, once per seq (or per time for the daemon's), and move lastSeq like any client record", async () => {
    const video = { k: "video", seq: 3, path: "images/0.png", sha256: "ab".repeat(32), pixels: Float64Array.of(0.1, 0.2) };
    const probe = (at: number) => ({ k: "gpu-topology", seq: 0, at, links: [{ from: 0, to: 1, kind: "nvlink" }] });
    for (let i = 0; i < 2; i++) {
      const res = await post([video, probe(T0 + 1), { k: "history", seq: 4, rows: rows(2, 1) }]);
      expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
    }
    expect((await post([probe(T0 + 2)])).statusCode).toBe(200);
    const run = await view();
    expect(run.unknownRecords).toEqual([
      { kind: "gpu-topology", count: 2 },
      { kind: "video", count: 1 },
    ]);
    expect(run.lastSeq).toBe(4);
    expect(run.historySteps).toBe(3);
  });

  it("are still checked as values: an unknown kind cannot smuggle in what no read could return", async () => {
    const res = await post([{ k: "video", seq: 3, when: new Date(T0) }]);
    expect(res.statusCode).toBe(400);
    expect(codeOf(res)).toBe("TRK_ERR_BAD_VALUE");
    expect((await view()).unknownRecords).toEqual([]);
  });

  it("keep the daemon's records of an unknown kind that carry no time apart, and a resend once", async () => {
    const note = (text: string) => ({ k: "note", seq: 0, text });
    expect((await post([note("a"), note("b")])).statusCode).toBe(200);
    expect((await post([note("a")])).statusCode).toBe(200);
    expect((await view()).unknownRecords).toEqual([{ kind: "note", count: 2 }]);
  });

  it("keep an object of more than 65,535 keys (msgpack's 16-bit map size), which answered 500", async () => {
    const table: Record<string, number> = {};
    for (let i = 0; i < 70_000; i++) table[`k${i}`] = i;
    const res = await post([{ k: "table", seq: 3, payload: table }]);
    expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
    expect((await view()).unknownRecords).toEqual([{ kind: "table", count: 1 }]);
  });
});

describe("the daemon's refusal reports", () => {
  const report = (at: number, records: number, error: string) => ({ k: "refused", seq: 0, at, records, bytes: records * 100, error });

  it("are summed on the run, once per report, with the newest reasons first", async () => {
    expect((await view()).refused).toBeNull();
    const first = report(T0 + 5, 12, "TRK_ERR_BAD_VALUE: Cannot store the value of \"big\"");
    for (let i = 0; i < 2; i++) expect((await post([first])).statusCode).toBe(200);
    let run = await view();
    expect(run.refused).toEqual({
      records: 12,
      bytes: 1200,
      reports: 1,
      reasons: [{ error: first.error, records: 12, at: new Date(T0 + 5).toISOString() }],
    });
    expect(refusedSentence(run.refused!)).toBe(`12 records were refused by the server: ${first.error}`);
    expect(run.lastSeq).toBe(2); // the daemon's reports are outside the client's sequence

    expect((await post([report(T0 + 9, 3, "TRK_ERR_TOO_LARGE: too big")])).statusCode).toBe(200);
    run = await view();
    expect(run.refused).toMatchObject({ records: 15, reports: 2 });
    expect(refusedSentence(run.refused!)).toBe("15 records were refused by the server: TRK_ERR_TOO_LARGE: too big (and 1 other reason)");
  });

  it("must carry seq 0 and their counts", async () => {
    for (const bad of [{ ...report(T0, 1, "x"), seq: 1 }, { ...report(T0, 1, "x"), records: -1 }, { ...report(T0, 1, "x"), error: 5 }]) {
      const res = await post([bad]);
      expect(res.statusCode).toBe(400);
      expect(codeOf(res)).toBe("TRK_ERR_BAD_REQUEST");
    }
    expect((await view()).refused).toBeNull();
  });
});
