/**
 * The two stores, side by side, for the benchmarks that compare them in one run: SQLite always,
 * PostgreSQL where it is installed (a throwaway cluster from test/helpers/postgres.ts: `initdb`
 * in a temp directory, run as the postgres user when we are root, fsync and synchronous_commit
 * off). Where PostgreSQL is missing its figures are left out with a warning on stderr.
 */
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { findPostgresBin, startPostgres, type PostgresCluster } from "../../test/helpers/postgres.js";

export type BackendName = "SQLite" | "PostgreSQL";

export interface BenchBackend {
  name: BackendName;
  /** A fresh, empty database for one measurement: options for startServer / `trackside server`. */
  fresh(label: string): Promise<{ dataDir: string; database?: string }>;
  close(): Promise<void>;
}

/** SQLite, then PostgreSQL when `initdb` is found (BENCH_NO_POSTGRES=1 leaves it out). */
export async function benchBackends(root: string): Promise<BenchBackend[]> {
  const out: BenchBackend[] = [
    {
      name: "SQLite",
      fresh: async (label) => ({ dataDir: mkdtempSync(join(root, `sqlite-${label}-`)) }),
      close: async () => undefined,
    },
  ];
  const pg = await postgresCluster();
  if (pg) {
    let n = 0;
    out.push({
      name: "PostgreSQL",
      fresh: async (label) => ({ dataDir: mkdtempSync(join(root, `pg-${label}-`)), database: await pg.createDatabase(`bench_${label.replace(/\W/g, "_")}_${n++}`) }),
      close: () => pg.stop(),
    });
  }
  return out;
}

/** A throwaway cluster, or null (with a warning) where PostgreSQL is not installed. */
export async function postgresCluster(): Promise<PostgresCluster | null> {
  const bin = process.env.BENCH_NO_POSTGRES === "1" ? null : findPostgresBin();
  if (!bin) {
    process.stderr.write("PostgreSQL not found (no initdb): its benchmark figures are left out\n");
    return null;
  }
  return startPostgres(bin, "bench");
}
