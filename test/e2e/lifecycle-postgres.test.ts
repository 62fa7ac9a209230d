/**
 * The lifecycle kill matrix (test/e2e/kill-matrix.ts) against a `trackside server --database`
 * on a throwaway PostgreSQL cluster: after a SIGKILL of the client or of the daemon, the
 * PostgreSQL store holds exactly what the daemon acknowledged, none twice. A file of its own so
 * that vitest runs it beside lifecycle.test.ts (SQLite). Skipped with a warning where
 * PostgreSQL is not installed; required under CI=true (test/helpers/postgres.ts).
 */
import { afterAll, beforeAll, describe } from "vitest";
import { postgresOrSkip, startPostgres, type PostgresCluster } from "../helpers/postgres.js";
import { killMatrix } from "./kill-matrix.js";

const bin = postgresOrSkip();

describe.skipIf(bin === null)("lifecycle on PostgreSQL", () => {
  let pg: PostgresCluster;
  beforeAll(async () => {
    pg = await startPostgres(bin as string);
  });
  afterAll(() => pg?.stop());

  killMatrix({ name: "PostgreSQL", database: async () => pg.url });
});
