/** resume: "allow" | "must" | "never" | "auto", with W&B's meaning. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, makeEnv, runFixture, serverWithEnv, showRun, type TestEnv, type TestServer } from "../helpers/processes.js";

let server: TestServer;
let t: TestEnv;

beforeAll(async () => ({ t, server } = await serverWithEnv()));
afterAll(() => server?.stop());

const last = (stdout: string) => JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, unknown>;

async function settled(path: string, state: string): Promise<Record<string, unknown>> {
  return eventually(`${path} is ${state}`, async () => {
    const v = await showRun(path, t.env);
    return v.state === state ? v : undefined;
  });
}

describe("resume", () => {
  it("allow: continues a failed run's step counter, config and summary, and creates one when missing", async () => {
    const first = last((await runFixture("resume", t.env, ["allow", "resumeme1", "30", "exit3"])).stdout);
    expect(first).toMatchObject({ id: "resumeme1", startStep: 0 });
    await settled(String(first.path), "failed");
    const second = last((await runFixture("resume", t.env, ["allow", "resumeme1", "20", "finish"])).stdout);
    expect(second).toMatchObject({ startStep: 30, name: first.name, bestBefore: 30 });
    expect(Object.keys(second.config as object).filter((k) => k.startsWith("from"))).toHaveLength(2);
    const run = await settled(String(first.path), "finished");
    expect(run).toMatchObject({ historySteps: 50, exitCode: 0, summary: { v: 49, best: 20, _step: 49 } });
  });

  it("must: refuses a run that does not exist, before anything is written", async () => {
    const out = last((await runFixture("resume", t.env, ["must", "nosuchrun", "1", "finish"])).stdout);
    expect(out).toMatchObject({ error: "TRK_ERR_RESUME_NOT_FOUND" });
    expect(String(out.message)).toContain("/resume/nosuchrun");
  });

  it("never: refuses a run that exists", async () => {
    await runFixture("resume", t.env, ["allow", "taken01", "1", "finish"]);
    const out = last((await runFixture("resume", t.env, ["never", "taken01", "1", "finish"])).stdout);
    expect(out).toMatchObject({ error: "TRK_ERR_RUN_EXISTS" });
  });

  it("a key the server does not know: init() says TRK_ERR_UNAUTHORIZED, the server's own error", async () => {
    // The entity named: init() does not ask the server whose key it is, but whether the key may
    // log to that entity (entity-access.ts), and that request meets the bad key.
    const env = { ...t.env, TRACKSIDE_API_KEY: "not-a-key", TRACKSIDE_ENTITY: "someone" };
    const out = last((await runFixture("resume", env, ["allow", "badkey01", "1", "finish"])).stdout);
    expect(out).toMatchObject({ error: "TRK_ERR_UNAUTHORIZED" });
  });

  it("auto: remembers the run after a crash and continues it without an id; forgets it after success", async () => {
    const env = makeEnv({ HOME: t.home, TRACKSIDE_BASE_URL: server.url });
    const a = last((await runFixture("resume", env.env, ["auto", "-", "10", "exit3"])).stdout);
    await settled(String(a.path), "failed");
    const b = last((await runFixture("resume", env.env, ["auto", "-", "5", "finish"])).stdout);
    expect(b).toMatchObject({ id: a.id, startStep: 10 });
    await settled(String(a.path), "finished");
    const c = last((await runFixture("resume", env.env, ["auto", "-", "1", "finish"])).stdout);
    expect(c.id).not.toBe(a.id);
    expect(c.startStep).toBe(0);
  });
});
