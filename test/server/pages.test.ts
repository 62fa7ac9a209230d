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
    expect(page.body).toContain("likely-lion-9");

    const again = await env.app.inject({ method: "GET", url: link.pathname + link.search });
    expect(again.statusCode).toBe(400);
    expect(again.headers["set-cookie"]).toBeUndefined();
  });

  it("shows the overview: state, duration, host, OS, Node.js, command, config, summary, steps", async () => {
    await createRun({ tags: ["baseline"], jobType: "train", group: "sweep-1", notes: "first try" });
    const cookie = await signInWithLink();
    const body = (await get(env, RUN_PAGE, null, { cookie })).body;
    for (const text of [
      "finished",
      "1h 2m 3s",
      "gpu-box-1",
      "linux 6.1.0 x64",
      "v20.11.0",
      "/usr/bin/node train.js --epochs 3",
      "alice/mnist/page0001",
      "baseline",
      "train",
      "sweep-1",
      "first try",
      "best_acc",
      "&quot;lr&quot;: 0.001",
      "<dt>History steps</dt><dd>7</dd>",
      "2024-05-01 12:00:00 UTC",
    ]) {
      expect(body, text).toContain(text);
    }
  });

  it("escapes a run name, notes and tags full of markup", async () => {
    await createRun({ name: "<script>alert(1)</script>", notes: `"><img src=x onerror=alert(2)>`, tags: ["<b>t</b>"] });
    const cookie = await signInWithLink();
    const body = (await get(env, RUN_PAGE, null, { cookie })).body;
    expect(body).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(body).not.toContain("<script>");
    expect(body).not.toContain("<img");
    expect(body).not.toContain("<b>t</b>");
    const csp = (await get(env, RUN_PAGE, null, { cookie })).headers["content-security-policy"];
    expect(csp).toContain("default-src 'none'");
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
    const home = await get(env, "/", null, { cookie });
    expect(home.body).toContain('href="/alice/mnist"');
    const project = await get(env, "/alice/mnist", null, { cookie });
    expect(project.statusCode).toBe(200);
    expect(project.body).toContain(`href="${RUN_PAGE}"`);
    expect(project.body).toContain("likely-lion-9");
    expect((await get(env, "/alice/mnist", null)).statusCode).toBe(404);
    expect((await get(env, "/", null)).body).toContain('href="/login"');
  });
});
