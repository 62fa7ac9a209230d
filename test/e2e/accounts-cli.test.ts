/**
 * A team sharing one server, through the CLI, as the "done when" tries it: the server's
 * first user (a site admin, whose key `trackside server` wrote to its HOME) creates accounts;
 * each person logs in on their own machine (their own HOME, so their own credentials file);
 * a team's members log runs into its projects and everyone else is refused at init(), before
 * anything is spawned; revoking a key or disabling a user ends their keys at once.
 *
 * The steps that a person types are run as the real `trackside` process (login, whoami, users
 * create); the rest drive the same commands in process through commander, which is faster and
 * gives the TracksideError itself.
 */
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { PassThrough } from "node:stream";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerKeysCommands } from "../../src/cli/keys-command.js";
import { registerLoginCommands } from "../../src/cli/login-command.js";
import { registerTeamsCommands } from "../../src/cli/teams-command.js";
import { registerUsersCommands } from "../../src/cli/users-command.js";
import type { ApiKeyView, TeamView, UserView, ViewerView } from "../../src/protocol/api.js";
import { credentialsPath, readCredential } from "../../src/protocol/local-config.js";
import { join } from "node:path";
import { CLI, ROOT, cli, makeEnv, runFixture, serverWithEnv, showRun, start, type Finished, type TestEnv, type TestServer } from "../helpers/processes.js";

let server: TestServer;
/** The server's first user: a site admin, whose key the server wrote to this HOME. */
let admin: TestEnv;
let adminName: string;
const people: Record<"bob" | "carol" | "dave", TestEnv> = {} as never;
const keys: Record<string, string> = {};
/** The run bob logs into vision/p. */
let visionRun: string;

/** trackside's keys: `trk_` and 43 letters and digits. */
const KEY = /trk_[A-Za-z0-9]{43}(?![A-Za-z0-9_-])/;

/** W&B's check of a key: the part after the first `-`, if any, is at least 40 characters of [A-Za-z0-9_-]. */
function wandbAccepts(key: string): boolean {
  const dash = key.indexOf("-");
  return /^[A-Za-z0-9_-]{40,}$/.test(dash < 0 ? key : key.slice(dash + 1));
}

/** Runs `trackside ARGS` in process as the person of `who` (their HOME and environment); what it printed. */
async function trackside(who: TestEnv, ...args: string[]): Promise<string> {
  let out = "";
  const io = { out: (text: string) => void (out += text) };
  const program = new Command().exitOverride().configureOutput({ writeErr: () => {} });
  registerLoginCommands(program, io, { input: Object.assign(new PassThrough().end(), { isTTY: false }), prompt: new PassThrough() }, who.env);
  registerUsersCommands(program, io, who.env);
  registerKeysCommands(program, io, who.env);
  registerTeamsCommands(program, io, who.env);
  await program.parseAsync(["node", "trackside", ...args]);
  return out;
}

/** The error code of a command that must fail. */
async function refused(who: TestEnv, ...args: string[]): Promise<string> {
  try {
    await trackside(who, ...args);
  } catch (err) {
    return String((err as { code?: unknown }).code);
  }
  throw new Error(`trackside ${args.join(" ")} succeeded`);
}

/** The real `trackside` process with `input` on its stdin (a pipe, not a terminal). */
function cliWithStdin(args: string[], env: NodeJS.ProcessEnv, input: string): Promise<Finished> {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d));
  child.stderr.on("data", (d: Buffer) => (stderr += d));
  child.stdin.end(input);
  return new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
}

const json = <T>(text: string) => JSON.parse(text) as T;

beforeAll(async () => {
  ({ t: admin, server } = await serverWithEnv());
  adminName = readCredential(server.url, admin.env)!.user;
  for (const name of ["bob", "carol", "dave"] as const) people[name] = makeEnv();
});
afterAll(() => server?.stop());

describe("accounts, logins and teams through the CLI", () => {
  it("users create prints the new user's key once; it is trackside's format and passes W&B's check", async () => {
    const r = await cli(["users", "create", "bob", "--email", "bob@example.com"], admin.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/shown this once/);
    keys.bob = r.stdout.match(KEY)![0];
    expect(wandbAccepts(keys.bob)).toBe(true);
    for (const name of ["carol", "dave"]) {
      keys[name] = json<{ apiKey: string }>(await trackside(admin, "users", "create", name, "--json")).apiKey;
      expect(keys[name]).toMatch(new RegExp(`^${KEY.source}$`));
      expect(wandbAccepts(keys[name])).toBe(true);
    }
    const { users } = json<{ users: UserView[] }>(await trackside(admin, "users", "list", "--json"));
    expect(users.find((u) => u.name === adminName)).toMatchObject({ admin: true, disabled: false });
    expect(users.find((u) => u.name === "bob")).toMatchObject({ email: "bob@example.com", admin: false, disabled: false });
    const table = await trackside(admin, "users", "list");
    expect(table).toMatch(/^NAME\s+EMAIL\s+ADMIN\s+DISABLED\s+CREATED/);
    expect(table).toMatch(/\nbob\s+bob@example\.com\s+no\s+no\s+\d{4}-/);
    expect(table).not.toContain(keys.bob);
    expect(await refused(admin, "users", "create", "bob")).toBe("TRK_ERR_CONFLICT");
  });

  it("login --key checks the key and stores it 0600 for that URL; whoami then names bob", async () => {
    const bob = people.bob;
    const r = await cli(["login", "--base-url", server.url, "--key", keys.bob], bob.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`as bob`);
    expect(readCredential(server.url, bob.env)).toEqual({ apiKey: keys.bob, user: "bob" });
    expect(statSync(credentialsPath(bob.env)).mode & 0o777).toBe(0o600);
    const who = await cli(["whoami", "--base-url", server.url], bob.env);
    expect(who.code, who.stderr).toBe(0);
    expect(who.stdout).toMatch(/^User:\s+bob$/m);
    expect(who.stdout).toMatch(/^Email:\s+bob@example\.com$/m);
    expect(who.stdout).toMatch(new RegExp(`^Server:\\s+${server.url}$`, "m"));
    bob.env.TRACKSIDE_BASE_URL = server.url; // from now on, as if set in bob's shell
  });

  it("login reads the key from stdin; a key the server refuses is TRK_ERR_UNAUTHORIZED, exit 1, nothing stored", async () => {
    const carol = people.carol;
    carol.env.TRACKSIDE_BASE_URL = server.url;
    const bad = await cliWithStdin(["login"], carol.env, `trk_${"x".repeat(43)}\n`);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("TRK_ERR_UNAUTHORIZED");
    expect(readdirSync(carol.home)).toEqual([]); // no credentials file, not even ~/.trackside
    const good = await cliWithStdin(["login"], carol.env, `${keys.carol}\n`);
    expect(good.code, good.stderr).toBe(0);
    expect(readCredential(server.url, carol.env)).toEqual({ apiKey: keys.carol, user: "carol" });
    expect(json<ViewerView>(await trackside(carol, "whoami", "--json"))).toMatchObject({ user: "carol", admin: false, teams: [], server: server.url });
    people.dave.env.TRACKSIDE_BASE_URL = server.url;
    await trackside(people.dave, "login", "--key", keys.dave);
  });

  it("only site admins manage accounts", async () => {
    expect(await refused(people.bob, "users", "list")).toBe("TRK_ERR_FORBIDDEN");
    expect(await refused(people.bob, "users", "create", "eve")).toBe("TRK_ERR_FORBIDDEN");
  });

  it("teams create/add/remove/list/show: bob a member and carol a viewer of vision", async () => {
    expect(await trackside(admin, "teams", "create", "vision")).toContain("you are its admin");
    expect(await trackside(admin, "teams", "add", "vision", "bob")).toBe("bob is now a member of vision.\n");
    await trackside(admin, "teams", "add", "vision", "carol", "--role", "viewer");
    await trackside(admin, "teams", "add", "vision", "dave", "--role", "member");
    const shown = json<TeamView>(await trackside(admin, "teams", "remove", "vision", "dave", "--json"));
    expect(shown.members.map((m) => [m.user, m.role]).sort()).toEqual([[adminName, "admin"], ["bob", "member"], ["carol", "viewer"]].sort());
    expect(await trackside(people.bob, "teams", "list")).toMatch(/^TEAM\s+ROLE\s+MEMBERS\nvision\s+member\s+3\n$/);
    expect(await trackside(people.carol, "teams", "show", "vision")).toMatch(/\ncarol\s+viewer\s+\d{4}-/);
    expect(json<ViewerView>(await trackside(people.bob, "whoami", "--json")).teams).toEqual([{ name: "vision", role: "member" }]);
    expect(await refused(people.carol, "teams", "add", "vision", "dave")).toBe("TRK_ERR_FORBIDDEN");
    expect(await refused(people.dave, "teams", "show", "vision")).toBe("TRK_ERR_NOT_FOUND");
    expect(await refused(admin, "teams", "remove", "vision", adminName)).toBe("TRK_ERR_CONFLICT"); // its last admin
    expect(await refused(admin, "teams", "create", "bob")).toBe("TRK_ERR_CONFLICT"); // one namespace with users
    expect(await refused(admin, "teams", "add", "vision", "bob", "--role", "owner")).toBe("TRK_ERR_INVALID_OPTION");
  });

  it("bob logs a run into vision/p: it lands there with author bob, and carol reads it", async () => {
    const r = await runFixture("entity-run", people.bob.env, ["vision", "p", "3"]);
    expect(r.code, r.stderr).toBe(0);
    const [opened, result] = r.stdout.trim().split("\n").map((line) => json<Record<string, unknown>>(line));
    expect(opened.path).toMatch(/^vision\/p\//);
    expect(result).toMatchObject({ state: "finished", synced: true });
    expect(await showRun(String(opened.path), people.bob.env)).toMatchObject({ entity: "vision", project: "p", author: "bob", historySteps: 3 });
    expect(await showRun(String(opened.path), people.carol.env)).toMatchObject({ author: "bob", canEdit: false });
    visionRun = String(opened.path);
  });

  it("a non-member's or a viewer's init({ entity: 'vision' }) is TRK_ERR_FORBIDDEN before any daemon or run directory", async () => {
    for (const [name, why] of [["dave", /not a member/], ["carol", /role there is viewer/]] as const) {
      const who = people[name];
      const r = await runFixture("entity-run", who.env, ["vision", "p"]);
      expect(r.code, r.stderr).toBe(2);
      const out = json<{ error: string; message: string }>(r.stdout.trim());
      expect(out.error).toBe("TRK_ERR_FORBIDDEN");
      expect(out.message).toContain(`"${name}"`);
      expect(out.message).toContain(`"vision"`);
      expect(out.message).toMatch(why);
      expect(readdirSync(who.socketDir), "no daemon was spawned").toEqual([]);
      expect(readdirSync(who.runDir), "no run directory was made").toEqual([]);
    }
  });

  it("a server that does not answer the entity check: init() warns and the run goes on", async () => {
    // Port 1 on loopback refuses at once; the key is one this server has never seen.
    const offline = makeEnv({ TRACKSIDE_BASE_URL: "http://127.0.0.1:1", TRACKSIDE_API_KEY: keys.dave });
    const p = start([join(ROOT, "test/fixtures/entity-run.mjs"), "vision", "p"], offline.env);
    await p.waitFor(/\{"id":"\w+","path":"vision\/p\/\w+"\}/);
    p.child.kill("SIGKILL"); // its records stay with the daemon, which the file's cleanup stops
    expect(p.stderr()).toMatch(/TRK_ERR_SERVER_UNREACHABLE.*Could not check that this key may log runs to entity "vision"; the run goes on/);
  });

  it("keys create prints a key once, keys list never shows one, and a revoked key answers 401 from the next request", async () => {
    const created = await trackside(people.bob, "keys", "create", "--label", "laptop");
    expect(created).toMatch(/shown this once/);
    const laptop = created.match(KEY)![0];
    expect(wandbAccepts(laptop)).toBe(true);
    const listed = json<{ keys: ApiKeyView[] }>(await trackside(people.bob, "keys", "list", "--json")).keys;
    expect(listed).toHaveLength(2); // the first key, made with the user, and this one
    expect(listed[1].label).toBe("laptop");
    const table = await trackside(people.bob, "keys", "list");
    expect(table).toMatch(/^ID\s+LABEL\s+PREFIX\s+CREATED\s+LAST USED\n/);
    expect(table).toMatch(/\n\d+\s+laptop\s+trk_\w*\.\.\.\s+\d{4}-/);
    for (const key of [laptop, keys.bob]) expect(table).not.toContain(key);

    // TRACKSIDE_API_KEY wins over the credentials file.
    const onLaptop = { ...people.bob, env: { ...people.bob.env, TRACKSIDE_API_KEY: laptop } };
    expect(json<ViewerView>(await trackside(onLaptop, "whoami", "--json")).user).toBe("bob");
    const id = String(listed.find((k) => k.label === "laptop")!.id);
    expect(await trackside(people.bob, "keys", "revoke", id)).toBe(`Revoked API key ${id}.\n`);
    expect(await refused(onLaptop, "whoami")).toBe("TRK_ERR_UNAUTHORIZED");
    expect(json<ViewerView>(await trackside(people.bob, "whoami", "--json")).user).toBe("bob"); // the other key still works
    expect(await refused(people.bob, "keys", "revoke", id)).toBe("TRK_ERR_NOT_FOUND");
    expect(await refused(people.carol, "keys", "revoke", String(listed[0].id))).toBe("TRK_ERR_NOT_FOUND"); // not carol's
  });

  it("users disable ends every key of the user at once; their runs stay", async () => {
    const second = json<{ key: string }>(await trackside(people.bob, "keys", "create", "--json")).key;
    expect(await trackside(admin, "users", "disable", "bob")).toContain("Disabled bob");
    expect(await refused(people.bob, "whoami")).toBe("TRK_ERR_UNAUTHORIZED");
    expect(await refused({ ...people.bob, env: { ...people.bob.env, TRACKSIDE_API_KEY: second } }, "whoami")).toBe("TRK_ERR_UNAUTHORIZED");
    expect(json<{ users: UserView[] }>(await trackside(admin, "users", "list", "--json")).users.find((u) => u.name === "bob")).toMatchObject({ disabled: true });
    expect(await showRun(visionRun, people.carol.env)).toMatchObject({ author: "bob" });
  });

  it("logout removes this server's key, and says so when there was none; commands then ask for a login", async () => {
    const dave = people.dave;
    expect(await trackside(dave, "logout")).toContain(`Logged out of ${server.url}`);
    expect(readCredential(server.url, dave.env)).toBeNull();
    expect(await trackside(dave, "logout")).toContain(`Not logged in to ${server.url}`);
    const r = await cli(["whoami"], dave.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("TRK_ERR_NO_CREDENTIALS");
    expect(r.stderr).toContain(`trackside login --base-url ${server.url}`);
  });
});
