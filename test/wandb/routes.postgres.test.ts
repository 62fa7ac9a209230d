/**
 * W&B's routes (routes-suite.ts) on the PostgreSQL backend: one throwaway cluster for the file, a
 * fresh database per test. Skipped with a warning where PostgreSQL is not installed.
 */
import { afterAll, beforeAll, describe } from "vitest";
import { PostgresStore } from "../../src/server/index.js";
import { postgresOrSkip, startPostgres, type PostgresCluster } from "../helpers/postgres.js";
import { runWandbRoutesSuite } from "./routes-suite.js";

const bin = postgresOrSkip();

describe.skipIf(bin === null)("W&B's routes on PostgreSQL", () => {
  let pg: PostgresCluster;
  let databases = 0;
  beforeAll(async () => {
    pg = await startPostgres(bin as string);
  });
  afterAll(async () => {
    await pg?.stop();
  });

  runWandbRoutesSuite(async () => {
    const store = await PostgresStore.open(await pg.createDatabase(`wandb${++databases}`), { max: 4 });
    return { store, close: () => store.close() };
  });
});
