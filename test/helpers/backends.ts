/**
 * One test body, registered once per store backend: SQLite, then PostgreSQL on a throwaway
 * cluster of the file's own (test/helpers/postgres.ts: skipped with a warning where PostgreSQL
 * is not installed, required under CI=true). For tests of a whole server (the browser tests)
 * whose answers must not depend on the store.
 *
 * Both backends run in the same file, one after the other, so what the file sets up once (a
 * browser) serves both; the cluster starts only when its describe runs, and stops after it.
 */
import { afterAll, beforeAll, describe } from "vitest";
import { postgresOrSkip, startPostgres, type PostgresCluster } from "./postgres.js";

/** The store a body's server runs on. */
export interface Backend {
  name: "SQLite" | "PostgreSQL";
  /** The PostgreSQL URL of the cluster's database for this file, or undefined for SQLite (a data dir). Call it in beforeAll. */
  database(): string | undefined;
}

/**
 * Registers `${title} on SQLite` and `${title} on PostgreSQL`, each a describe running `body`.
 * With `skip`, both are registered skipped (a missing browser, say).
 *
 * @example
 * describeBackends("web app", (backend) => {
 *   beforeAll(async () => (server = await startServer({ port: 0, dataDir, database: backend.database() })));
 *   it("...", ...);
 * });
 */
export function describeBackends(title: string, body: (backend: Backend) => void, opts: { skip?: boolean } = {}): void {
  (opts.skip ? describe.skip : describe)(`${title} on SQLite`, () => body({ name: "SQLite", database: () => undefined }));
  const bin = opts.skip ? null : postgresOrSkip();
  describe.skipIf(bin === null)(`${title} on PostgreSQL`, () => {
    let pg: PostgresCluster | undefined;
    // Registered before the body's hooks: the cluster is up before its beforeAll, and (hooks
    // after a test run in reverse) stopped after its afterAll has closed the server.
    beforeAll(async () => {
      pg = await startPostgres(bin as string);
    });
    afterAll(() => pg?.stop());
    body({
      name: "PostgreSQL",
      database: () => {
        if (!pg) throw new Error("database() called before the cluster started: call it in beforeAll");
        return pg.url;
      },
    });
  });
}
