import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RunListItem, RunView } from "../../src/protocol/api.js";
import { BASE_URL, codeOf, get, makeEnv, postRecords, rows, runInfo, T0, type TestEnv } from "./helpers.js";

let env: TestEnv;
beforeEach(async () => {
  env = await makeEnv();
});
afterEach(async () => {
  await env.close();
});

async function createRun(id: string, createdAt = T0, extra: { tags?: string[]; name?: string } = {}) {
  const res = await postRecords(env, `alice/mnist/${id}`, [
    { k: "run", seq: 0, run: runInfo(id, { createdAt, ...extra }) },
    { k: "history", seq: 1, rows: rows(0, 5, { acc: 0.5 }) },
  ]);
  expect(res.statusCode).toBe(200);
}

const patch = (id: string, body: unknown, key: string | null) =>
  env.app.inject({
    method: "PATCH",
    url: `/api/v1/runs/alice/mnist/${id}`,
    headers: key ? { authorization: `Bearer ${key}` } : {},
    payload: body as object,
  });

describe("privacy", () => {
  it("hides a private run from other users and anonymous readers as 404, and shows it to its owner", async () => {
    await createRun("priv0001");
    for (const key of [env.bobKey, null]) {
      for (const url of ["/api/v1/runs/alice/mnist/priv0001", "/api/v1/runs/alice/mnist/priv0001/history", "/api/v1/runs/alice/mnist"]) {
        const res = await get(env, url, key);
        expect(res.statusCode, `${url} as ${key ? "bob" : "anonymous"}`).toBe(404);
        expect(codeOf(res)).toBe("TRK_ERR_NOT_FOUND");
      }
      expect((await get(env, "/api/v1/entities/alice/projects", key)).json()).toEqual({ projects: [] });
    }
    const own = await get(env, "/api/v1/runs/alice/mnist/priv0001");
    expect(own.statusCode).toBe(200);
    expect((own.json() as RunView).privacy).toBe("private");
  });

  it("shows a run made public to everyone, and lets only its owner change it", async () => {
    await createRun("pub00001");
    expect((await patch("pub00001", { privacy: "public" }, env.aliceKey)).statusCode).toBe(200);
    for (const key of [env.bobKey, null]) {
      const res = await get(env, "/api/v1/runs/alice/mnist/pub00001", key);
      expect(res.statusCode).toBe(200);
      expect((res.json() as RunView).historySteps).toBe(5);
    }
    const anonList = (await get(env, "/api/v1/entities/alice/projects", null)).json();
    expect(anonList.projects).toMatchObject([{ entity: "alice", name: "mnist", runCount: 1 }]);

    const byBob = await patch("pub00001", { name: "bobs-now" }, env.bobKey);
    expect(byBob.statusCode).toBe(403);
    expect(codeOf(byBob)).toBe("TRK_ERR_FORBIDDEN");
    expect((await patch("pub00001", { name: "anon" }, null)).statusCode).toBe(401);
    expect((await get(env, "/api/v1/runs/alice/mnist/pub00001", null)).json().name).toBe("likely-lion-9");
  });

  it("answers 401 to a wrong key even where anonymous reading would work", async () => {
    await createRun("pub00002");
    await patch("pub00002", { privacy: "public" }, env.aliceKey);
    const res = await get(env, "/api/v1/runs/alice/mnist/pub00002", "trk_wrong");
    expect(res.statusCode).toBe(401);
    expect(codeOf(res)).toBe("TRK_ERR_UNAUTHORIZED");
  });
});

describe("GET /api/v1/runs/:entity/:project", () => {
  it("lists runs newest first with a total, and filters and pages them", async () => {
    await createRun("run00001", T0);
    await createRun("run00002", T0 + 1000);
    await createRun("run00003", T0 + 2000);
    await postRecords(env, "alice/mnist/run00002", [{ k: "exit", seq: 2, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: T0 + 5000 }]);

    const all = (await get(env, "/api/v1/runs/alice/mnist")).json() as { runs: RunListItem[]; total: number };
    expect(all.total).toBe(3);
    expect(all.runs.map((r) => r.id)).toEqual(["run00003", "run00002", "run00001"]);
    expect(all.runs[1]).toMatchObject({ state: "finished", durationSeconds: 4, author: "alice" });

    const finished = (await get(env, "/api/v1/runs/alice/mnist?state=finished")).json();
    expect(finished.runs.map((r: RunListItem) => r.id)).toEqual(["run00002"]);
    const page = (await get(env, "/api/v1/runs/alice/mnist?sort=createdAt&limit=1&offset=1")).json();
    expect(page).toMatchObject({ total: 3, runs: [{ id: "run00002" }] });

    const bad = await get(env, "/api/v1/runs/alice/mnist?sort=color");
    expect(bad.statusCode).toBe(400);
    expect(codeOf(bad)).toBe("TRK_ERR_BAD_REQUEST");
  });
});

describe("GET /api/v1/runs/:entity/:project/:id", () => {
  it("returns every overview field, with path and URL", async () => {
    await createRun("full0001", T0, { tags: ["baseline"] });
    const run = (await get(env, "/api/v1/runs/alice/mnist/full0001")).json() as RunView;
    expect(run).toMatchObject({
      id: "full0001",
      entity: "alice",
      project: "mnist",
      path: "alice/mnist/full0001",
      url: `${BASE_URL}/alice/mnist/runs/full0001`,
      state: "running",
      tags: ["baseline"],
      privacy: "private",
      exitCode: null,
      historySteps: 5,
      lastSeq: 5,
      createdAt: new Date(T0).toISOString(),
    });
  });
});

describe("GET /api/v1/runs/:entity/:project/:id/history", () => {
  it("returns the chosen keys within the step range", async () => {
    await createRun("hist0001");
    const res = (await get(env, "/api/v1/runs/alice/mnist/hist0001/history?keys=acc&minStep=1&maxStep=3")).json();
    expect(res).toEqual({ keys: ["acc"], rows: [1, 2, 3].map((s) => ({ _step: s, acc: 0.5 })) });
    const all = (await get(env, "/api/v1/runs/alice/mnist/hist0001/history?limit=2")).json();
    expect(all.keys).toEqual(expect.arrayContaining(["loss", "acc", "_timestamp", "_runtime"]));
    expect(all.rows).toHaveLength(2);
  });
});

describe("PATCH /api/v1/runs/:entity/:project/:id", () => {
  it("changes name, notes and tags, and a replayed older record does not undo it", async () => {
    await createRun("edit0001");
    const res = await patch("edit0001", { name: "renamed", notes: "the good one", tags: ["best", "best", "v2"] }, env.aliceKey);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ name: "renamed", notes: "the good one", tags: ["best", "v2"] });
    await postRecords(env, "alice/mnist/edit0001", [{ k: "run", seq: 0, run: runInfo("edit0001") }]);
    expect((await get(env, "/api/v1/runs/alice/mnist/edit0001")).json().name).toBe("renamed");
  });

  it("refuses bad fields with TRK_ERR_BAD_REQUEST", async () => {
    await createRun("edit0002");
    for (const body of [{ tags: "x" }, { privacy: "secret" }, { color: "red" }, { name: "" }]) {
      const res = await patch("edit0002", body, env.aliceKey);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(codeOf(res)).toBe("TRK_ERR_BAD_REQUEST");
    }
  });
});

describe("health and viewer", () => {
  it("answers /healthz and names the viewer", async () => {
    expect((await get(env, "/healthz", null)).json()).toMatchObject({ ok: true });
    expect((await get(env, "/api/v1/viewer")).json()).toEqual({ user: "alice", entity: "alice", email: null, admin: false, teams: [] });
    expect((await get(env, "/api/v1/viewer", null)).statusCode).toBe(401);
  });

  it("answers unknown API paths with a coded 404", async () => {
    const res = await get(env, "/api/v1/nothing/here");
    expect(res.statusCode).toBe(404);
    expect(codeOf(res)).toBe("TRK_ERR_NOT_FOUND");
  });
});
