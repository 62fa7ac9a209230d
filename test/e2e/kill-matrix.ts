/**
 * The lifecycle kill matrix, once for every store backend: SIGKILL of the client at random
 * points, and of the daemon mid-run, against a real `trackside server` on SQLite
 * (test/e2e/lifecycle.test.ts) and on PostgreSQL (test/e2e/lifecycle-postgres.test.ts). What
 * the trials prove depends on the store: after each kill the server must hold exactly what the
 * daemon acknowledged, none twice, although a new daemon re-sends what it cannot know was
 * stored (ingest idempotent by (run, seq)), and the crash must be stamped on the run.
 *
 * The outage test ("an unreachable server") stays SQLite-only in lifecycle.test.ts: it proves
 * the daemon's retry across a 10 s outage, which no store changes, and its fixed 10 s would be
 * paid again for nothing the trials here and test/e2e/postgres-replicas.test.ts (a second
 * server on the same database after the first's SIGKILL) do not already show.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { daemonPid, eventually, makeEnv, serverWithEnv, showRun, start, walHistorySteps, type TestEnv, type TestServer } from "../helpers/processes.js";

const FIXTURES = join(import.meta.dirname, "../fixtures");

/** The store a matrix's server runs on. */
export interface KillMatrixBackend {
  /** Named in the describe: "SQLite", "PostgreSQL". */
  name: string;
  /** A PostgreSQL URL of an empty database for the server, or undefined for SQLite in a data dir of its own. Called in beforeAll. */
  database(): Promise<string | undefined>;
  /** More environment for the server (and the clients, which ignore it). */
  env?: NodeJS.ProcessEnv;
}

export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** The steps the server stores for a run, in order, through the read API, with the key `t`'s HOME holds for it. */
export async function storedSteps(t: TestEnv, srv: TestServer, path: string): Promise<number[]> {
  const creds = JSON.parse(readFileSync(join(t.home, ".trackside", "credentials"), "utf8")) as Record<string, { apiKey: string }>;
  const key = creds[srv.url].apiKey;
  const [entity, project, id] = path.split("/");
  const res = await fetch(`${srv.url}/api/v1/runs/${entity}/${project}/${id}/history?keys=_step&limit=100000`, { headers: { authorization: `Bearer ${key}` } });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { rows: Array<{ _step: number }> };
  return body.rows.map((r) => r._step);
}

/** `trackside runs show` once the run has left `running` (deadline 15 s). */
export async function finalRun(t: TestEnv, path: string): Promise<Record<string, unknown>> {
  return eventually(`run ${path} reaches a final state`, async () => {
    const v = await showRun(path, t.env);
    return v.state !== "running" ? v : undefined;
  }, 15_000);
}

/**
 * Registers the kill matrix against a server of its own on `backend`.
 *
 * @example
 * killMatrix({ name: "SQLite", database: async () => undefined });
 */
export function killMatrix(backend: KillMatrixBackend): void {
  describe(`kill matrix on ${backend.name}`, () => {
    let server: TestServer;
    let t: TestEnv;

    beforeAll(async () => ({ t, server } = await serverWithEnv({ database: await backend.database(), env: backend.env })));
    afterAll(() => server?.stop());

    describe("SIGKILL of the client at random points (20 trials)", () => {
      it("leaves each run crashed within 2 s, holding exactly what the daemon acknowledged, none twice", async () => {
        const trial = async (): Promise<void> => {
          const p = start([join(FIXTURES, "long.mjs"), "5000", "2"], t.env);
          const m = await p.waitFor(/\{"ready":true.*\}/);
          const info = JSON.parse(m[0]) as { path: string; dir: string };
          await new Promise((r) => setTimeout(r, Math.random() * 400)); // a random point in the loop
          const killedAt = Date.now();
          p.child.kill("SIGKILL");
          await p.exited;
          const run = await eventually("crashed", async () => {
            const v = await showRun(info.path, t.env);
            return v.state === "crashed" ? v : undefined;
          }, 10_000);
          // The daemon stamps the crash when it notices it: within 2 s of the kill (the upload and
          // our polling through the CLI come on top, and are not part of the guarantee).
          expect(Date.parse(String(run.finishedAt)) - killedAt).toBeLessThan(2000);
          const acknowledged = walHistorySteps(info.dir);
          expect(await storedSteps(t, server, info.path)).toEqual(acknowledged);
          expect(acknowledged).toEqual(range(acknowledged.length));
          expect(run.historySteps).toBe(acknowledged.length);
        };
        for (let batch = 0; batch < 4; batch++) await Promise.all(range(5).map(trial));
      }, 180_000);
    });

    describe("SIGKILL of the daemon mid-run (10 trials)", () => {
      it("is noticed, a new daemon takes over the WAL, and every step arrives once", async () => {
        const trial = async (): Promise<void> => {
          // A daemon of its own: trials that ran at once would otherwise share (and kill) one.
          const env = makeEnv({ HOME: t.home, TRACKSIDE_BASE_URL: server.url });
          const p = start([join(FIXTURES, "long.mjs"), "3000", "10"], env.env);
          const m = await p.waitFor(/\{"ready":true.*\}/);
          const info = JSON.parse(m[0]) as { path: string; daemon: string };
          await new Promise((r) => setTimeout(r, 100 + Math.random() * 800));
          process.kill(daemonPid(info.daemon), "SIGKILL");
          const done = await p.exited;
          expect(done.code, done.stderr).toBe(0);
          expect(done.stderr).toContain("the daemon was lost");
          const run = await finalRun(t, info.path);
          expect(run).toMatchObject({ state: "finished", historySteps: 3000 });
          expect(await storedSteps(t, server, info.path)).toEqual(range(3000));
        };
        for (let batch = 0; batch < 2; batch++) await Promise.all(range(5).map(trial));
      }, 180_000);
    });
  });
}
