/**
 * The store contract (store-contract.ts) on the SQLite backend: a fresh file in a temp dir per
 * test. Twice: uploads stored on the main thread (the default until a server has taken 16,384
 * rows), and on the writer thread (sqlite/ingest-writer.ts) from the first upload.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteStore, type IngestThreadMode } from "../../src/server/index.js";
import { runStoreContract } from "./store-contract.js";

for (const [name, ingestThread] of [
  ["SqliteStore", "never"],
  ["SqliteStore, uploads on its writer thread", "always"],
] as [string, IngestThreadMode][]) {
  runStoreContract(name, async () => {
    const dir = mkdtempSync(join(tmpdir(), "trackside-contract-"));
    const store = SqliteStore.open(join(dir, "trackside.db"), { ingestThread });
    return {
      store,
      async close() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
}
