/**
 * The access rule, route by route, against a real server (a listening socket, a SQLite file):
 * every role (anonymous, another user, a site admin who is not a member, a team viewer, member
 * and admin, an entity's owner) against every route, for a private and a public run of a user's
 * entity and of a team's. The routes are enumerated from fastify itself: a route added without
 * a row here fails the test, as does one without an access rule.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readCredential } from "../../src/protocol/local-config.js";
import { mintApiKey } from "../../src/server/http/auth.js";
import { startServer, type RunningServer } from "../../src/server/start-server.js";
import { runInfo, T0 } from "./helpers.js";

type Role = "anonymous" | "other" | "siteAdmin" | "viewer" | "member" | "admin" | "owner";
const ROLES: readonly Role[] = ["anonymous", "other", "siteAdmin", "viewer", "member", "admin", "owner"];
type Privacy = "private" | "public";
/** Expected status per role; a role a target cannot have (an owner of a team) is left out. */
type Row = Partial<Record<Role, number>>;
type Expect = Record<Privacy, Row>;

const all = (status: number): Row => Object.fromEntries(ROLES.map((r) => [r, status]));
const same = (row: Row): Expect => ({ private: row, public: row });

// The expectations, written out: what each role gets, for a private and for a public run.
const READ: Expect = {
  private: { anonymous: 404, other: 404, siteAdmin: 404, viewer: 200, member: 200, admin: 200, owner: 200 },
  public: all(200),
};
const EDIT: Expect = {
  private: { anonymous: 401, other: 404, siteAdmin: 404, viewer: 403, member: 200, admin: 200, owner: 200 },
  public: { anonymous: 401, other: 403, siteAdmin: 403, viewer: 403, member: 200, admin: 200, owner: 200 },
};
const UPLOAD = same({ anonymous: 401, other: 403, siteAdmin: 403, viewer: 403, member: 200, admin: 200, owner: 200 });
const ADMINISTER: Expect = {
  private: { anonymous: 401, other: 404, siteAdmin: 404, viewer: 403, member: 403, admin: 200, owner: 200 },
  public: { anonymous: 401, other: 403, siteAdmin: 403, viewer: 403, member: 403, admin: 200, owner: 200 },
};
const ANYONE_SEES_ENTITY = same(all(200));
/** Team routes: members of any role see the team; a user's entity is no team, even to its owner. */
const TEAM_READ = same({ anonymous: 404, other: 404, siteAdmin: 404, viewer: 200, member: 200, admin: 200, owner: 404 });
const TEAM_ADMINISTER = same({ anonymous: 401, other: 404, siteAdmin: 404, viewer: 403, member: 403, admin: 200, owner: 404 });
const SIGNED_IN = same({ ...all(200), anonymous: 401 });
/** One's own things in a project (saved views): signed in, and the project readable. */
const OWN_IN_PROJECT: Expect = {
  private: { anonymous: 401, other: 404, siteAdmin: 404, viewer: 200, member: 200, admin: 200, owner: 200 },
  public: { ...all(200), anonymous: 401 },
};
const ownStatus = (ok: number): Expect => ({
  private: { ...OWN_IN_PROJECT.private, viewer: ok, member: ok, admin: ok, owner: ok },
  public: { ...all(ok), anonymous: 401 },
});
const SITE_ADMIN = same({ ...all(403), anonymous: 401, siteAdmin: 200 });

/** What one request of the table touches. */
interface Target {
  entity: string;
  project: string;
  id: string;
}

interface Case {
  method: string;
  /** The route as fastify names it. */
  route: string;
  path: (t: Target) => string;
  body?: (t: Target) => unknown;
  expect: Expect;
  /** Puts back what a successful request changed, so the next role finds the same state. */
  restore?: () => Promise<void>;
}

const run = (t: Target) => `/api/v1/runs/${t.entity}/${t.project}/${t.id}`;
const blobs = (t: Target) => `/api/v1/artifacts/${t.entity}/${t.project}/blobs`;
/** sha256 of `{}`, the JSON body these requests send. */
const BRACES = createHash("sha256").update("{}").digest("hex");
const NEVER = createHash("sha256").update("never stored").digest("hex");
const uploadStatus = (ok: number): Expect => same({ ...UPLOAD.private, member: ok, admin: ok, owner: ok });
let uniq = 0;

const CASES: Case[] = [
  // Nothing of anyone's.
  { method: "GET", route: "/healthz", path: () => "/healthz", expect: same(all(200)) },
  { method: "GET", route: "/", path: () => "/", expect: same(all(200)) },
  { method: "GET", route: "/settings", path: () => "/settings", expect: same(all(200)) },
  { method: "GET", route: "/login", path: () => "/login", expect: same(all(200)) },
  // Forms without their page's token are refused, whoever sends them.
  { method: "POST", route: "/login", path: () => "/login", body: () => ({ apiKey: "x" }), expect: same(all(403)) },
  { method: "GET", route: "/logout", path: () => "/logout", expect: same(all(200)) },
  { method: "POST", route: "/logout", path: () => "/logout", body: () => ({}), expect: same(all(403)) },
  { method: "GET", route: "/auth/link", path: () => "/auth/link", expect: same(all(400)) },
  { method: "POST", route: "/auth/link", path: () => "/auth/link", body: () => ({ token: "x" }), expect: same(all(403)) },
  { method: "GET", route: "/assets/*", path: () => "/assets/no-such-file.js", expect: same(all(404)) },
  // The asker's own things.
  { method: "GET", route: "/api/v1/viewer", path: () => "/api/v1/viewer", expect: SIGNED_IN },
  { method: "GET", route: "/api/v1/viewer/projects", path: () => "/api/v1/viewer/projects", expect: SIGNED_IN },
  { method: "GET", route: "/api/v1/keys", path: () => "/api/v1/keys", expect: SIGNED_IN },
  { method: "POST", route: "/api/v1/keys", path: () => "/api/v1/keys", body: () => ({ label: "table" }), expect: SIGNED_IN },
  // Nobody holds key 999999: to anyone signed in it is not theirs.
  { method: "DELETE", route: "/api/v1/keys/:id", path: () => "/api/v1/keys/999999", expect: same({ ...all(404), anonymous: 401 }) },
  { method: "GET", route: "/api/v1/teams", path: () => "/api/v1/teams", expect: SIGNED_IN },
  { method: "POST", route: "/api/v1/teams", path: () => "/api/v1/teams", body: () => ({ name: `team-${++uniq}` }), expect: SIGNED_IN },
  { method: "POST", route: "/api/v1/auth/login-links", path: () => "/api/v1/auth/login-links", body: () => ({}), expect: SIGNED_IN },
  // W&B's clients (docs/wandb.md): GraphQL needs a key, then each operation applies the rule to
  // what it touches (test/wandb/routes-suite.ts); an upload URL is its own capability.
  { method: "POST", route: "/graphql", path: () => "/graphql", body: () => ({ operationName: "Viewer", query: "", variables: {} }), expect: SIGNED_IN },
  { method: "PUT", route: "/files/uploads/:token", path: () => "/files/uploads/forged.token", body: () => ({}), expect: same(all(403)) },
  // Accounts.
  { method: "GET", route: "/api/v1/users", path: () => "/api/v1/users", expect: SITE_ADMIN },
  { method: "POST", route: "/api/v1/users", path: () => "/api/v1/users", body: () => ({ name: `user-${++uniq}` }), expect: SITE_ADMIN },
  { method: "PATCH", route: "/api/v1/users/:name", path: () => "/api/v1/users/frank", body: () => ({ disabled: false }), expect: SITE_ADMIN },
  // The entity.
  { method: "GET", route: "/api/v1/entities/:entity", path: (t) => `/api/v1/entities/${t.entity}`, expect: ANYONE_SEES_ENTITY },
  { method: "GET", route: "/api/v1/entities/:entity/projects", path: (t) => `/api/v1/entities/${t.entity}/projects`, expect: ANYONE_SEES_ENTITY },
  { method: "GET", route: "/:entity", path: (t) => `/${t.entity}`, expect: ANYONE_SEES_ENTITY },
  { method: "POST", route: "/api/v1/runs/:entity/:project/:id/records", path: (t) => `${run(t)}/records`, body: () => [], expect: UPLOAD },
  { method: "POST", route: "/api/v1/runs/:entity/:project/:id/heartbeat", path: (t) => `${run(t)}/heartbeat`, body: () => ({}), expect: UPLOAD },
  { method: "POST", route: "/files/:entity/:project/:id/file_stream", path: (t) => `/files/${t.entity}/${t.project}/${t.id}/file_stream`, body: () => ({}), expect: UPLOAD },
  // The team.
  { method: "GET", route: "/api/v1/teams/:team", path: (t) => `/api/v1/teams/${t.entity}`, expect: TEAM_READ },
  {
    method: "PUT",
    route: "/api/v1/teams/:team/members/:user",
    path: (t) => `/api/v1/teams/${t.entity}/members/frank`,
    body: () => ({ role: "viewer" }),
    expect: TEAM_ADMINISTER,
    restore: () => setRole("frank", "member"),
  },
  {
    method: "DELETE",
    route: "/api/v1/teams/:team/members/:user",
    path: (t) => `/api/v1/teams/${t.entity}/members/frank`,
    expect: TEAM_ADMINISTER,
    restore: () => setRole("frank", "member"),
  },
  // The project.
  { method: "GET", route: "/:entity/:project", path: (t) => `/${t.entity}/${t.project}`, expect: READ },
  { method: "GET", route: "/api/v1/runs/:entity/:project", path: (t) => `/api/v1/runs/${t.entity}/${t.project}`, expect: READ },
  // The artifact pages: the shell, by the project's rule; what they show is asked of the API (no collection "model" here).
  { method: "GET", route: "/:entity/:project/artifacts", path: (t) => `/${t.entity}/${t.project}/artifacts`, expect: READ },
  { method: "GET", route: "/:entity/:project/artifacts/:name", path: (t) => `/${t.entity}/${t.project}/artifacts/model`, expect: READ },
  { method: "GET", route: "/:entity/:project/artifacts/:name/:alias", path: (t) => `/${t.entity}/${t.project}/artifacts/model/v0`, expect: READ },
  { method: "GET", route: "/api/v1/projects/:entity/:project", path: (t) => `/api/v1/projects/${t.entity}/${t.project}`, expect: READ },
  { method: "GET", route: "/api/v1/runs/:entity/:project/events", path: (t) => `/api/v1/runs/${t.entity}/${t.project}/events`, expect: READ },
  {
    method: "PATCH",
    route: "/api/v1/projects/:entity/:project",
    path: (t) => `/api/v1/projects/${t.entity}/${t.project}`,
    body: () => ({ defaultPrivacy: "private" }),
    expect: ADMINISTER,
  },
  // Artifact blobs (routes-blobs.ts): writes as uploads; the blob of these requests' body `{}`.
  { method: "POST", route: "/api/v1/artifacts/:entity/:project/blobs/missing", path: (t) => `${blobs(t)}/missing`, body: () => ({ digests: [BRACES] }), expect: UPLOAD },
  { method: "POST", route: "/api/v1/artifacts/:entity/:project/blobs/:digest/uploads", path: (t) => `${blobs(t)}/${BRACES}/uploads`, body: () => ({ size: 2 }), expect: UPLOAD },
  { method: "PUT", route: "/api/v1/artifacts/:entity/:project/blobs/:digest", path: (t) => `${blobs(t)}/${BRACES}`, body: () => ({}), expect: UPLOAD },
  // No upload 999... of a blob never stored: not found to whoever may write.
  { method: "PUT", route: "/api/v1/artifacts/:entity/:project/blobs/:digest/uploads/:uploadId/parts/:number", path: (t) => `${blobs(t)}/${NEVER}/uploads/${"9".repeat(32)}/parts/1`, body: () => ({}), expect: uploadStatus(404) },
  {
    method: "POST",
    route: "/api/v1/artifacts/:entity/:project/blobs/:digest/uploads/:uploadId/complete",
    path: (t) => `${blobs(t)}/${NEVER}/uploads/${"9".repeat(32)}/complete`,
    body: () => ({ parts: [{ number: 1, etag: "x" }] }),
    expect: uploadStatus(404),
  },
  // Stored by the PUT above; in no version, so of a public project only its members read it.
  { method: "GET", route: "/api/v1/artifacts/:entity/:project/blobs/:digest", path: (t) => `${blobs(t)}/${BRACES}`, expect: { private: READ.private, public: READ.private } },
  // One's own saved views of the project (nobody holds view 999999: not found to anyone who may ask).
  { method: "GET", route: "/api/v1/views/:entity/:project", path: (t) => `/api/v1/views/${t.entity}/${t.project}`, expect: OWN_IN_PROJECT },
  {
    method: "POST",
    route: "/api/v1/views/:entity/:project",
    path: (t) => `/api/v1/views/${t.entity}/${t.project}`,
    body: () => ({ name: `view-${++uniq}`, state: {} }),
    expect: ownStatus(201),
  },
  {
    method: "PUT",
    route: "/api/v1/views/:entity/:project/:id",
    path: (t) => `/api/v1/views/${t.entity}/${t.project}/999999`,
    body: () => ({ name: "renamed" }),
    expect: ownStatus(404),
  },
  { method: "DELETE", route: "/api/v1/views/:entity/:project/:id", path: (t) => `/api/v1/views/${t.entity}/${t.project}/999999`, expect: ownStatus(404) },
  // Artifact versions (routes-artifacts.ts): logged and used as uploads are; read as runs are (a
  // public run logged "table", so everyone reads it in the public project). Logged before it is read.
  {
    method: "POST",
    route: "/api/v1/artifacts/:entity/:project/versions",
    path: (t) => `/api/v1/artifacts/${t.entity}/${t.project}/versions`,
    body: (t) => ({ runId: t.id, manifest: { name: "table", type: "dataset", description: null, metadata: {}, files: [], references: [] }, aliases: [] }),
    expect: UPLOAD,
  },
  {
    method: "POST",
    route: "/api/v1/artifacts/:entity/:project/uses",
    path: (t) => `/api/v1/artifacts/${t.entity}/${t.project}/uses`,
    body: (t) => ({ runId: t.id, artifact: { entity: t.entity, project: t.project, name: "table", version: 0 } }),
    expect: UPLOAD,
  },
  { method: "GET", route: "/api/v1/artifacts/:entity/:project", path: (t) => `/api/v1/artifacts/${t.entity}/${t.project}`, expect: READ },
  { method: "GET", route: "/api/v1/artifacts/:entity/:project/:name", path: (t) => `/api/v1/artifacts/${t.entity}/${t.project}/table`, expect: READ },
  { method: "GET", route: "/api/v1/artifacts/:entity/:project/:name/:alias", path: (t) => `/api/v1/artifacts/${t.entity}/${t.project}/table/latest`, expect: READ },
  // The run.
  { method: "GET", route: "/:entity/:project/runs/:id", path: (t) => `/${t.entity}/${t.project}/runs/${t.id}`, expect: READ },
  { method: "GET", route: "/api/v1/runs/:entity/:project/:id", path: run, expect: READ },
  { method: "GET", route: "/api/v1/runs/:entity/:project/:id/history", path: (t) => `${run(t)}/history`, expect: READ },
  // The batched route lets in whoever may see the project, then answers each run by the run's rule (batch-buckets.test.ts).
  { method: "GET", route: "/api/v1/runs/:entity/:project/history/buckets", path: (t) => `/api/v1/runs/${t.entity}/${t.project}/history/buckets?key=loss&runs=${t.id}`, expect: READ },
  { method: "GET", route: "/api/v1/runs/:entity/:project/:id/history/buckets", path: (t) => `${run(t)}/history/buckets?key=loss`, expect: READ },
  { method: "GET", route: "/api/v1/runs/:entity/:project/:id/system", path: (t) => `${run(t)}/system`, expect: READ },
  { method: "GET", route: "/api/v1/runs/:entity/:project/:id/console", path: (t) => `${run(t)}/console`, expect: READ },
  { method: "GET", route: "/api/v1/runs/:entity/:project/:id/media", path: (t) => `${run(t)}/media`, expect: READ },
  { method: "GET", route: "/api/v1/runs/:entity/:project/:id/media/values", path: (t) => `${run(t)}/media/values?key=samples`, expect: READ },
  { method: "GET", route: "/api/v1/runs/:entity/:project/:id/events", path: (t) => `${run(t)}/events`, expect: READ },
  { method: "PATCH", route: "/api/v1/runs/:entity/:project/:id", path: run, body: () => ({ notes: "edited" }), expect: EDIT },
];

let home: string;
let savedHome: string | undefined;
let server: RunningServer;
const keys: Partial<Record<string, string>> = {};
/** Who plays each role, for bob's own entity and for the team "vision". */
const PLAYERS: Record<"bob" | "vision", Partial<Record<Role, string>>> = {
  bob: { other: "erin", siteAdmin: "root", owner: "bob" },
  vision: { other: "erin", siteAdmin: "root", viewer: "carol", member: "bob", admin: "dan" },
};

async function setRole(user: string, role: "admin" | "member" | "viewer"): Promise<void> {
  const team = (await server.store.getEntity("vision"))!;
  await server.store.setTeamMember(team.id, (await server.store.getUserByName(user))!.id, role);
}

async function call(method: string, path: string, key: string | undefined, body?: unknown): Promise<number> {
  const abort = new AbortController();
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  if (body !== undefined) headers["content-type"] = path === "/login" || path.startsWith("/auth/") || path === "/logout" ? "application/x-www-form-urlencoded" : "application/json";
  const encoded = body === undefined ? undefined : headers["content-type"].startsWith("application/json") ? JSON.stringify(body) : new URLSearchParams(body as Record<string, string>).toString();
  const res = await fetch(`${server.url}${path}`, { method, headers, body: encoded, signal: abort.signal, redirect: "manual" });
  const status = res.status;
  abort.abort(); // a live-event stream would go on forever
  await res.body?.cancel().catch(() => {});
  return status;
}

/** Uploads a run as `user` into entity/project and gives it the privacy. */
async function makeRun(user: string, t: Target, privacy: Privacy): Promise<void> {
  const headers = { authorization: `Bearer ${keys[user]}`, "content-type": "application/json" };
  const records = [
    { k: "run", seq: 0, run: runInfo(t.id, { entity: t.entity, project: t.project }) },
    { k: "history", seq: 1, rows: [{ _step: 0, _timestamp: T0 / 1000, _runtime: 0, loss: 1 }] },
  ];
  expect((await fetch(`${server.url}${run(t)}/records`, { method: "POST", headers, body: JSON.stringify(records) })).status).toBe(200);
  const patched = await fetch(`${server.url}${run(t)}`, { method: "PATCH", headers, body: JSON.stringify({ privacy }) });
  expect(patched.status).toBe(200);
}

beforeAll(async () => {
  savedHome = process.env.HOME;
  home = mkdtempSync(join(tmpdir(), "trackside-access-"));
  process.env.HOME = home;
  server = await startServer({ port: 0, dataDir: join(home, "server") });
  const local = readCredential(server.url)!;
  keys.root = local.apiKey; // the first user: a site admin
  for (const name of ["bob", "carol", "dan", "erin", "frank"]) {
    const user = await server.store.createUser(name);
    const key = mintApiKey();
    await server.store.addApiKey(user.id, key.hash, key.prefix);
    keys[name] = key.key;
  }
  const dan = (await server.store.getUserByName("dan"))!;
  const team = await server.store.createTeam("vision", dan.id);
  await setRole("bob", "member");
  await setRole("carol", "viewer");
  await setRole("frank", "member");
  expect(team.kind).toBe("team");
  await makeRun("bob", { entity: "bob", project: "priv", id: "bobpriv1" }, "private");
  await makeRun("bob", { entity: "bob", project: "pub", id: "bobpub01" }, "public");
  await makeRun("bob", { entity: "vision", project: "priv", id: "vispriv1" }, "private");
  await makeRun("bob", { entity: "vision", project: "pub", id: "vispub01" }, "public");
});

afterAll(async () => {
  await server?.close();
  process.env.HOME = savedHome;
  rmSync(home, { recursive: true, force: true });
});

describe("the access rule", () => {
  it("has a rule for every route fastify knows, and a row of this table for each", () => {
    const rules = server.app.routeRules().filter((r) => r.method !== "HEAD"); // a HEAD route is its GET's
    expect(rules.filter((r) => r.access === undefined)).toEqual([]);
    const routes = rules.map((r) => `${r.method} ${r.url}`).sort();
    expect(routes).toEqual(CASES.map((c) => `${c.method} ${c.route}`).sort());
  });

  for (const entity of ["bob", "vision"] as const) {
    for (const privacy of ["private", "public"] as const) {
      it(`answers every role on every route as the table says, for a ${privacy} run of ${entity === "bob" ? "a user" : "a team"}`, async () => {
        const target: Target =
          entity === "bob"
            ? { entity, project: privacy === "private" ? "priv" : "pub", id: privacy === "private" ? "bobpriv1" : "bobpub01" }
            : { entity, project: privacy === "private" ? "priv" : "pub", id: privacy === "private" ? "vispriv1" : "vispub01" };
        const got: string[] = [];
        const want: string[] = [];
        for (const c of CASES) {
          for (const role of ROLES) {
            const expected = c.expect[privacy][role];
            const player = role === "anonymous" ? null : PLAYERS[entity][role];
            if (expected === undefined || player === undefined) continue;
            const status = await call(c.method, c.path(target), player === null ? undefined : keys[player], c.body?.(target));
            got.push(`${c.method} ${c.route} as ${role}: ${status}`);
            want.push(`${c.method} ${c.route} as ${role}: ${expected}`);
            if (status < 300) await c.restore?.();
          }
        }
        expect(got).toEqual(want);
      });
    }
  }
});
