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

/** The sign-in form's token and the cookie that holds it, as a browser gets them from GET /login. */
async function loginForm(url = "/login"): Promise<{ token: string; cookie: string }> {
  const form = await env.app.inject({ method: "GET", url });
  expect(form.statusCode).toBe(200);
  const token = /name="csrf" value="([^"]+)"/.exec(form.body)?.[1];
  expect(token).toBeDefined();
  expect(form.headers["set-cookie"]).toMatch(/SameSite=Strict/);
  return { token: token!, cookie: cookieFrom(form.headers["set-cookie"]) };
}

/** POSTs a form as the browser would, from this site's own page unless `headers` say otherwise. */
function postForm(url: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
  return env.app.inject({
    method: "POST",
    url,
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    payload: new URLSearchParams(fields).toString(),
  });
}

/** Signs in with the key pasted into the form, as a browser would. */
async function signInWithKey(apiKey: string, next?: string) {
  const { token, cookie } = await loginForm();
  return postForm("/login", { apiKey, csrf: token, ...(next === undefined ? {} : { next }) }, { cookie, "sec-fetch-site": "same-origin" });
}

/** Signs in with a login link opened as the CLI opens it: the browser says Sec-Fetch-Site "none". */
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
  const opened = await env.app.inject({ method: "GET", url: url.pathname + url.search, headers: { "sec-fetch-site": "none" } });
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
    const first = await env.app.inject({
      method: "GET",
      url: `${link.pathname}${link.search}&next=${encodeURIComponent(RUN_PAGE)}`,
      headers: { "sec-fetch-site": "none" },
    });
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

    const again = await env.app.inject({ method: "GET", url: link.pathname + link.search, headers: { "sec-fetch-site": "none" } });
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
    const res = await signInWithKey(env.aliceKey, RUN_PAGE);
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe(RUN_PAGE);
    const page = await get(env, RUN_PAGE, null, { cookie: cookieFrom(res.headers["set-cookie"]) });
    expect(page.statusCode).toBe(200);
  });

  it("refuses a wrong key and an open redirect", async () => {
    const wrong = await signInWithKey("trk_nope", "/");
    expect(wrong.statusCode).toBe(401);
    expect(wrong.body).toContain("not valid");
    expect(wrong.headers["set-cookie"]).toBeUndefined();
    await signInWithLink("/");
    const evil = await signInWithKey(env.aliceKey, "//evil.example/x");
    expect(evil.headers.location).toBe("/");
  });

  it("keeps a session out of bob's reach: his cookie does not open alice's private run", async () => {
    await createRun();
    const res = await signInWithKey(env.bobKey);
    const page = await get(env, RUN_PAGE, null, { cookie: cookieFrom(res.headers["set-cookie"]) });
    expect(page.statusCode).toBe(404);
  });
});

describe("sign-in forms refuse other sites (login CSRF)", () => {
  const mintLink = async (next?: string) => {
    const minted = await env.app.inject({
      method: "POST",
      url: "/api/v1/auth/login-links",
      headers: { authorization: `Bearer ${env.bobKey}` },
      payload: next === undefined ? {} : { next },
    });
    expect(minted.statusCode).toBe(200);
    const url = new URL(minted.json().url as string);
    return { path: url.pathname + url.search, token: url.searchParams.get("token")! };
  };
  const sessionSet = (res: { headers: Record<string, unknown> }) => String(res.headers["set-cookie"] ?? "").includes("trackside_session=");

  it("refuses a login form posted from another site, or without its page's token", async () => {
    const { token, cookie } = await loginForm();
    // Another site's page: the browser names it in Sec-Fetch-Site or Origin; it cannot read the token.
    const foreign: Record<string, string>[] = [{ "sec-fetch-site": "cross-site" }, { "sec-fetch-site": "same-site" }, { origin: "http://evil.example" }, { origin: "null" }];
    for (const headers of foreign) {
      const res = await postForm("/login", { apiKey: env.bobKey, csrf: token }, { cookie, ...headers });
      expect(res.statusCode).toBe(403);
      expect(res.body).toContain("TRK_ERR_BAD_ORIGIN");
      expect(sessionSet(res)).toBe(false);
    }
    // A form without the token of the browser's cookie (a program, an old browser, a planted cookie).
    const noToken = await postForm("/login", { apiKey: env.bobKey }, { cookie });
    expect(noToken.statusCode).toBe(403);
    expect(noToken.body).toContain("has expired or did not come from this server");
    expect(sessionSet(noToken)).toBe(false);
    const wrongToken = await postForm("/login", { apiKey: env.bobKey, csrf: "x".repeat(43) }, { cookie });
    expect(wrongToken.statusCode).toBe(403);
    // The same form from this site's page signs in.
    const ok = await postForm("/login", { apiKey: env.bobKey, csrf: token }, { cookie, origin: "http://localhost:80" });
    expect(ok.statusCode).toBe(303);
    expect(sessionSet(ok)).toBe(true);
  });

  it("a login link reached from another page only asks, naming the account; the same-origin POST signs in", async () => {
    const link = await mintLink("/bob");
    const asked = await env.app.inject({ method: "GET", url: link.path, headers: { "sec-fetch-site": "cross-site" } });
    expect(asked.statusCode).toBe(200);
    expect(asked.body).toContain("Sign in as bob?");
    expect(sessionSet(asked)).toBe(false);
    const csrf = /name="csrf" value="([^"]+)"/.exec(asked.body)![1];
    const cookie = cookieFrom(asked.headers["set-cookie"]);
    // An auto-submitting form on another site is refused, and the link is not used up.
    const forged = await postForm("/auth/link", { token: link.token, next: "/bob", csrf }, { cookie, "sec-fetch-site": "cross-site" });
    expect(forged.statusCode).toBe(403);
    expect(sessionSet(forged)).toBe(false);
    const noToken = await postForm("/auth/link", { token: link.token, next: "/bob" }, { cookie, "sec-fetch-site": "same-origin" });
    expect(noToken.statusCode).toBe(403);
    const ok = await postForm("/auth/link", { token: link.token, next: "/bob", csrf }, { cookie, "sec-fetch-site": "same-origin" });
    expect(ok.statusCode).toBe(303);
    expect(ok.headers.location).toBe("/bob");
    expect(sessionSet(ok)).toBe(true);
    // Used once.
    const again = await postForm("/auth/link", { token: link.token, csrf }, { cookie, "sec-fetch-site": "same-origin" });
    expect(again.statusCode).toBe(400);
  });

  it("a next with U+2028 or a control character is refused before the link is used: never a 500", async () => {
    const link = await mintLink();
    for (const next of ["/a\u2028b", "/a\rb", "/a b", "//evil.example", "https://evil.example/"]) {
      const res = await env.app.inject({ method: "GET", url: `${link.path}&next=${encodeURIComponent(next)}`, headers: { "sec-fetch-site": "none" } });
      expect(res.statusCode).toBe(400);
      expect(res.body).toContain("malformed");
      expect(sessionSet(res)).toBe(false);
    }
    // The link still works.
    const ok = await env.app.inject({ method: "GET", url: link.path, headers: { "sec-fetch-site": "none" } });
    expect(ok.statusCode).toBe(303);
    expect(sessionSet(ok)).toBe(true);
    // Minting a link with such a next is a coded 400; the login form falls back to "/".
    const minted = await env.app.inject({
      method: "POST",
      url: "/api/v1/auth/login-links",
      headers: { authorization: `Bearer ${env.bobKey}` },
      payload: { next: "/a\u2028b" },
    });
    expect(minted.statusCode).toBe(400);
    expect(minted.json().error.code).toBe("TRK_ERR_BAD_REQUEST");
    const form = await signInWithKey(env.bobKey, "/a\u2028b");
    expect(form.statusCode).toBe(303);
    expect(form.headers.location).toBe("/");
  });

  it("signs out only from this site: a cross-site post keeps the session; the app's button and GET /logout's form work", async () => {
    const cookie = await signInWithLink();
    const signedIn = async () => (await get(env, "/api/v1/viewer", null, { cookie })).statusCode === 200;
    expect(await signedIn()).toBe(true);
    const forged = await postForm("/logout", {}, { cookie, "sec-fetch-site": "cross-site" });
    expect(forged.statusCode).toBe(403);
    const bare = await postForm("/logout", {}, { cookie });
    expect(bare.statusCode).toBe(403);
    expect(await signedIn()).toBe(true);
    // The web app's "Sign out" button: a same-origin form post.
    const out = await postForm("/logout", {}, { cookie, "sec-fetch-site": "same-origin" });
    expect(out.statusCode).toBe(303);
    expect(await signedIn()).toBe(false);
    // A browser that sends neither header uses GET /logout's form and its token.
    const cookie2 = await signInWithLink();
    const { token, cookie: formCookie } = await loginForm("/logout");
    const out2 = await postForm("/logout", { csrf: token }, { cookie: `${cookie2}; ${formCookie}` });
    expect(out2.statusCode).toBe(303);
    expect((await get(env, "/api/v1/viewer", null, { cookie: cookie2 })).statusCode).toBe(401);
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
