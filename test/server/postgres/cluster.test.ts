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

  it("refuses a connection over TCP without its password: no other local user gets in as the superuser", async () => {
    const url = new URL(pg.url);
    url.password = "";
    const sql = postgres(url.toString(), { max: 1, connect_timeout: 5 });
    try {
      await expect(sql`SELECT 1`).rejects.toMatchObject({ code: expect.stringMatching(/^28/) }); // invalid_authorization
    } finally {
      await sql.end({ timeout: 1 });
    }
  });
});
