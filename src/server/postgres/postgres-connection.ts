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
export function connectPostgres(url: string, options: { max?: number; holdsLock?: boolean } = {}): Sql {
  return postgres(url, {
    max: options.max ?? POOL_SIZE,
    // The connection of a session lock (the sweeper's): kept for good rather than recycled every
    // 30 to 60 minutes, and, with TCP keepalives on the server's side, found dead within about
    // 25 s when its host vanishes (power, network), so that the lock moves to a live replica
    // instead of waiting out the system's default of two hours.
    ...(options.holdsLock
      ? { max_lifetime: null, idle_timeout: 0, connection: { tcp_keepalives_idle: 10, tcp_keepalives_interval: 5, tcp_keepalives_count: 3 } }
      : {}),
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
