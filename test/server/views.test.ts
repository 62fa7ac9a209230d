/** Saved views over HTTP (routes-views.ts): a user's own named workspace states of a project. */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SavedView } from "../../src/protocol/api.js";
import { codeOf, get, makeEnv, postRecords, runInfo, type TestEnv } from "./helpers.js";

let env: TestEnv;
beforeEach(async () => {
  env = await makeEnv();
  // alice's project, with one public run so that bob may read it too.
  expect((await postRecords(env, "alice/mnist/run00001", [{ k: "run", seq: 0, run: runInfo("run00001") }])).statusCode).toBe(200);
});
afterEach(async () => {
  await env.close();
});

const URL = "/api/v1/views/alice/mnist";

function send(method: "POST" | "PUT" | "DELETE", url: string, body: unknown, key: string | null = env.aliceKey) {
  return env.app.inject({
    method,
    url,
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body === undefined ? {} : { "content-type": "application/json" }) },
    payload: body === undefined ? undefined : JSON.stringify(body),
  });
}

describe("saved views", () => {
  it("saves, lists, changes and deletes a user's views; one default at a time", async () => {
    const state = { runs: ["run00001"], panels: [{ keys: ["loss", "acc"], x: "step" }], sort: "-createdAt" };
    const created = await send("POST", URL, { name: "  my view ", state, isDefault: true });
    expect(created.statusCode).toBe(201);
    const view = created.json() as SavedView;
    expect(view).toMatchObject({ name: "my view", state, isDefault: true });
    expect(typeof view.id).toBe("string");
    expect(typeof view.createdAt).toBe("number");

    const other = (await send("POST", URL, { name: "other", state: {}, isDefault: true })).json() as SavedView;
    const listed = (await get(env, URL)).json() as { views: SavedView[] };
    expect(listed.views.map((v) => [v.name, v.isDefault])).toEqual([
      ["my view", false],
      ["other", true],
    ]);

    const changed = await send("PUT", `${URL}/${view.id}`, { state: { runs: [] }, isDefault: true });
    expect(changed.statusCode).toBe(200);
    expect(changed.json()).toMatchObject({ id: view.id, name: "my view", state: { runs: [] }, isDefault: true });
    expect(((await get(env, URL)).json() as { views: SavedView[] }).views.filter((v) => v.isDefault).map((v) => v.id)).toEqual([view.id]);

    expect((await send("DELETE", `${URL}/${other.id}`, undefined)).statusCode).toBe(204);
    expect((await send("DELETE", `${URL}/${other.id}`, undefined)).statusCode).toBe(404);
    expect(((await get(env, URL)).json() as { views: SavedView[] }).views.map((v) => v.name)).toEqual(["my view"]);
  });

  it("answers a name the user already has with 409 TRK_ERR_CONFLICT", async () => {
    expect((await send("POST", URL, { name: "a", state: {} })).statusCode).toBe(201);
    const b = (await send("POST", URL, { name: "b", state: {} })).json() as SavedView;
    const again = await send("POST", URL, { name: "a", state: { x: 1 } });
    expect([again.statusCode, codeOf(again)]).toEqual([409, "TRK_ERR_CONFLICT"]);
    const rename = await send("PUT", `${URL}/${b.id}`, { name: "a" });
    expect([rename.statusCode, codeOf(rename)]).toEqual([409, "TRK_ERR_CONFLICT"]);
  });

  it("refuses bad bodies with coded errors, and keeps nothing of them", async () => {
    const bad: [unknown, number, string][] = [
      [{ name: "x", state: {}, owner: "bob" }, 400, "TRK_ERR_BAD_REQUEST"], // unknown field
      [{ state: {} }, 400, "TRK_ERR_BAD_REQUEST"], // no name
      [{ name: "   ", state: {} }, 400, "TRK_ERR_BAD_REQUEST"],
      [{ name: "x".repeat(101), state: {} }, 400, "TRK_ERR_TOO_LARGE"],
      [{ name: "x" }, 400, "TRK_ERR_BAD_REQUEST"], // no state
      [{ name: "x", state: [1, 2] }, 400, "TRK_ERR_BAD_REQUEST"],
      [{ name: "x", state: { blob: "y".repeat(64 * 1024) } }, 400, "TRK_ERR_TOO_LARGE"],
      [{ name: "x", state: {}, isDefault: "yes" }, 400, "TRK_ERR_BAD_REQUEST"],
      [[1], 400, "TRK_ERR_BAD_REQUEST"],
    ];
    for (const [body, status, code] of bad) {
      const res = await send("POST", URL, body);
      expect([JSON.stringify(body).slice(0, 40), res.statusCode, codeOf(res)]).toEqual([JSON.stringify(body).slice(0, 40), status, code]);
    }
    expect((await send("POST", URL, { name: "x".repeat(100), state: { blob: "y".repeat(60 * 1024) } })).statusCode).toBe(201);
    expect(((await get(env, URL)).json() as { views: SavedView[] }).views).toHaveLength(1);
  });

  it("shows each user only their own views, and asks anonymous to sign in", async () => {
    await env.app.inject({ method: "PATCH", url: "/api/v1/runs/alice/mnist/run00001", headers: { authorization: `Bearer ${env.aliceKey}`, "content-type": "application/json" }, payload: JSON.stringify({ privacy: "public" }) });
    const mine = (await send("POST", URL, { name: "mine", state: {} })).json() as SavedView;
    expect(((await get(env, URL, env.bobKey)).json() as { views: SavedView[] }).views).toEqual([]);
    expect((await send("PUT", `${URL}/${mine.id}`, { name: "bob's now" }, env.bobKey)).statusCode).toBe(404);
    expect((await send("DELETE", `${URL}/${mine.id}`, undefined, env.bobKey)).statusCode).toBe(404);
    expect((await send("POST", URL, { name: "mine", state: {} }, env.bobKey)).statusCode).toBe(201);
    const anonymous = await get(env, URL, null);
    expect([anonymous.statusCode, codeOf(anonymous)]).toEqual([401, "TRK_ERR_UNAUTHORIZED"]);
    // A project bob may not read is not found, whether it exists or not.
    expect((await get(env, "/api/v1/views/alice/secret", env.bobKey)).statusCode).toBe(404);
  });
});
