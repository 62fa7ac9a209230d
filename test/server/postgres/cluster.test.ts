import { afterAll, beforeAll, describe, expect, it } from "vitest";
import postgres from "postgres";
import { postgresOrSkip, startPostgres, type PostgresCluster } from "../../helpers/postgres.js";

const bin = postgresOrSkip();

describe.skipIf(bin === null)("test PostgreSQL cluster", () => {
  let pg: PostgresCluster;
  beforeAll(async () => {
    pg = await startPostgres(bin as string);
  });
  afterAll(() => pg?.stop());

  it("accepts connections on its URL", async () => {
    const sql = postgres(pg.url, { max: 1 });
    const [row] = await sql`SELECT current_database() AS db, 1 + 1 AS two`;
    await sql.end();
    expect(row).toEqual({ db: "trackside", two: 2 });
  });
});
