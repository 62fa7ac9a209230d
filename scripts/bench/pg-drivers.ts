/**
 * Which PostgreSQL driver reads `bytea` history chunks faster: `postgres` (porsager, the one
 * trackside uses) or `pg` (node-postgres, text and binary results). Reads 1,000 rows of 16 KiB
 * (16 MiB: one metric of a 2,000,000-step run) 25 times per driver, interleaved, after 3 warm-ups.
 *
 * `pg` is not a dependency: install it beside the build first, without saving it.
 * Run: `npm i --no-save pg && npm run build && node dist/scripts/bench/pg-drivers.js postgres://user@host:port/db`
 */
import postgres from "postgres";

interface PgClient {
  connect(): Promise<void>;
  query(q: string | { text: string; binary: boolean }): Promise<{ rows: { data: Buffer }[] }>;
  end(): Promise<void>;
}

const ROWS = 1000;
const BYTES = 16384;
const RUNS = 25;

async function main(): Promise<void> {
  const url = process.argv[2];
  if (!url) throw new Error("usage: node dist/scripts/bench/pg-drivers.js <postgres-url>");
  const pgModule = "pg"; // a variable: not a dependency, so not resolved at build time
  const pg = ((await import(pgModule)) as { default: { Client: new (url: string) => PgClient } }).default;
  const sql = postgres(url, { max: 1, onnotice: () => undefined });
  await sql`CREATE TEMP TABLE bench_chunks (id int PRIMARY KEY, data bytea NOT NULL)`;
  const chunk = Buffer.alloc(BYTES);
  for (let i = 0; i < BYTES; i++) chunk[i] = (i * 7) & 255;
  // A temp table is per connection: the pg client reads a real one.
  await sql`DROP TABLE IF EXISTS bench_chunks_shared`;
  await sql`CREATE TABLE bench_chunks_shared (id int PRIMARY KEY, data bytea NOT NULL)`;
  await sql`INSERT INTO bench_chunks_shared SELECT g, ${chunk} FROM generate_series(1, ${ROWS}) g`;
  const client = new pg.Client(url);
  await client.connect();
  const total = (rows: readonly { data: Buffer }[]) => rows.reduce((s, r) => s + r.data.length, 0);
  const q = "SELECT id, data FROM bench_chunks_shared ORDER BY id";
  const readers: Record<string, () => Promise<number>> = {
    postgres: async () => total((await sql.unsafe(q)) as unknown as { data: Buffer }[]),
    "pg (text)": async () => total((await client.query(q)).rows),
    "pg (binary)": async () => total((await client.query({ text: q, binary: true })).rows),
  };
  const times: Record<string, number[]> = {};
  for (const name in readers) times[name] = [];
  for (let i = 0; i < 3 + RUNS; i++) {
    for (const [name, read] of Object.entries(readers)) {
      const t = performance.now();
      const bytes = await read();
      if (bytes !== ROWS * BYTES) throw new Error(`${name} read ${bytes} bytes`);
      if (i >= 3) times[name].push(performance.now() - t);
    }
  }
  for (const [name, ts] of Object.entries(times)) {
    ts.sort((a, b) => a - b);
    const median = ts[Math.floor(ts.length / 2)];
    console.log(`${name.padEnd(12)} median ${median.toFixed(1)} ms  (${((ROWS * BYTES) / 1e6 / (median / 1000)).toFixed(0)} MB/s)`);
  }
  await sql`DROP TABLE bench_chunks_shared`;
  await client.end();
  await sql.end();
}

await main();
