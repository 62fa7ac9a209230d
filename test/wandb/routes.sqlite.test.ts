/** W&B's routes (routes-suite.ts) on the SQLite backend: a fresh database file per test. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe } from "vitest";
import { SqliteStore } from "../../src/server/index.js";
import { runWandbRoutesSuite } from "./routes-suite.js";

describe("W&B's routes on SQLite", () => {
  runWandbRoutesSuite(async () => {
    const dir = mkdtempSync(join(tmpdir(), "trk-wandb-routes-"));
    const store = SqliteStore.open(join(dir, "trackside.db"));
    return {
      store,
      close: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
});
