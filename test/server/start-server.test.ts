/** startServer on a real socket (port 0), with HOME in a temp dir so the credentials file lands there. */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { entityFromUserName } from "../../src/protocol/ids.js";
import { credentialsPath, readCredential } from "../../src/protocol/local-config.js";
import { hashSecret, SqliteStore, startServer, type RunningServer, type Store } from "../../src/server/index.js";
import { osUserName } from "../../src/server/bootstrap.js";

let home: string;
let savedHome: string | undefined;
const servers: RunningServer[] = [];

beforeEach(() => {
  savedHome = process.env.HOME;
  home = mkdtempSync(join(tmpdir(), "trackside-home-"));
  process.env.HOME = home;
});
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  process.env.HOME = savedHome;
  rmSync(home, { recursive: true, force: true });
});

async function start(port = 0): Promise<RunningServer> {
  const server = await startServer({ port, dataDir: join(home, ".trackside", "server") });
  servers.push(server);
  return server;
}

const viewer = (url: string, key: string) => fetch(`${url}/api/v1/viewer`, { headers: { authorization: `Bearer ${key}` } });

describe("startServer", () => {
  it("creates the local user and writes a 0600 credentials file whose key works; the DB holds only its hash", async () => {
    const server = await start();
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(statSync(server.dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(credentialsPath()).mode & 0o777).toBe(0o600);

    const cred = readCredential(server.url);
    const user = entityFromUserName(osUserName());
    expect(cred).toMatchObject({ user });
    expect(cred!.apiKey).toMatch(/^trk_[A-Za-z0-9_-]{43}$/);

    const res = await viewer(server.url, cred!.apiKey);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ user, entity: user, email: null, admin: true, teams: [] }); // the first user is a site admin

    // The store finds the user by the key's hash, and keeps only its prefix to show.
    const stored = (await server.store.userByApiKeyHash(hashSecret(cred!.apiKey)))!;
    expect(stored.name).toBe(user);
    expect((await server.store.listApiKeys(stored.id)).map((k) => k.prefix)).toEqual([cred!.apiKey.slice(0, 8)]);
    await server.close();
    // Not in any table, nor anywhere in the files on disk.
    for (const f of ["trackside.db", "trackside.db-wal"].map((n) => join(server.dataDir, n)).filter(existsSync)) {
      expect(readFileSync(f).includes(cred!.apiKey)).toBe(false);
    }
    expect(readFileSync(server.logFile, "utf8")).toContain("trackside server listening");
  });

  it("keeps a working key on restart and replaces one that does not work here", async () => {
    const first = await start();
    const port = Number(new URL(first.url).port);
    const key = readCredential(first.url)!.apiKey;
    await first.close();

    const second = await start(port);
    expect(readCredential(second.url)!.apiKey).toBe(key);
    await second.close();

    // A credentials file from elsewhere (or a wiped database) holds a key this server never issued.
    const file = credentialsPath();
    const all = JSON.parse(readFileSync(file, "utf8"));
    all[first.url].apiKey = "trk_from-another-server";
    writeFileSync(file, JSON.stringify(all));
    const third = await start(port);
    const healed = readCredential(third.url)!.apiKey;
    expect(healed).not.toBe("trk_from-another-server");
    expect((await viewer(third.url, healed)).status).toBe(200);
    expect((await viewer(third.url, "trk_from-another-server")).status).toBe(401);
  });

  it("writes a working key again when the credentials file is gone, on a data dir that has its user", async () => {
    const first = await start();
    const port = Number(new URL(first.url).port);
    const user = first.bootstrap.user;
    await first.close();
    rmSync(credentialsPath()); // a HOME without the file: deleted, or a fresh one

    const second = await start(port);
    expect(second.bootstrap).toMatchObject({ createdUser: false, wroteCredentials: [second.url], withoutCredentials: [] });
    const cred = readCredential(second.url)!;
    expect(cred.user).toBe(user.name);
    expect((await viewer(second.url, cred.apiKey)).status).toBe(200);
    expect(await second.store.listApiKeys(user.id)).toHaveLength(2); // the first start's, and this one
  });

  it("serves an upload and the run over HTTP, and close() is idempotent", async () => {
    const server = await start();
    const { apiKey, user } = readCredential(server.url)!;
    const upload = await fetch(`${server.url}/api/v1/runs/${user}/demo/sock0001/records`, {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body: JSON.stringify([
        {
          k: "run",
          seq: 0,
          run: {
            id: "sock0001", entity: user, project: "demo", name: "swift-fox-1", notes: null, tags: [], group: null, jobType: null,
            config: {}, createdAt: Date.now(),
            program: { executable: "node", args: [], cwd: "/", pid: 1, host: "h", nodeVersion: "v20", os: "linux", tracksideVersion: "0.1.0" },
          },
        },
      ]),
    });
    expect(upload.status).toBe(200);
    const run = await (await fetch(`${server.url}/api/v1/runs/${user}/demo/sock0001`, { headers: { authorization: `Bearer ${apiKey}` } })).json();
    expect(run).toMatchObject({ name: "swift-fox-1", url: `${server.url}/${user}/demo/runs/sock0001` });
    await server.close();
    await server.close();
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });

  it("serves from any Store it is given (here one seen only through the interface), and closes it", async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), "trackside-given-store-"));
    const inner = SqliteStore.open(join(elsewhere, "given.db"));
    // Only the Store interface reaches the server: every call goes through this wrapper.
    const calls: string[] = [];
    const given = new Proxy(inner as Store, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          calls.push(String(prop));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    try {
      const dataDir = join(home, ".trackside", "server");
      const server = await startServer({ port: 0, dataDir, store: given, });
      expect(server.store).toBe(given);
      const { apiKey, user } = readCredential(server.url)!;
      expect((await viewer(server.url, apiKey)).status).toBe(200);
      expect(calls).toEqual(expect.arrayContaining(["countUsers", "createUser", "addApiKey", "userByApiKeyHash"]));
      // The local user and its key live in the given store; no SQLite file in the data dir.
      expect((await inner.getUserByName(user))!.admin).toBe(true);
      expect(existsSync(join(dataDir, "trackside.db"))).toBe(false);
      await server.close();
      expect(calls).toContain("close");
      await expect(inner.countUsers()).rejects.toThrow(); // closed
    } finally {
      await inner.close();
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it("closes a given store when the start fails", async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), "trackside-given-store-"));
    const inner = SqliteStore.open(join(elsewhere, "given.db"));
    try {
      await expect(startServer({ port: 0, dataDir: join(home, "server"), store: inner, publicBaseUrl: "ftp://x" })).rejects.toMatchObject({ code: "TRK_ERR_INVALID_OPTION" });
      await expect(inner.countUsers()).rejects.toThrow();
      const again = SqliteStore.open(join(elsewhere, "given.db"));
      await expect(startServer({ port: 0, dataDir: join(home, "server"), store: again, heartbeatTimeoutS: 0 })).rejects.toMatchObject({ code: "TRK_ERR_INVALID_OPTION" });
      await expect(again.countUsers()).rejects.toThrow();
    } finally {
      await inner.close();
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});
