/**
 * A throwaway PostgreSQL cluster for tests: `initdb` in a temp directory, the server on
 * 127.0.0.1 with a port and a unix socket directory of its own, stopped and removed at the end.
 *
 * Root may not run the PostgreSQL server, so as root every PostgreSQL binary runs as the
 * `postgres` OS user (`runuser -u postgres`), in a directory that user owns. Where PostgreSQL is
 * not installed, `postgresOrSkip()` says so and the tests using it are skipped with a warning;
 * under CI=true it throws instead: CI must test the PostgreSQL backend (.ci/run installs it).
 *
 * The cluster trades durability for speed (fsync off): a test database never outlives its run.
 */
import { execFile as execFileCb } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, chownSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import postgres from "postgres";

const execFile = promisify(execFileCb);

/** Where Debian's postgresql package puts its binaries (15 is bookworm's). */
const DEBIAN_BIN_DIRS = ["/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin"];

export interface PostgresCluster {
  /** A connection URL of the database created for the caller. */
  url: string;
  /** Creates one more empty database on the same cluster and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server (immediately: nothing in it is worth keeping) and removes its directory; idempotent. */
  stop(): Promise<void>;
}

/** The directory holding initdb, pg_ctl and postgres, or null when PostgreSQL is not installed. */
export function findPostgresBin(): string | null {
  for (const dir of DEBIAN_BIN_DIRS) if (existsSync(join(dir, "initdb")) && existsSync(join(dir, "pg_ctl"))) return dir;
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir && existsSync(join(dir, "initdb")) && existsSync(join(dir, "pg_ctl"))) return dir;
  }
  return null;
}

/**
 * The binaries' directory, or null after a warning that the PostgreSQL tests are skipped. Under
 * CI=true a missing PostgreSQL is an error: the backend must be tested there.
 *
 * @example
 * const bin = postgresOrSkip();
 * describe.skipIf(bin === null)("PostgresStore", () => { ... });
 */
export function postgresOrSkip(): string | null {
  const bin = findPostgresBin();
  if (bin) return bin;
  if (process.env.CI === "true") {
    throw new Error("PostgreSQL is required under CI=true but initdb was not found (apt-get install -y postgresql)");
  }
  console.warn("PostgreSQL not found (no initdb in /usr/lib/postgresql/*/bin or PATH): its tests are skipped. apt-get install postgresql to run them.");
  return null;
}

const isRoot = () => process.getuid?.() === 0;

/** Runs a PostgreSQL binary, as the postgres user when we are root. */
async function pgExec(bin: string, tool: string, args: string[]): Promise<string> {
  const file = join(bin, tool);
  const [cmd, argv] = isRoot() ? ["runuser", ["-u", "postgres", "--", file, ...args]] : [file, args];
  try {
    const { stdout } = await execFile(cmd, argv, { timeout: 60_000 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`${tool} ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}${e.stderr ?? ""}`);
  }
}

/** A port free right now on 127.0.0.1 (the OS picks it; PostgreSQL cannot listen on port 0). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A parent directory the postgres user can reach: the test run's TMPDIR is made by root with
 * mode 0700, which the postgres user cannot enter, so as root the cluster goes under /tmp.
 */
function clusterParent(): string {
  if (!isRoot()) return tmpdir();
  for (let d = tmpdir(); ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return "/tmp";
    if (d === dirname(d)) return tmpdir();
  }
}

/**
 * Starts a fresh cluster and creates database `name` in it.
 *
 * @example
 * const pg = await startPostgres(bin);
 * const store = await PostgresStore.open(pg.url);
 * ...
 * await pg.stop();
 */
export async function startPostgres(bin: string, name = "trackside"): Promise<PostgresCluster> {
  const dir = mkdtempSync(join(clusterParent(), "trk-pg-"));
  const data = join(dir, "data");
  const sockets = join(dir, "sock");
  const log = join(dir, "server.log");
  let started = false;
  try {
    if (isRoot()) chownSync(dir, pgUid(), pgGid());
    // A password for TCP, where any local user could otherwise connect as the superuser while
    // the tests run; only the 0700 socket directory, the server's own user's, is trusted.
    const password = randomBytes(24).toString("hex");
    const pwfile = join(dir, "pwfile");
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    if (isRoot()) chownSync(pwfile, pgUid(), pgGid());
    await pgExec(bin, "initdb", [
      "-D", data, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", `--pwfile=${pwfile}`,
      "-E", "UTF8", "--locale=C", "--no-sync",
    ]);
    rmSync(pwfile);
    const port = await freePort();
    await execMkdir(sockets);
    const opts = [
      `-p ${port}`,
      "-h 127.0.0.1",
      `-k ${sockets}`,
      // A throwaway cluster: nothing here must survive a crash, and fsyncs would cost seconds.
      "-c fsync=off",
      "-c synchronous_commit=off",
      "-c full_page_writes=off",
      "-c max_connections=200",
    ].join(" ");
    // -w: pg_ctl returns once the server accepts connections (or fails, with the log's reason).
    await pgExec(bin, "pg_ctl", ["-D", data, "-o", opts, "-l", log, "-w", "-t", "60", "start"]).catch((err: Error) => {
      throw new Error(`${err.message}\n--- server.log ---\n${existsSync(log) ? readFileSync(log, "utf8") : "(none)"}`);
    });
    started = true;
    const urlOf = (db: string) => `postgres://postgres:${password}@127.0.0.1:${port}/${db}`;
    const createDatabase = async (db: string) => {
      const admin = postgres(urlOf("postgres"), { max: 1, onnotice: () => undefined });
      try {
        await admin.unsafe(`CREATE DATABASE "${db.replace(/"/g, '""')}"`);
      } finally {
        await admin.end();
      }
      return urlOf(db);
    };
    const url = await createDatabase(name);
    let stopping: Promise<void> | null = null;
    return {
      url,
      createDatabase,
      stop: () =>
        (stopping ??= (async () => {
          await pgExec(bin, "pg_ctl", ["-D", data, "-m", "immediate", "-s", "-w", "stop"]).catch(() => undefined);
          rmSync(dir, { recursive: true, force: true });
        })()),
    };
  } catch (err) {
    if (started) await pgExec(bin, "pg_ctl", ["-D", data, "-m", "immediate", "-s", "-w", "stop"]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function pgUid(): number {
  return Number(readFileSync("/etc/passwd", "utf8").match(/^postgres:[^:]*:(\d+):/m)?.[1] ?? NaN);
}

function pgGid(): number {
  return Number(readFileSync("/etc/passwd", "utf8").match(/^postgres:[^:]*:\d+:(\d+):/m)?.[1] ?? NaN);
}

/** The socket directory, made by the user that runs the server (it must own it). */
async function execMkdir(path: string): Promise<void> {
  if (isRoot()) await execFile("runuser", ["-u", "postgres", "--", "mkdir", "-m", "0700", path]);
  else await execFile("mkdir", ["-m", "0700", path]);
}
