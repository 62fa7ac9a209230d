/**
 * The store contract (store-contract.ts) on the PostgreSQL backend: one throwaway cluster for
 * the file (test/helpers/postgres.ts), a fresh database per test. Skipped with a warning where
 * PostgreSQL is not installed; required under CI=true.
 */
import { afterAll, beforeAll, describe } from "vitest";
import { PostgresStore } from "../../src/server/index.js";
import { postgresOrSkip, startPostgres, type PostgresCluster } from "../helpers/postgres.js";
import { runStoreContract } from "./store-contract.js";

const bin = postgresOrSkip();

describe.skipIf(bin === null)("PostgreSQL", () => {
  let pg: PostgresCluster;
  let databases = 0;
  beforeAll(async () => {
    pg = await startPostgres(bin as string);
  });
  afterAll(async () => {
    await pg?.stop();
  });

  runStoreContract("PostgresStore", async () => {
    const store = await PostgresStore.open(await pg.createDatabase(`contract${++databases}`), { max: 4 });
    return { store, close: () => store.close() };
  });
});
