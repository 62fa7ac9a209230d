/**
 * W&B's own JS SDK (`@wandb/sdk` 0.5.1 from npm, unmodified) against a real `trackside server`:
 * pointed at it by WANDB_BASE_URL and WANDB_API_KEY alone, a script logs 100 steps and finishes,
 * and `trackside runs show --json` shows the run finished with its 100 steps and its config.
 */
import { createRequire } from "node:module";
import { afterAll, beforeAll, expect, it } from "vitest";
import { readCredential } from "../../src/protocol/local-config.js";
import { runFixture, serverWithEnv, showRun, type TestEnv, type TestServer } from "../helpers/processes.js";

let t: TestEnv;
let server: TestServer;
beforeAll(async () => {
  ({ t, server } = await serverWithEnv());
});
afterAll(async () => {
  await server?.stop();
});

it("@wandb/sdk 0.5.1 logs 100 steps and finishes: runs show says finished, with 100 history steps and the config", async () => {
  const version = (createRequire(import.meta.url)("@wandb/sdk/package.json") as { version: string }).version;
  expect(version).toBe("0.5.1");
  const key = readCredential(server.url, t.env)!.apiKey;
  const r = await runFixture("wandb/js-sdk", { ...t.env, WANDB_BASE_URL: server.url, WANDB_API_KEY: key });
  expect(r.code, r.stdout + r.stderr).toBe(0);
  const path = /RUN (\S+)/.exec(r.stdout)![1];
  const run = await showRun(path, t.env);
  expect(run).toMatchObject({ state: "finished", exitCode: 0, historySteps: 100, config: { lr: 0.01, layers: 3 }, project: "wbjs" });
  expect(run.summary).toMatchObject({ loss: 0.01, _step: 99 });
});
