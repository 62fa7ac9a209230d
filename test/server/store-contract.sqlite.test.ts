/** The store contract (store-contract.ts) on the SQLite backend: a fresh file in a temp dir per test. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteStore } from "../../src/server/index.js";
import { runStoreContract } from "./store-contract.js";

runStoreContract("SqliteStore", async () => {
  const dir = mkdtempSync(join(tmpdir(), "trackside-contract-"));
  const store = SqliteStore.open(join(dir, "trackside.db"));
  return {
    store,
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
