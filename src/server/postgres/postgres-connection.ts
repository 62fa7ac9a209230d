/**
 * The connection pool of the PostgreSQL store, through the `postgres` driver (porsager; why this
 * driver: docs/dependencies.md). Configured once here so that every query file sees the same
 * types: int8 (ids, ms times, counts) comes back as a JS number, as the Store contract speaks,
 * rather than the driver's default string; a number above 2^53 would lose precision, which no
 * id, time or count of trackside reaches.
 */
import postgres, { type Sql } from "postgres";

/** Connections per store (per server replica): ingest holds one per upload for its transaction. */
const POOL_SIZE = 10;

/**
 * A pool on `url` (postgres:// or postgresql://).
 *
 * @example
 * const sql = connectPostgres("postgresql://trackside@db.example.com/trackside");
 * await sql`SELECT 1`;
 * await sql.end();
 */
export function connectPostgres(url: string, options: { max?: number } = {}): Sql {
  return postgres(url, {
    max: options.max ?? POOL_SIZE,
    // NOTICEs (e.g. "relation already exists, skipping") are not errors; the driver would print them.
    onnotice: () => undefined,
    types: {
      bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
    },
    // An absent optional field is SQL NULL (the driver refuses undefined otherwise).
    transform: { undefined: null },
  }) as unknown as Sql;
}

/** Whether an error is PostgreSQL's unique_violation (23505): a name or key already taken. */
export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === "23505";
}
