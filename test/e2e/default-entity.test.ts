/**
 * The entity a run goes to when nothing names one: the API key's. ~/.trackside/credentials pairs
 * the local server's key with its user; a key from elsewhere (another machine's server, an
 * account whose name is not the login name) is looked up on the server at init().
 */
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
