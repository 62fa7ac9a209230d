/**
 * History stored once (migration 9): a new run's history lives only in its column chunks, and
 * row reads are built back from them, answering exactly what the wide rows answered. Each case
 * compares a run against its twin from before migration 9 (the same records written as wide
 * rows by SQL, history_chunks = 0), byte for byte over HTTP.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { HistoryBucketsView, RunView } from "../../src/protocol/api.js";
import type { HistoryRecord, HistoryRow, RunRecord } from "../../src/protocol/records.js";
import { historyRows } from "../../src/protocol/records.js";
import { encodeHistoryRow } from "../../src/server/index.js";
import { get, makeEnv, makeLegacyRun, msgpackBody, postRecords, rows, runInfo, T0, type TestEnv } from "./helpers.js";

let env: TestEnv;
beforeEach(async () => {
  env = await makeEnv();
});
afterEach(async () => {
  await env.close();
});

const steps = (from: number, n: number) => Float64Array.from({ length: n }, (_, i) => from + i);

/** Six steps in columns: numbers with NaN, ±Infinity and -0, strings, booleans, nulls, a sparse key, a key never set. */
function mixed(seq: number, from: number): HistoryRecord {
  const s = steps(from, 6);
  return {
    k: "history",
    seq,
    n: 6,
    cols: {
      _step: s,
      _timestamp: s.map((v) => T0 + v * 1000),
      _runtime: s.slice(),
      loss: Float64Array.of(0.5, NaN, Infinity, -Infinity, -0, 1e308),
      label: ["a", undefined, "b", null, "", "ü ✓"],
      flag: [true, false, undefined, undefined, null, true],
      mixed: [1, "one", true, null, NaN, undefined],
      never: [undefined, undefined, undefined, undefined, undefined, undefined],
      sparse: [undefined, undefined, 7, undefined, undefined, -Infinity],
    },
  };
}

/** Row form (a hand-written body): keys come and go from row to row. */
function handWritten(seq: number, from: number, n: number): HistoryRecord {
  return {
    k: "history",
    seq,
    rows: rows(from, n).map((r, i) => ({ ...r, ...(i % 2 ? { note: `row ${from + i}` } : { acc: i / 10 }), ...(i % 3 ? {} : { done: i % 2 === 0 }) })),
  };
}

/** Posts the records to `id` and to its twin `id`+"l", then rewrites the twin as a run from before migration 9. */
async function runAndTwin(id: string, records: HistoryRecord[]): Promise<{ pk: number; twinPk: number }> {
  for (const runId of [id, `${id}l`]) {
    const res = await postRecords(env, `alice/mnist/${runId}`, msgpackBody([{ k: "run", seq: 0, run: runInfo(runId) }, ...(records as RunRecord[])]));
    expect(res.statusCode, res.body).toBe(200);
  }
  const pk = (await env.store.getRun("alice", "mnist", id))!.pk;
  const twinPk = (await env.store.getRun("alice", "mnist", `${id}l`))!.pk;
  writeWideRows(twinPk, records);
  return { pk, twinPk };
}

/** What a server before migration 9 stored: one msgpack blob per step, by SQL; no chunks, no record index. */
function writeWideRows(pk: number, records: HistoryRecord[]): void {
  const db = env.store.db;
  db.prepare("DELETE FROM history_chunks WHERE run_pk = ?").run(pk);
  db.prepare("DELETE FROM history_records WHERE run_pk = ?").run(pk);
  const insert = db.prepare("INSERT OR REPLACE INTO history (run_pk, seq, step, ts, data) VALUES (?, ?, ?, ?, ?)");
  for (const r of records) historyRows(r).forEach((row, i) => insert.run(pk, r.seq + i, row._step, row._timestamp, encodeHistoryRow(row)));
  db.prepare("UPDATE runs SET history_chunks = 0 WHERE pk = ?").run(pk);
}

const historyBody = async (id: string, query = "") => {
  const res = await get(env, `/api/v1/runs/alice/mnist/${id}/history${query}`);
  expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
  return res.body;
};
const stepsOf = async (id: string) => ((await get(env, `/api/v1/runs/alice/mnist/${id}`)).json() as RunView).historySteps;
const chartPoints = async (id: string, key: string) =>
  ((await get(env, `/api/v1/runs/alice/mnist/${id}/history/buckets?key=${key}`)).json() as HistoryBucketsView).points;

const QUERIES = ["", "?limit=3", "?minStep=2&maxStep=8", "?keys=label,mixed,flag", "?minStep=5&limit=2", "?maxStep=-1", "?minStep=10.5", "?keys=never"];

describe("history stored once, as column chunks", () => {
  it("reads strings, booleans, nulls, NaN, the infinities and sparse keys back exactly, as the wide rows did", async () => {
    const records = [mixed(1, 0), mixed(7, 6), mixed(13, 12)];
    const { pk } = await runAndTwin("mixed001", records);
    expect(env.store.db.prepare("SELECT COUNT(*) FROM history WHERE run_pk = ?").pluck().get(pk)).toBe(0);
    // Store level: every value as sent (NaN, -0 and the infinities included), no key for a missing value.
    const expected: HistoryRow[] = records.flatMap((r) => historyRows(r));
    const stored = await env.store.readHistory(pk, { limit: 1000 });
    expect(stored).toEqual(expected);
    expect(Object.is(stored[4].loss, -0)).toBe(true);
    expect(stored[0]).not.toHaveProperty("never");
    // HTTP: byte for byte the answers of the twin read from wide rows, key order included.
    for (const q of QUERIES) expect(await historyBody("mixed001", q), q).toBe(await historyBody("mixed001l", q));
    expect(await historyBody("mixed001", "?limit=8")).not.toBe(await historyBody("mixed001", "?limit=7"));
    expect(JSON.parse(await historyBody("mixed001", "?minStep=1&maxStep=1")).rows[0]).toEqual({ _step: 1, _timestamp: T0 + 1000, _runtime: 1, loss: "NaN", flag: false, mixed: "one" });
    expect(await stepsOf("mixed001")).toBe(18);
    expect(await stepsOf("mixed001l")).toBe(18);
    // Charts still see only the numbers.
    expect(await chartPoints("mixed001", "mixed")).toBe(await chartPoints("mixed001l", "mixed"));
    expect(await chartPoints("mixed001", "label")).toBe(0);
  });

  it("reads hand-written rows whose keys come and go as the same objects (keys in the order the record first names them)", async () => {
    const records = [handWritten(1, 0, 7), mixed(8, 7), handWritten(14, 13, 5)];
    await runAndTwin("hand0001", records);
    // The one difference from the wide rows: a row of a hand-written record lists its keys in the
    // record's order (a chunk per key), not in its own; the objects are the same.
    const answer = async (id: string, q: string) => {
      const view = JSON.parse(await historyBody(id, q)) as { keys: string[]; rows: HistoryRow[] };
      return { keys: [...view.keys].sort(), rows: view.rows };
    };
    for (const q of QUERIES) expect(await answer("hand0001", q), q).toEqual(await answer("hand0001l", q));
    expect(await stepsOf("hand0001")).toBe(18);
  });

  it("pages through many records by step range and limit", async () => {
    // 100 records of 3 steps: more records than one page of the index read (64).
    const records: HistoryRecord[] = Array.from({ length: 100 }, (_, i) => ({ k: "history", seq: 1 + 3 * i, rows: rows(3 * i, 3, { b: i }) }));
    await runAndTwin("pages001", records);
    for (const q of ["?limit=150", "?minStep=250&limit=10", "?minStep=298", "?minStep=100&maxStep=200&limit=1000", "?minStep=299&maxStep=299", "?limit=1"]) {
      expect(await historyBody("pages001", q), q).toBe(await historyBody("pages001l", q));
    }
    expect(JSON.parse(await historyBody("pages001", "?minStep=250&limit=10")).rows.map((r: HistoryRow) => r._step)).toEqual(Array.from(steps(250, 10)));
    expect(await stepsOf("pages001")).toBe(300);
  });

  it("takes a resent record once, and a record resent with fewer keys replaces the one before", async () => {
    const path = "alice/mnist/resend01";
    const first = handWritten(1, 0, 4);
    await postRecords(env, path, msgpackBody([{ k: "run", seq: 0, run: runInfo("resend01") }, first as RunRecord]));
    const once = await historyBody("resend01");
    await postRecords(env, path, msgpackBody([first as RunRecord], [first as RunRecord]));
    expect(await historyBody("resend01")).toBe(once);
    expect(await stepsOf("resend01")).toBe(4);
    // The same seq again, without `note`: its chunk goes, from reads and charts alike.
    const again: HistoryRecord = { k: "history", seq: 1, rows: rows(0, 4, { acc: 1 }) };
    await postRecords(env, path, [again as RunRecord]);
    expect(JSON.parse(await historyBody("resend01")).rows).toEqual(historyRows(again));
    expect(env.store.db.prepare("SELECT key FROM history_chunks WHERE run_pk = (SELECT pk FROM runs WHERE run_id = 'resend01') ORDER BY key").pluck().all()).toEqual(["_runtime", "_step", "_timestamp", "acc", "loss"]);
    expect(await stepsOf("resend01")).toBe(4);
  });

  it("lets a record that overlaps others (a resend cut differently) replace their steps, as a wide row replaced itself", async () => {
    const records: HistoryRecord[] = [
      { k: "history", seq: 1, rows: rows(0, 10) },
      { k: "history", seq: 6, rows: rows(5, 10, { loss: 42 }) }, // the first one's tail, and more
      { k: "history", seq: 3, rows: rows(2, 2, { loss: 7 }) }, // the middle of the first one
      { k: "history", seq: 1, rows: rows(0, 1, { acc: 1 }) }, // shorter, at the same seq: the rest stays
      mixed(12, 11), // the middle of the second one, in columns, strings and all
    ];
    await runAndTwin("overlap1", records);
    const read = JSON.parse(await historyBody("overlap1")).rows as HistoryRow[];
    expect(read.map((r) => r._step)).toEqual(Array.from(steps(0, 17)));
    expect(read.map((r) => r.loss)).toEqual([1, 1 / 2, 7, 7, 1 / 5, 42, 42, 42, 42, 42, 42, 0.5, "NaN", "Infinity", "-Infinity", 0, 1e308]);
    for (const q of QUERIES) expect(JSON.parse(await historyBody("overlap1", q)).rows, q).toEqual(JSON.parse(await historyBody("overlap1l", q)).rows);
    expect(await stepsOf("overlap1")).toBe(17);
    expect(env.store.db.prepare("SELECT COUNT(*) FROM history_records WHERE run_pk = (SELECT pk FROM runs WHERE run_id = 'overlap1')").pluck().get()).toBe(6);
    const charts = async (id: string) => Promise.all(["loss", "acc", "mixed"].map(async (key) => (await get(env, `/api/v1/runs/alice/mnist/${id}/history/buckets?key=${key}`)).json() as unknown));
    expect(await charts("overlap1")).toEqual(await charts("overlap1l"));
  });

  it("still reads a run from before migration 9 from its wide rows, and keeps writing them for it", async () => {
    for (const [id, layout] of [["legacy00", 0], ["legacy01", 1]] as const) {
      const path = `alice/mnist/${id}`;
      await postRecords(env, path, [{ k: "run", seq: 0, run: runInfo(id) }, handWritten(1, 0, 5) as RunRecord]);
      const pk = (await env.store.getRun("alice", "mnist", id))!.pk;
      await makeLegacyRun(env.store, pk, layout);
      // Wide rows only from here: the chunks of migration 9 are not read for this run.
      env.store.db.prepare("UPDATE history_chunks SET extra = NULL WHERE run_pk = ?").run(pk);
      expect((await postRecords(env, path, msgpackBody([mixed(6, 5) as RunRecord]))).statusCode).toBe(200);
      expect(env.store.db.prepare("SELECT COUNT(*) FROM history WHERE run_pk = ?").pluck().get(pk)).toBe(11);
      // As wide rows always did, -0 is stored as 0 (msgpackr's integer form).
      const sent = [...historyRows(handWritten(1, 0, 5)), ...historyRows(mixed(6, 5))].map((r) => (Object.is(r.loss, -0) ? { ...r, loss: 0 } : r));
      expect(await env.store.readHistory(pk, { limit: 100 })).toEqual(sent);
      expect(await stepsOf(id)).toBe(11);
      expect(await chartPoints(id, "loss")).toBe(11);
    }
  });
});
