import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BASE_URL, get, makeEnv, postRecords, rows, runInfo, T0, type TestEnv } from "./helpers.js";

let env: TestEnv;
beforeEach(async () => {
  env = await makeEnv();
});
afterEach(async () => {
  await env.close();
});

const RUN_PAGE = "/alice/mnist/runs/page0001";

async function createRun(over: Parameters<typeof runInfo>[1] = {}) {
  const res = await postRecords(env, "alice/mnist/page0001", [
    { k: "run", seq: 0, run: runInfo("page0001", over) },
    { k: "history", seq: 1, rows: rows(0, 7) },
    { k: "summary", seq: 8, summary: { best_acc: 0.97 } },
    { k: "exit", seq: 9, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: T0 + 3_723_000 },
  ]);
  expect(res.statusCode).toBe(200);
}

/** The session cookie a browser would keep from a Set-Cookie header. */
function cookieFrom(setCookie: string | string[] | undefined): string {
  const header = Array.isArray(setCookie) ? setCookie[0] : setCookie;
  expect(header).toBeDefined();
  return (header as string).split(";")[0];
}

async function signInWithLink(next?: string): Promise<string> {
  const minted = await env.app.inject({
    method: "POST",
    url: "/api/v1/auth/login-links",
    headers: { authorization: `Bearer ${env.aliceKey}` },
    payload: next ? { next } : {},
  });
  expect(minted.statusCode).toBe(200);
  const url = new URL(minted.json().url as string);
  expect(url.origin).toBe(BASE_URL);
  const opened = await env.app.inject({ method: "GET", url: url.pathname + url.search });
  expect(opened.statusCode).toBe(303);
  expect(opened.headers["set-cookie"]).toMatch(/HttpOnly/);
  expect(opened.headers["set-cookie"]).toMatch(/SameSite=Lax/);
  if (next) expect(opened.headers.location).toBe(next);
  return cookieFrom(opened.headers["set-cookie"]);
}

describe("run page", () => {
  it("shows a private run only with a session from a login link, and the link works once", async () => {
    await createRun();
    const anonymous = await get(env, RUN_PAGE, null);
    expect(anonymous.statusCode).toBe(404);
    expect(anonymous.body).toContain("Not found or private");
    expect(anonymous.body).toContain(`/login?next=${encodeURIComponent(RUN_PAGE)}`);
    expect(anonymous.body).not.toContain("likely-lion-9");

    const minted = await env.app.inject({ method: "POST", url: "/api/v1/auth/login-links", headers: { authorization: `Bearer ${env.aliceKey}` } });
    const link = new URL(minted.json().url as string);
    const first = await env.app.inject({ method: "GET", url: `${link.pathname}${link.search}&next=${encodeURIComponent(RUN_PAGE)}` });
    expect(first.headers.location).toBe(RUN_PAGE);
    const cookie = cookieFrom(first.headers["set-cookie"]);
    const page = await get(env, RUN_PAGE, null, { cookie });
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toMatch(/text\/html/);
    // The page is the web app's shell; the run itself comes through the JSON API, with the cookie.
    expect(page.body).toContain('<div id="app">');
    const api = await get(env, "/api/v1/runs/alice/mnist/page0001", null, { cookie });
    expect(api.statusCode).toBe(200);
    expect(api.json().name).toBe("likely-lion-9");

    const again = await env.app.inject({ method: "GET", url: link.pathname + link.search });
    expect(again.statusCode).toBe(400);
    expect(again.headers["set-cookie"]).toBeUndefined();
  });

  it("the session cookie reads the JSON API and edits a run only with the x-trackside header (CSRF)", async () => {
    await createRun({ tags: ["baseline"], jobType: "train", group: "sweep-1", notes: "first try" });
    const cookie = await signInWithLink();
    const view = (await get(env, "/api/v1/runs/alice/mnist/page0001", null, { cookie })).json();
    expect(view).toMatchObject({ state: "finished", durationSeconds: 3723, tags: ["baseline"], jobType: "train", group: "sweep-1", notes: "first try" });
    const patch = (headers: Record<string, string>) =>
      env.app.inject({ method: "PATCH", url: "/api/v1/runs/alice/mnist/page0001", headers: { cookie, ...headers }, payload: { tags: ["edited"] } });
    const forged = await patch({});
    expect(forged.statusCode).toBe(403);
    expect(forged.json().error.message).toContain("x-trackside: 1");
    expect((await get(env, "/api/v1/runs/alice/mnist/page0001", null, { cookie })).json().tags).toEqual(["baseline"]);
    const ok = await patch({ "x-trackside": "1" });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().tags).toEqual(["edited"]);
    // A key needs no such header: no browser sends it on its own.
    const byKey = await env.app.inject({ method: "PATCH", url: "/api/v1/runs/alice/mnist/page0001", headers: { authorization: `Bearer ${env.aliceKey}` }, payload: { notes: null } });
    expect(byKey.statusCode).toBe(200);
  });

  it("serves the app shell with no run data in it, under a CSP that allows scripts of this origin only", async () => {
    await createRun({ name: "<script>alert(1)</script>", notes: `"><img src=x onerror=alert(2)>`, tags: ["<b>t</b>"] });
    const cookie = await signInWithLink();
    const res = await get(env, RUN_PAGE, null, { cookie });
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain("alert(");
    expect(res.body).not.toContain("<img");
    const csp = res.headers["content-security-policy"] as string;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
    expect(res.headers["cache-control"]).toBe("no-store");
  });
});

describe("sign-in", () => {
  it("refuses a login link older than 10 minutes", async () => {
    const minted = await env.app.inject({ method: "POST", url: "/api/v1/auth/login-links", headers: { authorization: `Bearer ${env.aliceKey}` } });
    const link = new URL(minted.json().url as string);
    env.clock.now += 10 * 60 * 1000 + 1;
    const opened = await env.app.inject({ method: "GET", url: link.pathname + link.search });
    expect(opened.statusCode).toBe(400);
    expect(opened.body).toContain("no longer valid");
    expect(opened.headers["set-cookie"]).toBeUndefined();
  });

  it("signs in with an API key pasted into the form and goes back to next", async () => {
    await createRun();
    const form = await env.app.inject({ method: "GET", url: `/login?next=${encodeURIComponent(RUN_PAGE)}` });
    expect(form.body).toContain(`value="${RUN_PAGE}"`);
    const res = await env.app.inject({
      method: "POST",
      url: "/login",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      payload: new URLSearchParams({ apiKey: env.aliceKey, next: RUN_PAGE }).toString(),
    });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe(RUN_PAGE);
    const page = await get(env, RUN_PAGE, null, { cookie: cookieFrom(res.headers["set-cookie"]) });
    expect(page.statusCode).toBe(200);
  });

  it("refuses a wrong key and an open redirect", async () => {
    const wrong = await env.app.inject({
      method: "POST",
      url: "/login",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      payload: "apiKey=trk_nope&next=%2F",
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.body).toContain("not valid");
    expect(wrong.headers["set-cookie"]).toBeUndefined();
    await signInWithLink("/");
    const evil = await env.app.inject({
      method: "POST",
      url: "/login",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      payload: new URLSearchParams({ apiKey: env.aliceKey, next: "//evil.example/x" }).toString(),
    });
    expect(evil.headers.location).toBe("/");
  });

  it("keeps a session out of bob's reach: his cookie does not open alice's private run", async () => {
    await createRun();
    const res = await env.app.inject({
      method: "POST",
      url: "/login",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      payload: new URLSearchParams({ apiKey: env.bobKey }).toString(),
    });
    const page = await get(env, RUN_PAGE, null, { cookie: cookieFrom(res.headers["set-cookie"]) });
    expect(page.statusCode).toBe(404);
  });
});

describe("lists", () => {
  it("lists the signed-in user's projects on / and a project's runs", async () => {
    await createRun();
    const cookie = await signInWithLink();
    const projects = await get(env, "/api/v1/viewer/projects", null, { cookie });
    expect(projects.json().projects).toEqual([{ entity: "alice", name: "mnist", runCount: 1, lastRunAt: new Date(T0).toISOString() }]);
    expect((await get(env, "/api/v1/viewer/projects", null)).statusCode).toBe(401);
    const project = await get(env, "/alice/mnist", null, { cookie });
    expect(project.statusCode).toBe(200);
    expect(project.body).toContain('<div id="app">');
    // A project of private runs does not exist for anyone else.
    expect((await get(env, "/alice/mnist", null)).statusCode).toBe(404);
    expect((await get(env, "/", null)).statusCode).toBe(200);
  });
});
