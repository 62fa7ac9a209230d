/**
 * The local user's key on a shared PostgreSQL database (issue 15). The first start on an empty
 * database writes a working key, as the SQLite server does; a later start from a HOME without
 * a key (a container's, empty at every start) mints none and says how to get one, so that
 * replicas restarted often do not pile up admin keys in the database. A local user left with no
 * key at all gets one from the next start.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { credentialsPath, readCredential } from "../../../src/protocol/local-config.js";
import { startServer, type RunningServer } from "../../../src/server/start-server.js";
import type { PostgresStore } from "../../../src/server/index.js";
import { postgresOrSkip, startPostgres, type PostgresCluster } from "../../helpers/postgres.js";

const bin = postgresOrSkip();
let pg: PostgresCluster | undefined;
beforeAll(async () => {
  if (bin) pg = await startPostgres(bin);
});
afterAll(() => pg?.stop());

const savedHome = process.env.HOME;
const dirs: string[] = [];
const servers: RunningServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  process.env.HOME = savedHome;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fresh, empty HOME for the next start (the credentials file goes under it). */
function emptyHome(): string {
  const home = mkdtempSync(join(tmpdir(), "trackside-home-"));
  dirs.push(home);
  process.env.HOME = home;
  return home;
}

async function start(database: string, port = 0): Promise<RunningServer> {
  const server = await startServer({ port, dataDir: join(process.env.HOME!, "server"), database });
  servers.push(server);
  return server;
}

const viewer = (url: string, key: string) => fetch(`${url}/api/v1/viewer`, { headers: { authorization: `Bearer ${key}` } });

/** Every API key of every user, through the store. */
async function keyCount(server: RunningServer): Promise<number> {
  let n = 0;
  for (const u of await server.store.listUsers()) n += (await server.store.listApiKeys(u.id)).length;
  return n;
}

describe.skipIf(bin === null)("the local key on a shared PostgreSQL database", () => {
  it("the first start writes a working key; a start from an empty HOME adds no key, writes no file, and says how to get one", async () => {
    const database = await pg!.createDatabase("boot_empty_home");
    emptyHome();
    const first = await start(database);
    expect(first.bootstrap).toMatchObject({ createdUser: true, withoutCredentials: [] });
    const cred = readCredential(first.url)!;
    expect((await viewer(first.url, cred.apiKey)).status).toBe(200);
    expect(await keyCount(first)).toBe(1);
    await first.close();

    // A replica restarted in a fresh container: its HOME is empty.
    emptyHome();
    const second = await start(database);
    expect(second.bootstrap).toMatchObject({ createdUser: false, wroteCredentials: [] });
    expect(existsSync(credentialsPath())).toBe(false);
    expect(await keyCount(second)).toBe(1);
    // The first start's key is the way in, through any replica.
    expect((await viewer(second.url, cred.apiKey)).status).toBe(200);
    await second.close();
    const notice = readFileSync(second.logFile, "utf8")
      .split("\n")
      .filter((l) => l.includes("no key written"));
    expect(notice).toHaveLength(1);
    expect(notice[0]).toContain(`for ${second.url}:`);
    expect(notice[0]).toContain(`trackside login --base-url ${second.url}`);

    // A file holding a key this database does not know (another server's) is left as it was.
    const port = Number(new URL(second.url).port);
    mkdirSync(dirname(credentialsPath()), { recursive: true, mode: 0o700 });
    writeFileSync(credentialsPath(), JSON.stringify({ [second.url]: { apiKey: "trk_from-another-server", user: cred.user } }), { mode: 0o600 });
    const before = readFileSync(credentialsPath(), "utf8");
    const third = await start(database, port);
    expect(third.bootstrap.withoutCredentials).toContain(third.url);
    expect(readFileSync(credentialsPath(), "utf8")).toBe(before);
    expect(await keyCount(third)).toBe(1);
  });

  it("a start writes a working key again when the local user has no key left in the database", async () => {
    const database = await pg!.createDatabase("boot_no_key_left");
    emptyHome();
    const first = await start(database);
    const user = first.bootstrap.user;
    // The way back in for an admin whose key was lost (docs/deploy.md): delete their keys in the database.
    await (first.store as PostgresStore).sql`DELETE FROM api_keys WHERE user_id = (SELECT id FROM users WHERE name = ${user.name})`;
    expect(await keyCount(first)).toBe(0);
    await first.close();

    emptyHome();
    const second = await start(database);
    expect(second.bootstrap).toMatchObject({ createdUser: false, withoutCredentials: [] });
    const cred = readCredential(second.url)!;
    expect(cred.user).toBe(user.name);
    expect((await viewer(second.url, cred.apiKey)).status).toBe(200);
    expect(await keyCount(second)).toBe(1);
  });
});
