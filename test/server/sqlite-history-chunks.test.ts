/**
 * History by column in the SQLite backend (history_chunks, migration 5): what the chunks hold,
 * and charts of a run from before them, read from its wide rows. What every backend must answer
 * is in the store contract (store-contract.ts); these reach into SQLite itself.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { HistoryBucketsView } from "../../src/protocol/api.js";
import type { HistoryColumns } from "../../src/protocol/records.js";
import { SqliteHistoryBuckets } from "../../src/server/sqlite/sqlite-history-buckets.js";
import { get, makeEnv, makeLegacyRun, msgpackBody, postRecords, rows, runInfo, T0, type TestEnv } from "./helpers.js";

let env: TestEnv;
beforeEach(async () => {
  env = await makeEnv();
});
afterEach(async () => {
  await env.close();
});

describe("history chunks (history by column)", () => {
  /** A column batch as the client sends it: a Float64Array with a NaN, a sparse mixed column, a string column. */
  function columns(from: number, n: number): HistoryColumns {
    const f = (g: (s: number) => number) => Float64Array.from({ length: n }, (_, i) => g(from + i));
    return {
      _step: f((s) => s),
      _timestamp: f((s) => T0 + s * 1000),
      _runtime: f((s) => s / 2),
      loss: f((s) => (s === 7 ? NaN : 1 / (s + 1))),
      eval: Array.from({ length: n }, (_, i) => ((from + i) % 10 === 0 ? from + i : (from + i) % 10 === 5 ? "n/a" : undefined)),
      phase: Array.from({ length: n }, () => "train"),
    };
  }

  it("charts from the chunks exactly what the row blobs give, on every axis; a resend changes nothing", async () => {
    const path = "alice/mnist/chunks01";
    await postRecords(env, path, msgpackBody([{ k: "run", seq: 0, run: runInfo("chunks01") }, { k: "history", seq: 1, n: 100, cols: columns(0, 100) }]));
    // Row form (a hand-written body) gets chunks too; then the first batch is resent.
    await postRecords(env, path, [{ k: "history", seq: 101, rows: rows(100, 50, { eval: 3 }) }]);
    await postRecords(env, path, msgpackBody([{ k: "history", seq: 1, n: 100, cols: columns(0, 100) }]));
    const pk = (await env.store.getRun("alice", "mnist", "chunks01"))!.pk;
    const db = env.store.db;
    // Every key has its chunk, the one that never holds a number too (its strings are kept there).
    expect(db.prepare("SELECT key FROM history_chunks WHERE run_pk = ? AND first_seq = 1 ORDER BY key").pluck().all(pk)).toEqual(["_runtime", "_step", "_timestamp", "eval", "loss", "phase"]);
    expect(db.prepare("SELECT COUNT(*) FROM history_chunks WHERE run_pk = ?").pluck().get(pk)).toBe(11);
    const queries = (["step", "time", "runtime"] as const).flatMap((x) => [
      { key: "loss", x, buckets: 7 },
      { key: "eval", x, buckets: 1000 },
      { key: "phase", x, buckets: 10 },
      { key: "loss", x, buckets: 1000, from: x === "time" ? T0 + 20_000 : 20, to: x === "time" ? T0 + 120_000 : 120 },
    ]);
    const fromChunks = queries.map((q) => new SqliteHistoryBuckets(db).buckets(pk, q));
    expect(fromChunks[0].points).toBe(150);
    expect(fromChunks[0].nonFinite).toBe(1); // the logged NaN is a point
    expect(fromChunks[1].points).toBe(10 + 50); // eval: a number every 10 steps, then at each row
    expect(fromChunks[2].points).toBe(0); // never a number
    // A run from before the chunks: the same answers from the row blobs.
    await makeLegacyRun(env.store, pk);
    expect(queries.map((q) => new SqliteHistoryBuckets(db).buckets(pk, q))).toEqual(fromChunks);
  });

  it("charts a run from before the chunks from its rows, and keeps up with its new rows", async () => {
    const path = "alice/mnist/legacy01";
    await postRecords(env, path, [{ k: "run", seq: 0, run: runInfo("legacy01") }, { k: "history", seq: 1, rows: rows(0, 30) }]);
    const pk = (await env.store.getRun("alice", "mnist", "legacy01"))!.pk;
    await makeLegacyRun(env.store, pk);
    env.store.db.prepare("DELETE FROM history_chunks WHERE run_pk = ?").run(pk);
    const points = async () => ((await get(env, `/api/v1/runs/${path}/history/buckets?key=loss`)).json() as HistoryBucketsView).points;
    expect(await points()).toBe(30);
    await postRecords(env, path, [{ k: "history", seq: 31, rows: rows(30, 5) }]);
    expect(await points()).toBe(35);
  });
});
