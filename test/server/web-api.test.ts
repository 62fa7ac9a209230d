/** The API routes the web app adds: runs table sorting and filters, downsampled history, live events. */
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { HistoryBucketsView, RunEvent, RunListPage } from "../../src/protocol/api.js";
import { get, makeEnv, msgpackBody, postRecords, rows, runInfo, T0, type TestEnv } from "./helpers.js";

let env: TestEnv;
beforeEach(async () => {
  env = await makeEnv();
});
afterEach(async () => {
  await env.close();
});

async function seedRuns() {
  const specs = [
    { id: "run00001", name: "alpha", lr: 0.1, acc: 0.5, tags: ["baseline"], state: "finished" as const },
    { id: "run00002", name: "bravo", lr: 0.01, acc: 0.9, tags: [], state: "failed" as const },
    { id: "run00003", name: "charlie", lr: 0.001, acc: 0.7, tags: ["baseline", "big"], state: "finished" as const },
  ];
  for (const [i, s] of specs.entries()) {
    const res = await postRecords(env, `alice/mnist/${s.id}`, [
      { k: "run", seq: 0, run: runInfo(s.id, { name: s.name, tags: s.tags, config: { optimizer: { lr: s.lr } }, createdAt: T0 + i * 1000, notes: `try ${s.name}` }) },
      { k: "summary", seq: 1, summary: { acc: s.acc } },
      { k: "exit", seq: 2, state: s.state, exitCode: s.state === "finished" ? 0 : 1, signal: null, error: null, finishedAt: T0 + 60_000 * (i + 1) },
    ]);
    expect(res.statusCode).toBe(200);
  }
}

const names = async (query: string) => ((await get(env, `/api/v1/runs/alice/mnist?${query}`)).json() as RunListPage).runs.map((r) => r.name);

describe("runs list for the table", () => {
  it("sorts by config and summary values, duration and name, in either order", async () => {
    await seedRuns();
    expect(await names("sort=config.optimizer.lr&order=asc")).toEqual(["charlie", "bravo", "alpha"]);
    expect(await names("sort=summary.acc&order=desc")).toEqual(["bravo", "charlie", "alpha"]);
    expect(await names("sort=-duration")).toEqual(["charlie", "bravo", "alpha"]);
    expect(await names("sort=name&order=desc")).toEqual(["charlie", "bravo", "alpha"]);
    // No run has the key: ties keep creation order.
    expect(await names("sort=summary.nothere")).toEqual(["alpha", "bravo", "charlie"]);
  });

  it("filters by state, tag and text, with total counting the matches", async () => {
    await seedRuns();
    const page = (await get(env, "/api/v1/runs/alice/mnist?tag=baseline&state=finished&sort=name&limit=1")).json() as RunListPage;
    expect(page.total).toBe(2);
    expect(page.runs.map((r) => r.name)).toEqual(["alpha"]);
    expect(page.runs[0].config).toEqual({ optimizer: { lr: 0.1 } });
    expect(await names("q=RAV")).toEqual(["bravo"]);
    expect(await names("q=100%25")).toEqual([]);
    expect(await names("tag=big")).toEqual(["charlie"]);
  });

  it("refuses a bad sort key or order with a message naming it", async () => {
    await seedRuns();
    const bad = await get(env, "/api/v1/runs/alice/mnist?sort=config.a%22b");
    expect(bad.statusCode).toBe(400);
    expect((await get(env, "/api/v1/runs/alice/mnist?order=up")).json().error.message).toContain("order=up");
  });
});

describe("history buckets", () => {
  it("keeps every spike: min, max, mean and last per bucket; a point per bucket when few", async () => {
    const data = rows(0, 1000).map((r) => ({ ...r, loss: r._step === 500 ? 1e6 : 1 }));
    await postRecords(env, "alice/mnist/buckets1", [{ k: "run", seq: 0, run: runInfo("buckets1") }, { k: "history", seq: 1, rows: data }]);
    const b = (await get(env, "/api/v1/runs/alice/mnist/buckets1/history/buckets?key=loss&buckets=10")).json() as HistoryBucketsView;
    expect(b.points).toBe(1000);
    expect(b.count).toEqual(Array(10).fill(100));
    expect(Math.max(...(b.max as number[]))).toBe(1e6);
    expect(Math.min(...(b.min as number[]))).toBe(1);
    const few = (await get(env, "/api/v1/runs/alice/mnist/buckets1/history/buckets?key=loss&buckets=1000&from=10&to=19")).json() as HistoryBucketsView;
    expect(few.xLast).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    const time = (await get(env, "/api/v1/runs/alice/mnist/buckets1/history/buckets?key=loss&x=time&buckets=2")).json() as HistoryBucketsView;
    expect(time.x0[0]).toBe(T0);
    // New rows are picked up (the cache extends with rows after the last seq read).
    await postRecords(env, "alice/mnist/buckets1", [{ k: "history", seq: 1001, rows: rows(1000, 5) }]);
    expect(((await get(env, "/api/v1/runs/alice/mnist/buckets1/history/buckets?key=loss")).json() as HistoryBucketsView).points).toBe(1005);
    expect((await get(env, "/api/v1/runs/alice/mnist/buckets1/history/buckets?key=loss", null)).statusCode).toBe(404);
    expect((await get(env, "/api/v1/runs/alice/mnist/buckets1/history/buckets?buckets=5")).statusCode).toBe(400);
  });

  it("answers null where a bucket has no finite value, and for a last value that is not finite", async () => {
    const loss = [NaN, Infinity, 1, 2, 3, -Infinity];
    const data = rows(0, 6).map((r, i) => ({ ...r, loss: loss[i] }));
    await postRecords(env, "alice/mnist/buckets2", msgpackBody([{ k: "run", seq: 0, run: runInfo("buckets2") }, { k: "history", seq: 1, rows: data }]));
    const res = await get(env, "/api/v1/runs/alice/mnist/buckets2/history/buckets?key=loss&buckets=3");
    expect(res.json()).toEqual({
      key: "loss",
      x: "step",
      points: 6,
      x0: [0, 5 / 3, 10 / 3],
      x1: [5 / 3, 10 / 3, 5],
      xLast: [1, 3, 5],
      min: [null, 1, 3],
      max: [null, 2, 3],
      mean: [null, 1.5, 3],
      last: [null, 2, null],
      count: [2, 2, 2],
      nonFinite: 3,
    });
  });
});

/** A history record at `seq`, one row. */
const rowsBatch = (seq: number) => [{ k: "history" as const, seq, rows: rows(seq, 1) }];

describe("live events", () => {
  it("tells an open page of the run about an upload, with the run's state", async () => {
    await postRecords(env, "alice/mnist/live0001", [{ k: "run", seq: 0, run: runInfo("live0001") }]);
    await env.app.listen({ port: 0, host: "127.0.0.1" });
    const base = `http://127.0.0.1:${(env.app.server.address() as AddressInfo).port}`;
    const ac = new AbortController();
    const res = await fetch(`${base}/api/v1/runs/alice/mnist/live0001/events`, { headers: { authorization: `Bearer ${env.aliceKey}` }, signal: ac.signal });
    expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    const first = await reader.read(); // "retry:": the stream is open and subscribed
    expect(new TextDecoder().decode(first.value)).toContain("retry:");
    await postRecords(env, "alice/mnist/live0001", [{ k: "exit", seq: 1, state: "crashed", exitCode: null, signal: null, error: "gone", finishedAt: T0 + 1 }]);
    let text = "";
    while (!text.includes("\n\n")) text += new TextDecoder().decode((await reader.read()).value);
    const event = JSON.parse(/data: (.*)/.exec(text)![1]) as RunEvent;
    expect(event).toEqual({ kind: "records", id: "live0001", lastSeq: 1, state: "crashed" });
    ac.abort();
  });

  /** Listens on a socket and opens the run's event stream (null: the project's); resolves once it is subscribed. */
  async function openStream(id: string | null, headers: Record<string, string>) {
    if (!env.app.server.listening) await env.app.listen({ port: 0, host: "127.0.0.1" });
    const base = `http://127.0.0.1:${(env.app.server.address() as AddressInfo).port}`;
    const ac = new AbortController();
    const res = await fetch(`${base}/api/v1/runs/alice/mnist/${id === null ? "" : `${id}/`}events`, { headers, signal: ac.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain("retry:");
    let text = "";
    /** What the stream carried until the server ended it; fails if it is still open after the deadline. */
    const untilEnd = async (deadlineMs = 5_000): Promise<string> => {
      const timer = setTimeout(() => ac.abort(), deadlineMs);
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return text;
          text += new TextDecoder().decode(value);
        }
      } catch {
        throw new Error(`the stream was still open after ${deadlineMs} ms; it carried ${JSON.stringify(text)}`);
      } finally {
        clearTimeout(timer);
      }
    };
    /** The next event, waiting at most the deadline. */
    const nextEvent = async (deadlineMs = 5_000): Promise<RunEvent> => {
      const timer = setTimeout(() => ac.abort(), deadlineMs);
      try {
        while (!text.includes("\n\n", text.indexOf("event: run"))) {
          const { done, value } = await reader.read();
          if (done) throw new Error(`the stream ended; it carried ${JSON.stringify(text)}`);
          text += new TextDecoder().decode(value);
        }
      } finally {
        clearTimeout(timer);
      }
      const event = JSON.parse(/data: (.*)/.exec(text)![1]) as RunEvent;
      text = text.slice(text.indexOf("\n\n", text.indexOf("event: run")) + 2);
      return event;
    };
    return { untilEnd, nextEvent, close: () => ac.abort() };
  }

  const patch = (id: string, body: object) =>
    env.app.inject({ method: "PATCH", url: `/api/v1/runs/alice/mnist/${id}`, headers: { authorization: `Bearer ${env.aliceKey}` }, payload: body });

  it("tells a project's stream of every run its viewer may read, and never of another's private run", async () => {
    await postRecords(env, "alice/mnist/proj0001", [{ k: "run", seq: 0, run: runInfo("proj0001") }]);
    await postRecords(env, "alice/mnist/proj0002", [{ k: "run", seq: 0, run: runInfo("proj0002") }]);
    expect((await patch("proj0001", { privacy: "public" })).statusCode).toBe(200);
    // Anonymous: sees the public run's upload, not the private run's before it.
    const anonymous = await openStream(null, {});
    const owner = await openStream(null, { authorization: `Bearer ${env.aliceKey}` });
    expect((await postRecords(env, "alice/mnist/proj0002", rowsBatch(1))).statusCode).toBe(200);
    expect((await postRecords(env, "alice/mnist/proj0001", rowsBatch(1))).statusCode).toBe(200);
    expect(await anonymous.nextEvent()).toEqual({ kind: "records", id: "proj0001", lastSeq: 1, state: "running" });
    // The owner hears both, in order.
    expect(await owner.nextEvent()).toMatchObject({ kind: "records", id: "proj0002" });
    expect(await owner.nextEvent()).toMatchObject({ kind: "records", id: "proj0001" });
    anonymous.close();
    owner.close();
  });

  it("ends an anonymous stream when its run is made private, without passing on that or any later event", async () => {
    await postRecords(env, "alice/mnist/live0002", [{ k: "run", seq: 0, run: runInfo("live0002") }]);
    expect((await patch("live0002", { privacy: "public" })).statusCode).toBe(200);
    const stream = await openStream("live0002", {});
    expect((await postRecords(env, "alice/mnist/live0002", rowsBatch(1))).statusCode).toBe(200);
    expect(await stream.nextEvent()).toMatchObject({ kind: "records", lastSeq: 1 });
    expect((await patch("live0002", { privacy: "private" })).statusCode).toBe(200);
    expect((await postRecords(env, "alice/mnist/live0002", rowsBatch(2))).statusCode).toBe(200);
    expect(await stream.untilEnd()).not.toContain("event: run");
  });

  it("ends a signed-in stream at sign-out, and one whose session has expired at its next event", async () => {
    await postRecords(env, "alice/mnist/live0003", [{ k: "run", seq: 0, run: runInfo("live0003") }]);
    const session = async () => {
      const minted = await env.app.inject({ method: "POST", url: "/api/v1/auth/login-links", headers: { authorization: `Bearer ${env.aliceKey}` } });
      const link = new URL(minted.json().url as string);
      const opened = await env.app.inject({ method: "GET", url: link.pathname + link.search, headers: { "sec-fetch-site": "none" } });
      return String(opened.headers["set-cookie"]).split(";")[0];
    };
    // The run is private: alice's session reads it, and hears of uploads.
    const cookie = await session();
    const stream = await openStream("live0003", { cookie });
    expect((await postRecords(env, "alice/mnist/live0003", rowsBatch(1))).statusCode).toBe(200);
    expect(await stream.nextEvent()).toMatchObject({ kind: "records", lastSeq: 1 });
    const out = await env.app.inject({ method: "POST", url: "/logout", headers: { cookie, "sec-fetch-site": "same-origin" } });
    expect(out.statusCode).toBe(303);
    expect(await stream.untilEnd()).not.toContain("event: run");

    // A session that runs out while its stream is open: the next event finds it gone.
    const later = await openStream("live0003", { cookie: await session() });
    env.clock.now += 31 * 24 * 3600 * 1000;
    expect((await postRecords(env, "alice/mnist/live0003", rowsBatch(2))).statusCode).toBe(200);
    expect(await later.untilEnd()).not.toContain("event: run");
  });
});
