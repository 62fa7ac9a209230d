/**
 * The entity a run goes to when nothing names one: the API key's. ~/.trackside/credentials pairs
 * the local server's key with its user; a key from elsewhere (another machine's server, an
 * account whose name is not the login name) is looked up on the server at init().
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { mintApiKey, SqliteStore } from "../../src/server/index.js";
import { makeEnv, runFixture, serverWithEnv, type TestServer } from "../helpers/processes.js";

let server: TestServer;
let carolKey: string;

beforeAll(async () => {
  ({ server } = await serverWithEnv());
  // A second account on the running server, named unlike the login name of this process.
  const store = SqliteStore.open(join(server.dataDir, "trackside.db"));
  const carol = await store.createUser("carol");
  const key = mintApiKey();
  await store.addApiKey(carol.id, key.hash, key.prefix, Date.now());
  await store.close();
  carolKey = key.key;
});
afterAll(() => server?.stop());

it("a key with no stored user: the run goes to the key's entity and syncs there", async () => {
  // A HOME without credentials: only the key, as on a machine that trains for another's server.
  const env = makeEnv({ TRACKSIDE_BASE_URL: server.url, TRACKSIDE_API_KEY: carolKey }).env;
  const r = await runFixture("train", env, ["5", "2"]);
  expect(r.code, r.stderr).toBe(0);
  const [opened, result] = r.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(opened.path).toMatch(/^carol\/fixtures\//);
  expect(result).toMatchObject({ synced: true });
});

it("a key the server does not know: init() throws TRK_ERR_UNAUTHORIZED before it starts anything", async () => {
  const made = makeEnv({ TRACKSIDE_BASE_URL: server.url, TRACKSIDE_API_KEY: "trk_not-a-key" });
  const r = await runFixture("train", made.env, ["5", "2"]);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain("TRK_ERR_UNAUTHORIZED");
  expect(r.stderr).toContain("does not know this API key");
  expect(readdirSync(made.socketDir)).toEqual([]); // no daemon spawned
});
