/**
 * The batched buckets route (`GET /api/v1/runs/:entity/:project/history/buckets?runs=`): one
 * request answers a panel for all its runs, each run exactly as its own route would, with the
 * one access rule per run (a private run is "not found" to someone who may not read it, never
 * its data) and a cap on the runs per request.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { HistoryBucketsBatchView } from "../../src/protocol/api.js";
import { codeOf, get, makeEnv, postRecords, rows, runInfo, type TestEnv } from "./helpers.js";

let env: TestEnv;
beforeEach(async () => {
  env = await makeEnv();
});
afterEach(async () => {
  await env.close();
});

async function seed(id: string, from: number, count: number, seq = 1) {
  const records = seq === 1 ? [{ k: "run" as const, seq: 0, run: runInfo(id) }] : [];
  const res = await postRecords(env, `alice/mnist/${id}`, [...records, { k: "history", seq, rows: rows(from, count) }]);
  expect(res.statusCode).toBe(200);
}

const batch = (query: string, key: string | null = env.aliceKey) => get(env, `/api/v1/runs/alice/mnist/history/buckets?${query}`, key);

describe("batched history buckets", () => {
  it("answers every run as its own route does, in one request", async () => {
    await seed("batcha01", 0, 1000);
    await seed("batchb02", 0, 300);
    const res = await batch("runs=batcha01,batchb02&key=loss&buckets=10");
    expect(res.statusCode).toBe(200);
    const b = res.json() as HistoryBucketsBatchView;
    expect(b.notFound).toEqual([]);
    for (const id of ["batcha01", "batchb02"]) {
      expect(b.runs[id]).toEqual((await get(env, `/api/v1/runs/alice/mnist/${id}/history/buckets?key=loss&buckets=10`)).json());
    }
    expect(b.runs.batcha01.points).toBe(1000);
    expect(b.runs.batchb02.points).toBe(300);
  });

  it("takes one from per run: a live refresh gets each run's points after what it holds", async () => {
    await seed("batcha01", 0, 100);
    await seed("batchb02", 0, 100);
    const b = (await batch("runs=batcha01,batchb02&key=loss&from=90,")).json() as HistoryBucketsBatchView;
    expect(b.runs.batcha01.points).toBe(10);
    expect(b.runs.batcha01.xLast[0]).toBe(90);
    expect(b.runs.batchb02.points).toBe(100);
    const one = (await batch("runs=batcha01,batchb02&key=loss&from=50")).json() as HistoryBucketsBatchView;
    expect([one.runs.batcha01.points, one.runs.batchb02.points]).toEqual([50, 50]);
    const wrong = await batch("runs=batcha01,batchb02&key=loss&from=1,2,3");
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().error.message).toContain("from has 3 entries for 2 runs");
  });

  it("leaves out what the asker may not read as not found, the same as a missing run", async () => {
    await seed("pubrun01", 0, 50);
    await seed("private1", 0, 37); // a count of its own: its data must not appear
    expect((await env.app.inject({ method: "PATCH", url: "/api/v1/runs/alice/mnist/pubrun01", headers: { authorization: `Bearer ${env.aliceKey}` }, payload: { privacy: "public" } })).statusCode).toBe(200);
    for (const key of [null, env.bobKey]) {
      const res = await batch("runs=pubrun01,private1,missing1&key=loss", key);
      expect(res.statusCode).toBe(200);
      const b = res.json() as HistoryBucketsBatchView;
      expect(Object.keys(b.runs)).toEqual(["pubrun01"]);
      expect(b.notFound).toEqual(["private1", "missing1"]);
      expect(res.body).not.toContain('"points":37');
    }
    const owner = (await batch("runs=pubrun01,private1,missing1&key=loss")).json() as HistoryBucketsBatchView;
    expect(Object.keys(owner.runs).sort()).toEqual(["private1", "pubrun01"]);
    expect(owner.notFound).toEqual(["missing1"]);
  });

  it("refuses a request without runs, with too many, or naming one twice, with a coded 400", async () => {
    await seed("batcha01", 0, 10);
    const none = await batch("key=loss");
    expect([none.statusCode, codeOf(none)]).toEqual([400, "TRK_ERR_BAD_REQUEST"]);
    const many = await batch(`runs=${Array.from({ length: 101 }, (_, i) => `r${i}`).join(",")}&key=loss`);
    expect([many.statusCode, codeOf(many)]).toEqual([400, "TRK_ERR_BAD_REQUEST"]);
    expect(many.json().error.message).toContain("more than 100");
    expect((await batch("runs=batcha01,batcha01&key=loss")).statusCode).toBe(400);
    expect((await batch("runs=batcha01")).statusCode).toBe(400);
  });

  it("keeps a run named history reachable at its own routes", async () => {
    await seed("history", 0, 20);
    expect((await get(env, "/api/v1/runs/alice/mnist/history")).json().id).toBe("history");
    expect((await get(env, "/api/v1/runs/alice/mnist/history/history/buckets?key=loss")).json().points).toBe(20);
  });
});
