/**
 * Two `trackside server` processes on one PostgreSQL database (issue 15): a run logged through
 * the first is read, finished with every step and charted, through the second after the first
 * has been killed. The first start on the empty database creates the local admin user and
 * writes its key, as the SQLite server does; the second finds that user, and (its HOME holding
 * no key) says how to get one rather than mint another (bootstrap.ts).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readCredential } from "../../src/protocol/local-config.js";
import { CLI, makeEnv, runFixture, showRun, start, type Running } from "../helpers/processes.js";
import { postgresOrSkip, startPostgres, type PostgresCluster } from "../helpers/postgres.js";

const bin = postgresOrSkip();

describe.skipIf(bin === null)("trackside server --database (PostgreSQL)", () => {
  let pg: PostgresCluster;
  const servers: Running[] = [];
  beforeAll(async () => {
    pg = await startPostgres(bin as string);
  });
  afterAll(async () => {
    for (const s of servers) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill("SIGKILL");
    await Promise.all(servers.map((s) => s.exited));
    await pg?.stop();
  });

  async function server(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
    const dataDir = mkdtempSync(join(tmpdir(), "trk-data-"));
    const running = start([CLI, "server", "--port", "0", "--data-dir", dataDir, ...args], env);
    servers.push(running);
    const m = await running.waitFor(/listening on (http:\/\/\S+) \(database: (\S+), logs/);
    expect(m[2]).not.toContain("secret"); // the password never shows
    return m[1];
  }

  it("shows a run logged through one replica, finished and charted, through the other after the first is killed", async () => {
    const url = pg.url.replace("postgres@", "postgres:secret@"); // trust auth: the password is not checked, only hidden
    // Two hosts' worth of servers: each its own HOME (its own credentials file), one database.
    const t = makeEnv({ TRACKSIDE_DATABASE_URL: url });
    const t2 = makeEnv();
    // Both started at once: they migrate the empty database under its advisory lock, and both
    // want to create the local user.
    const [first, second] = await Promise.all([server([], t.env), server(["--database", url], t2.env)]);
    // One local user, created by whichever started first, which wrote its key for its own URL.
    // The other mints none (on a shared database a start writes a key only where the database
    // needs one) and says so, unless it looked for the user's keys before the first had stored
    // its key.
    const creds = [readCredential(first, t.env), readCredential(second, t2.env)];
    const written = creds.filter((c) => c !== null);
    expect(written.length).toBeGreaterThanOrEqual(1);
    expect(new Set(written.map((c) => c.user)).size).toBe(1);
    for (const [i, u] of [first, second].entries()) {
      if (creds[i] === null) await servers[i].waitFor(new RegExp(`no key written to \\S+ for ${u}: .*trackside login --base-url ${u}`));
    }
    // The key works through either replica: keys live in the database.
    const key = written[0].apiKey;

    const logged = await runFixture("train", { ...t.env, TRACKSIDE_BASE_URL: first, TRACKSIDE_API_KEY: key }, ["1000", "3"]);
    expect(logged.code, logged.stderr).toBe(0);
    const { path } = JSON.parse(logged.stdout.split("\n")[0]) as { path: string };

    servers[0].child.kill("SIGKILL");
    await servers[0].exited;

    const viaSecond = { ...t2.env, TRACKSIDE_BASE_URL: second, TRACKSIDE_API_KEY: key };
    expect(await showRun(path, viaSecond)).toMatchObject({ state: "finished", historySteps: 1000 });
    const [entity, project, id] = path.split("/");
    const res = await fetch(`${second}/api/v1/runs/${entity}/${project}/${id}/history/buckets?key=m1&buckets=10`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(res.status).toBe(200);
    const chart = (await res.json()) as { points: number; count: number[]; max: number[] };
    expect(chart.points).toBe(1000);
    expect(chart.count.reduce((a, b) => a + b, 0)).toBe(1000);
    expect(Math.max(...chart.max)).toBe(999 * 1000 + 1);
  });
});

describe("trackside server --database, refused", () => {
  it("refuses a URL that is not PostgreSQL's, and a database it cannot reach, with a coded error and the password hidden", async () => {
    const t = makeEnv();
    const notPg = await start([CLI, "server", "--port", "0", "--database", "mysql://u:secret@127.0.0.1/db"], t.env).exited;
    expect(notPg.code).not.toBe(0);
    expect(notPg.stderr).toMatch(/TRK_ERR_INVALID_OPTION: Invalid option --database=.*expected a PostgreSQL URL/);
    // Port 1: nothing listens there.
    const unreachable = await start([CLI, "server", "--port", "0", "--data-dir", mkdtempSync(join(tmpdir(), "trk-data-"))], {
      ...t.env,
      TRACKSIDE_DATABASE_URL: "postgresql://u:secret@127.0.0.1:1/db",
    }).exited;
    expect(unreachable.code).not.toBe(0);
    expect(unreachable.stderr).toMatch(/TRK_ERR_INVALID_OPTION: .*a PostgreSQL database this server can open \(ECONNREFUSED/);
    expect(notPg.stderr + unreachable.stderr).not.toContain("secret");
  });
});
