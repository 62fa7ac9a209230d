/**
 * Accounts, keys, teams and project settings through the HTTP API: what a site admin, a team
 * admin and a user see when they manage people, and what a revoked key or a disabled user can
 * still do (nothing). The access table test covers who may call each route; this one covers
 * what the routes do.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LightMyRequestResponse } from "fastify";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ApiKeyView, NewApiKeyView, NewUserView, TeamView, UserView } from "../../src/protocol/api.js";
import { readCredential } from "../../src/protocol/local-config.js";
import { mintApiKey } from "../../src/server/http/auth.js";
import { startServer } from "../../src/server/start-server.js";
import { codeOf, get, makeEnv, postRecords, rows, runInfo, T0, type TestEnv } from "./helpers.js";

let env: TestEnv;
beforeEach(async () => {
  env = await makeEnv();
  const alice = (await env.store.getUserByName("alice"))!;
  await env.store.updateUser(alice.id, { admin: true });
});
afterEach(async () => env.close());

function send(method: string, url: string, key: string | null, body?: unknown): Promise<LightMyRequestResponse> {
  return env.app.inject({
    method: method as "POST",
    url,
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body === undefined ? {} : { "content-type": "application/json" }) },
    payload: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** W&B's Python client's check of a key, as its validation code does it. */
const wandbAccepts = (key: string) => /^[\w-]{40,}$/.test(key.split("-").slice(1).join("-") || key);

describe("API keys", () => {
  it("mints keys of [A-Za-z0-9] after trk_, 43 of them, that W&B's key check accepts", async () => {
    const minted = Array.from({ length: 500 }, () => mintApiKey().key);
    for (const key of minted) {
      expect(key).toMatch(/^trk_[A-Za-z0-9]{43}$/);
      expect(wandbAccepts(key)).toBe(true);
    }
    expect(new Set(minted).size).toBe(500);
    // Every character of the alphabet turns up: the keys are not from a smaller set.
    expect(new Set(minted.join("").slice(0)).size).toBeGreaterThanOrEqual(62);
  });

  it("creates a labelled key shown once, lists keys without the key, notes their use, and revokes one at once", async () => {
    const created = await send("POST", "/api/v1/keys", env.bobKey, { label: "laptop" });
    expect(created.statusCode).toBe(200);
    const key = created.json() as NewApiKeyView;
    expect(key.key).toMatch(/^trk_[A-Za-z0-9]{43}$/);
    expect(key).toMatchObject({ label: "laptop", prefix: key.key.slice(0, 8), lastUsedAt: null });

    expect((await get(env, "/api/v1/viewer", key.key)).json()).toMatchObject({ user: "bob" });
    const listed = (await get(env, "/api/v1/keys", env.bobKey)).json() as { keys: ApiKeyView[] };
    expect(listed.keys.map((k) => k.label)).toEqual([null, "laptop"]);
    expect(JSON.stringify(listed)).not.toContain(key.key);
    expect(listed.keys[1].lastUsedAt).toBe(new Date(env.clock.now).toISOString());
    // Another user's key id is not theirs to revoke.
    expect((await send("DELETE", `/api/v1/keys/${key.id}`, env.aliceKey)).statusCode).toBe(404);

    expect((await send("DELETE", `/api/v1/keys/${key.id}`, env.bobKey)).statusCode).toBe(200);
    const after = await get(env, "/api/v1/viewer", key.key);
    expect(after.statusCode).toBe(401);
    expect(codeOf(after)).toBe("TRK_ERR_UNAUTHORIZED");
    expect((await get(env, "/api/v1/viewer", env.bobKey)).statusCode).toBe(200);
  });

  it("revoking a key ends the browser sessions and login links made with it", async () => {
    const key = (await send("POST", "/api/v1/keys", env.bobKey, { label: "leaked" })).json() as NewApiKeyView;
    /** Signs a browser in through a login link minted with `auth` (a key or a cookie); its cookie. */
    const signIn = async (auth: Record<string, string>): Promise<string> => {
      const minted = await env.app.inject({ method: "POST", url: "/api/v1/auth/login-links", headers: { ...auth, "x-trackside": "1" } });
      const token = new URL((minted.json() as { url: string }).url).searchParams.get("token")!;
      const opened = await env.app.inject({ method: "GET", url: `/auth/link?token=${token}`, headers: { "sec-fetch-site": "none" } });
      expect(opened.statusCode).toBe(303);
      return String(opened.headers["set-cookie"]).split(";")[0];
    };
    const cookie = await signIn({ authorization: `Bearer ${key.key}` });
    const second = await signIn({ cookie }); // a session made by that session: the same key's
    const other = await signIn({ authorization: `Bearer ${env.bobKey}` });
    const pending = await send("POST", "/api/v1/auth/login-links", key.key, {});
    for (const c of [cookie, second, other]) expect((await get(env, "/api/v1/viewer", null, { cookie: c })).statusCode).toBe(200);

    await send("DELETE", `/api/v1/keys/${key.id}`, env.bobKey);
    expect((await get(env, "/api/v1/viewer", null, { cookie })).statusCode).toBe(401);
    expect((await get(env, "/api/v1/viewer", null, { cookie: second })).statusCode).toBe(401);
    const token = new URL((pending.json() as { url: string }).url).searchParams.get("token")!;
    expect((await env.app.inject({ method: "GET", url: `/auth/link?token=${token}`, headers: { "sec-fetch-site": "none" } })).statusCode).toBe(400);
    // Bob's other sign-ins are not touched.
    expect((await get(env, "/api/v1/viewer", null, { cookie: other })).json()).toMatchObject({ user: "bob" });
  });

  it("refuses bad labels and key ids with a coded 400", async () => {
    expect(codeOf(await send("POST", "/api/v1/keys", env.bobKey, { label: "a\nb" }))).toBe("TRK_ERR_BAD_REQUEST");
    expect(codeOf(await send("POST", "/api/v1/keys", env.bobKey, { label: "x".repeat(201) }))).toBe("TRK_ERR_TOO_LARGE");
    expect(codeOf(await send("POST", "/api/v1/keys", env.bobKey, { lable: "typo" }))).toBe("TRK_ERR_BAD_REQUEST");
    expect(codeOf(await send("DELETE", "/api/v1/keys/abc", env.bobKey))).toBe("TRK_ERR_BAD_REQUEST");
  });
});

describe("users", () => {
  it("lets a site admin create a user, whose first key works at once, and list users", async () => {
    const res = await send("POST", "/api/v1/users", env.aliceKey, { name: "carol", email: "carol@example.com" });
    expect(res.statusCode).toBe(200);
    const made = res.json() as NewUserView;
    expect(made.user).toMatchObject({ name: "carol", email: "carol@example.com", admin: false, disabled: false });
    expect((await get(env, "/api/v1/viewer", made.apiKey)).json()).toMatchObject({ user: "carol", entity: "carol", teams: [] });
    const users = (await get(env, "/api/v1/users")).json() as { users: UserView[] };
    expect(users.users.map((u) => [u.name, u.admin])).toEqual([
      ["alice", true],
      ["bob", false],
      ["carol", false],
    ]);
    expect(JSON.stringify(users)).not.toContain(made.apiKey);
  });

  it("refuses a taken name (of a user or a team), a reserved one and a bad email, with codes", async () => {
    await send("POST", "/api/v1/teams", env.bobKey, { name: "vision" });
    for (const name of ["bob", "vision"]) {
      const res = await send("POST", "/api/v1/users", env.aliceKey, { name });
      expect([res.statusCode, codeOf(res)]).toEqual([409, "TRK_ERR_CONFLICT"]);
    }
    expect(codeOf(await send("POST", "/api/v1/users", env.aliceKey, { name: "settings" }))).toBe("TRK_ERR_INVALID_ENTITY");
    expect(codeOf(await send("POST", "/api/v1/users", env.aliceKey, { name: "a/b" }))).toBe("TRK_ERR_INVALID_ENTITY");
    expect(codeOf(await send("POST", "/api/v1/users", env.aliceKey, { name: "dan", email: "not an address" }))).toBe("TRK_ERR_BAD_REQUEST");
    expect((await env.store.listUsers()).map((u) => u.name)).toEqual(["alice", "bob"]);
  });

  it("disabling a user stops their keys and sessions at once, keeps their runs; enabling them again restores their keys, not their sessions", async () => {
    expect((await postRecords(env, "bob/p/bobrun01", [{ k: "run", seq: 0, run: runInfo("bobrun01", { entity: "bob", project: "p" }) }], env.bobKey)).statusCode).toBe(200);
    await send("PATCH", "/api/v1/runs/bob/p/bobrun01", env.bobKey, { privacy: "public" });
    const link = (await send("POST", "/api/v1/auth/login-links", env.bobKey, {})).json() as { url: string };

    const off = await send("PATCH", "/api/v1/users/bob", env.aliceKey, { disabled: true });
    expect(off.json()).toMatchObject({ name: "bob", disabled: true });
    expect((await get(env, "/api/v1/viewer", env.bobKey)).statusCode).toBe(401);
    expect((await postRecords(env, "bob/p/bobrun01", [], env.bobKey)).statusCode).toBe(401);
    // A login link minted before is dead too.
    const token = new URL(link.url).searchParams.get("token")!;
    const opened = await env.app.inject({ method: "GET", url: `/auth/link?token=${token}`, headers: { "sec-fetch-site": "none" } });
    expect(opened.statusCode).toBe(400);
    // Their public run is still there for anyone.
    expect((await get(env, "/api/v1/runs/bob/p/bobrun01", null)).json()).toMatchObject({ author: "bob", privacy: "public" });

    await send("PATCH", "/api/v1/users/bob", env.aliceKey, { disabled: false });
    expect((await get(env, "/api/v1/viewer", env.bobKey)).statusCode).toBe(200);
    const reopened = await env.app.inject({ method: "GET", url: `/auth/link?token=${token}`, headers: { "sec-fetch-site": "none" } });
    expect(reopened.statusCode).toBe(400);
  });

  it("refuses a name that differs from a taken one only in letter case", async () => {
    await send("POST", "/api/v1/teams", env.bobKey, { name: "vision" });
    for (const name of ["Bob", "VISION"]) expect(codeOf(await send("POST", "/api/v1/users", env.aliceKey, { name }))).toBe("TRK_ERR_CONFLICT");
    expect(codeOf(await send("POST", "/api/v1/teams", env.bobKey, { name: "Alice" }))).toBe("TRK_ERR_CONFLICT");
  });

  it("never leaves the server without an enabled site admin", async () => {
    const res = await send("PATCH", "/api/v1/users/alice", env.aliceKey, { disabled: true });
    expect([res.statusCode, codeOf(res)]).toEqual([409, "TRK_ERR_CONFLICT"]);
    expect(codeOf(await send("PATCH", "/api/v1/users/alice", env.aliceKey, { admin: false }))).toBe("TRK_ERR_CONFLICT");
    expect((await get(env, "/api/v1/viewer")).json()).toMatchObject({ admin: true });
    // With a second admin, the first may step down.
    await send("PATCH", "/api/v1/users/bob", env.aliceKey, { admin: true });
    expect((await send("PATCH", "/api/v1/users/alice", env.aliceKey, { admin: false })).json()).toMatchObject({ admin: false });
    expect(codeOf(await get(env, "/api/v1/users"))).toBe("TRK_ERR_FORBIDDEN");
  });
});

describe("teams", () => {
  it("makes the creator its admin; admins add, change and remove members; a team keeps an admin", async () => {
    const made = await send("POST", "/api/v1/teams", env.bobKey, { name: "vision" });
    expect(made.json()).toMatchObject({ name: "vision", role: "admin", members: [{ user: "bob", role: "admin" }] });
    const added = await send("PUT", "/api/v1/teams/vision/members/alice", env.bobKey, { role: "viewer" });
    expect((added.json() as TeamView).members.map((m) => [m.user, m.role])).toEqual([
      ["bob", "admin"],
      ["alice", "viewer"],
    ]);
    expect((await get(env, "/api/v1/viewer")).json()).toMatchObject({ teams: [{ name: "vision", role: "viewer" }] });
    expect((await get(env, "/api/v1/teams")).json()).toEqual({ teams: [{ name: "vision", role: "viewer", members: 2 }] });
    // A viewer may look, not manage.
    expect(codeOf(await send("PUT", "/api/v1/teams/vision/members/alice", env.aliceKey, { role: "admin" }))).toBe("TRK_ERR_FORBIDDEN");
    // The last admin can neither leave nor step down.
    expect(codeOf(await send("DELETE", "/api/v1/teams/vision/members/bob", env.bobKey))).toBe("TRK_ERR_CONFLICT");
    expect(codeOf(await send("PUT", "/api/v1/teams/vision/members/bob", env.bobKey, { role: "member" }))).toBe("TRK_ERR_CONFLICT");
    expect(codeOf(await send("PUT", "/api/v1/teams/vision/members/nobody", env.bobKey, { role: "member" }))).toBe("TRK_ERR_NOT_FOUND");
    expect(codeOf(await send("PUT", "/api/v1/teams/vision/members/alice", env.bobKey, { role: "owner" }))).toBe("TRK_ERR_BAD_REQUEST");

    // A disabled admin does not count: the last enabled one still cannot step down.
    await send("PUT", "/api/v1/teams/vision/members/alice", env.bobKey, { role: "admin" });
    const carol = (await send("POST", "/api/v1/users", env.aliceKey, { name: "carol" })).json() as NewUserView;
    await send("PUT", "/api/v1/teams/vision/members/carol", env.bobKey, { role: "admin" });
    await send("PATCH", "/api/v1/users/carol", env.aliceKey, { disabled: true });
    await send("PUT", "/api/v1/teams/vision/members/alice", env.bobKey, { role: "viewer" });
    expect(codeOf(await send("DELETE", "/api/v1/teams/vision/members/bob", env.bobKey))).toBe("TRK_ERR_CONFLICT");
    expect(carol.user.name).toBe("carol");

    const removed = await send("DELETE", "/api/v1/teams/vision/members/alice", env.bobKey);
    expect((removed.json() as TeamView).members.map((m) => m.user)).toEqual(["bob", "carol"]);
    expect((await get(env, "/api/v1/teams/vision")).statusCode).toBe(404);
    expect(codeOf(await send("POST", "/api/v1/teams", env.aliceKey, { name: "alice" }))).toBe("TRK_ERR_CONFLICT");
  });

  it("lets members log runs into the team, authored by the key's user, and refuses viewers and strangers before the body is read", async () => {
    await send("POST", "/api/v1/teams", env.bobKey, { name: "vision" });
    await send("PUT", "/api/v1/teams/vision/members/alice", env.bobKey, { role: "member" });
    const records = [
      { k: "run", seq: 0, run: runInfo("visrun01", { entity: "vision", project: "p" }) },
      { k: "history", seq: 1, rows: rows(0, 3) },
    ] as const;
    expect((await postRecords(env, "vision/p/visrun01", [...records], env.aliceKey)).statusCode).toBe(200);
    expect((await get(env, "/api/v1/runs/vision/p/visrun01", env.bobKey)).json()).toMatchObject({ author: "alice", canEdit: true, privacy: "private" });

    await send("PUT", "/api/v1/teams/vision/members/alice", env.bobKey, { role: "viewer" });
    const refused = await postRecords(env, "vision/p/visrun01", [{ k: "history", seq: 4, rows: rows(3, 1) }], env.aliceKey);
    expect([refused.statusCode, codeOf(refused)]).toEqual([403, "TRK_ERR_FORBIDDEN"]);
    expect((await get(env, "/api/v1/runs/vision/p/visrun01", env.aliceKey)).json()).toMatchObject({ historySteps: 3, canEdit: false });
  });
});

describe("projects", () => {
  it("gives new runs the project's default privacy, set by the entity's owner before or after its first run", async () => {
    const set = await send("PATCH", "/api/v1/projects/bob/shared", env.bobKey, { defaultPrivacy: "public" });
    expect(set.json()).toEqual({ entity: "bob", name: "shared", defaultPrivacy: "public", canWrite: true, canAdminister: true });
    const upload = (id: string) => postRecords(env, `bob/shared/${id}`, [{ k: "run", seq: 0, run: runInfo(id, { entity: "bob", project: "shared" }) }], env.bobKey);
    await upload("shared01");
    expect((await get(env, "/api/v1/runs/bob/shared/shared01", null)).json()).toMatchObject({ privacy: "public", canEdit: false });
    // Back to private: runs made from now on are private; the public one stays public.
    await send("PATCH", "/api/v1/projects/bob/shared", env.bobKey, { defaultPrivacy: "private" });
    await upload("shared02");
    expect((await get(env, "/api/v1/runs/bob/shared/shared02", null)).statusCode).toBe(404);
    expect((await get(env, "/api/v1/runs/bob/shared/shared01", null)).statusCode).toBe(200);
    expect((await get(env, "/api/v1/projects/bob/shared", null)).json()).toMatchObject({ defaultPrivacy: "private", canAdminister: false });
    expect(codeOf(await send("PATCH", "/api/v1/projects/bob/shared", env.bobKey, { defaultPrivacy: "open" }))).toBe("TRK_ERR_BAD_REQUEST");
  });
});

describe("live events", () => {
  it("ends an open stream at once when its key is revoked, or its user disabled", async () => {
    const savedHome = process.env.HOME;
    const home = mkdtempSync(join(tmpdir(), "trackside-accounts-"));
    process.env.HOME = home;
    const server = await startServer({ port: 0, dataDir: join(home, "server") });
    try {
      const admin = readCredential(server.url)!.apiKey;
      const call = (method: string, path: string, key: string, body?: unknown) =>
        fetch(`${server.url}${path}`, {
          method,
          headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      const bob = (await (await call("POST", "/api/v1/users", admin, { name: "bob" })).json()) as NewUserView;
      const second = (await (await call("POST", "/api/v1/keys", bob.apiKey, {})).json()) as NewApiKeyView;
      const records = [{ k: "run", seq: 0, run: { ...runInfo("live0001", { entity: "bob", project: "p" }), createdAt: T0 } }];
      expect((await call("POST", "/api/v1/runs/bob/p/live0001/records", bob.apiKey, records)).status).toBe(200);

      /** Opens the run's event stream with a key; `ended` resolves when the server ends it. */
      const open = async (key: string) => {
        const res = await fetch(`${server.url}/api/v1/runs/bob/p/live0001/events`, { headers: { authorization: `Bearer ${key}` } });
        expect(res.status).toBe(200);
        const reader = res.body!.getReader();
        const ended = (async () => {
          while (!(await reader.read()).done);
          return "ended";
        })();
        return { ended };
      };
      const bySecond = await open(second.key);
      const byFirst = await open(bob.apiKey);
      expect((await call("DELETE", `/api/v1/keys/${second.id}`, bob.apiKey)).status).toBe(200);
      expect(await bySecond.ended).toBe("ended");
      expect((await call("PATCH", "/api/v1/users/bob", admin, { disabled: true })).status).toBe(200);
      expect(await byFirst.ended).toBe("ended");
    } finally {
      await server.close();
      process.env.HOME = savedHome;
      rmSync(home, { recursive: true, force: true });
    }
  });
});
