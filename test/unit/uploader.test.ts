/**
 * The uploader against an injected POST (a fake server in memory) and, for backoff, fake timers:
 * what is retried, what stops the upload, and what is set aside in the dead-letter file so that
 * the rest of the run still arrives.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { classifyAnswer } from "../../src/daemon/backoff.js";
import { DeadLetter } from "../../src/daemon/dead-letter.js";
import type { PostResult } from "../../src/daemon/http-post.js";
import { Uploader, type PostFn } from "../../src/daemon/uploader.js";
import { WalWriter } from "../../src/daemon/wal-writer.js";
import { WAL_MAGIC, decode, encodeRecords, scanFrames, type RunRecord } from "../../src/protocol/index.js";

const silent = pino({ level: "silent" });
const target = { baseUrl: "http://127.0.0.1:1", apiKey: "k", entity: "e", project: "p", runId: "r1" };
const history = (seq: number, extra: Record<string, number> = {}): RunRecord => ({ k: "history", seq, rows: [{ _step: seq, _timestamp: 1, _runtime: 0, v: seq, ...extra }] });
const answer = (status: number, body: unknown = {}): PostResult => ({ status, headers: {}, text: JSON.stringify(body) });
const badRequest = answer(400, { error: { code: "TRK_ERR_BAD_REQUEST", message: "record 0 (k \"history\"): poison" } });

/** A WAL of the given batches in a fresh run directory. */
function walOf(batches: RunRecord[][]): { dir: string; path: string; end: number } {
  const dir = mkdtempSync(join(tmpdir(), "trk-upl-"));
  const w = new WalWriter(join(dir, "run-r1.wal"));
  for (const b of batches) w.append(encodeRecords(b));
  w.close();
  return { dir, path: w.path, end: w.end };
}

/** A server in memory: applies a body whole, or refuses it whole when a record has `poison`; keeps every body's seqs. */
function fakeServer(refuse: (records: RunRecord[]) => PostResult | null = (rs) => (rs.some((r) => r.k === "history" && "rows" in r && "poison" in r.rows[0]) ? badRequest : null)) {
  const stored: number[] = [];
  const bodies: number[][] = [];
  const post: PostFn = async (_url, _headers, body) => {
    const records = scanFrames(Buffer.from(body!), 0).frames.flatMap((f) => decode<RunRecord[]>(f.payload));
    bodies.push(records.map((r) => r.seq));
    const refused = refuse(records);
    if (refused) return refused;
    stored.push(...records.map((r) => r.seq));
    return answer(200, { records: records.length });
  };
  return { post, stored, bodies };
}

afterEach(() => vi.useRealTimers());

describe("the uploader", () => {
  it("sets a refused frame aside, finds it inside a batch, and uploads every other frame", async () => {
    const batches = [1, 2, 3, 4, 5, 6].map((s) => [history(s, s === 3 ? { poison: 1 } : {})]);
    const { dir, path, end } = walOf(batches);
    const server = fakeServer();
    const reports: Array<{ records: number; error: string; report: boolean }> = [];
    const up = new Uploader({ walPath: path, target, log: silent, post: server.post, deadLetter: new DeadLetter(dir), onRefused: (r, report) => void reports.push({ records: r.records, error: r.error, report }) });
    up.start(end);
    expect(await up.drain(5000)).toBe(true);
    await up.close();
    expect(server.stored.sort((a, b) => a - b)).toEqual([1, 2, 4, 5, 6]);
    // Halves, not one frame at a time: 6 (refused), 1-3 (refused), 1-2, 3 alone (refused), 4-6.
    expect(server.bodies).toEqual([[1, 2, 3, 4, 5, 6], [1, 2, 3], [1, 2], [3], [4, 5, 6]]);
    expect(reports).toEqual([{ records: 1, error: expect.stringContaining("TRK_ERR_BAD_REQUEST: record 0") as string, report: true }]);
    // The dead-letter file is a WAL holding exactly the refused frame; its note keeps the server's answer.
    const dead = readFileSync(join(dir, "dead-letter.wal"));
    expect(dead.subarray(0, WAL_MAGIC.length).equals(WAL_MAGIC)).toBe(true);
    const frames = scanFrames(dead.subarray(WAL_MAGIC.length), WAL_MAGIC.length);
    expect(frames.stoppedAt).toBeNull();
    expect(frames.frames.map((f) => decode<RunRecord[]>(f.payload))).toEqual([batches[2]]);
    const note = JSON.parse(readFileSync(join(dir, "dead-letter.jsonl"), "utf8")) as Record<string, unknown>;
    expect(note).toMatchObject({ records: 1, offset: WAL_MAGIC.length, error: expect.stringContaining("poison") as string });
    expect(up.status()).toMatchObject({ pendingBytes: 0, fatalError: null, refused: { frames: 1, records: 1, file: join(dir, "dead-letter.wal") } });
    // A daemon that takes the run over still counts it, and does not set the same frame aside twice.
    const again = new Uploader({ walPath: path, target, log: silent, post: server.post, deadLetter: new DeadLetter(dir), offsetPath: null });
    again.start(end);
    expect(await again.drain(5000)).toBe(true);
    await again.close();
    expect(again.status().refused).toMatchObject({ frames: 1, records: 1 });
  });

  it("stops this run's upload with a fatal error on a local disk error, instead of an unhandled rejection that ends the shared daemon", async () => {
    const batches = [[history(1)], [history(2, { poison: 1 })], [history(3)]];
    const { dir, path, end } = walOf(batches);
    const server = fakeServer();
    const rejections: unknown[] = [];
    const onRejection = (err: unknown) => void rejections.push(err);
    process.on("unhandledRejection", onRejection);
    try {
      // The run directory is gone when the refused frame is to be set aside (ENOENT).
      const up = new Uploader({ walPath: path, target, log: silent, post: server.post, deadLetter: new DeadLetter(join(dir, "gone")) });
      up.start(end);
      expect(await up.drain(5000)).toBe(false);
      await up.close();
      await new Promise((r) => setImmediate(r));
      expect(up.status().fatalError).toMatch(/local error .*trackside sync/);
      expect(server.stored).toEqual([1]);
      expect(rejections).toEqual([]);
    } finally {
      process.off("unhandledRejection", onRejection);
    }
  });

  it("does not report a refused frame of refusal reports again (no endless loop with an older server)", async () => {
    const { dir, path, end } = walOf([[history(1)], [{ k: "refused", seq: 0, at: 5, records: 1, bytes: 10, error: "x" }]]);
    const server = fakeServer((rs) => (rs.some((r) => r.k === "refused") ? badRequest : null));
    const reports: boolean[] = [];
    const up = new Uploader({ walPath: path, target, log: silent, post: server.post, deadLetter: new DeadLetter(dir), onRefused: (_r, report) => void reports.push(report) });
    up.start(end);
    expect(await up.drain(5000)).toBe(true);
    await up.close();
    expect(reports).toEqual([false]);
    expect(up.status().refused).toBeNull(); // not the user's records: not counted as refused
  });

  it.each([
    ["a wrong key (401)", answer(401, { error: { code: "TRK_ERR_UNAUTHORIZED", message: "unknown key" } })],
    ["someone else's entity (403)", answer(403, { error: { code: "TRK_ERR_FORBIDDEN", message: "not yours" } })],
    ["an unknown run (404)", answer(404, { error: { code: "TRK_ERR_NOT_FOUND", message: "no such run" } })],
    ["a 400 that is not trackside's (a proxy's page)", { status: 400, headers: {}, text: "<html>Bad Request</html>" }],
  ])("stops at once on %s, keeps the data, and sets nothing aside", async (_what, refusal) => {
    const { dir, path, end } = walOf([[history(1)], [history(2)]]);
    const server = fakeServer(() => refusal);
    const up = new Uploader({ walPath: path, target, log: silent, post: server.post, deadLetter: new DeadLetter(dir) });
    up.start(end);
    const t0 = Date.now();
    expect(await up.drain(30_000)).toBe(false);
    expect(Date.now() - t0).toBeLessThan(5000);
    await up.close();
    expect(up.status()).toMatchObject({ uploadedBytes: WAL_MAGIC.length, refused: null, fatalError: expect.stringContaining(String(refusal.status)) as string });
    expect(existsSync(join(dir, "dead-letter.wal"))).toBe(false);
  });

  it("stops rather than setting aside the frame that holds the run record", async () => {
    const run = { k: "run", seq: 1, run: { id: "r1" } } as unknown as RunRecord;
    const { dir, path, end } = walOf([[run], [history(2)]]);
    const up = new Uploader({ walPath: path, target, log: silent, post: fakeServer(() => badRequest).post, deadLetter: new DeadLetter(dir) });
    up.start(end);
    expect(await up.drain(5000)).toBe(false);
    await up.close();
    expect(up.status().fatalError).toContain("run's first record");
    expect(existsSync(join(dir, "dead-letter.wal"))).toBe(false);
  });

  it("retries a 503 and an unreachable server with backoff, then uploads", async () => {
    vi.useFakeTimers();
    const { path, end } = walOf([[history(1)]]);
    const answers: Array<PostResult | Error> = [answer(503), new Error("connect ECONNREFUSED"), answer(200)];
    let posts = 0;
    const post: PostFn = async () => {
      const a = answers[posts++];
      if (a instanceof Error) throw a;
      return a;
    };
    const up = new Uploader({ walPath: path, target, log: silent, post, offsetPath: null, backoff: { baseMs: 1000, random: () => 0.5 } });
    up.start(end);
    const drained = up.drain(60_000);
    await vi.advanceTimersByTimeAsync(0);
    expect(posts).toBe(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(posts).toBe(1); // the first backoff is 1 s
    await vi.advanceTimersByTimeAsync(1);
    expect(posts).toBe(2);
    await vi.advanceTimersByTimeAsync(2000); // then 2 s
    expect(posts).toBe(3);
    expect(await drained).toBe(true);
    await up.close();
  });
});

describe("classifyAnswer", () => {
  const coded = (code: string) => JSON.stringify({ error: { code, message: "m" } });
  it.each([
    [201, "", "ok"],
    [400, coded("TRK_ERR_BAD_REQUEST"), "refused"],
    [400, coded("TRK_ERR_BAD_VALUE"), "refused"],
    [413, coded("TRK_ERR_TOO_LARGE"), "refused"],
    [413, "<html>413 Request Entity Too Large</html>", "fatal"], // a proxy's limit: every large body alike
    [422, coded("TRK_ERR_BAD_VALUE"), "refused"],
    [400, coded("TRK_ERR_INVALID_ENTITY"), "fatal"],
    [400, "not json", "fatal"],
    [401, coded("TRK_ERR_UNAUTHORIZED"), "fatal"],
    [403, coded("TRK_ERR_FORBIDDEN"), "fatal"],
    [404, coded("TRK_ERR_NOT_FOUND"), "fatal"],
    [429, "", "retry"],
    [503, "", "retry"],
  ])("HTTP %i %s: %s", (status, text, kind) => {
    expect(classifyAnswer(status, text).kind).toBe(kind);
  });
});
