/** W&B's routes (routes-suite.ts) on the SQLite backend: a fresh database file per test. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { RunRecord } from "../../src/protocol/records.js";
import { SqliteStore } from "../../src/server/index.js";
import { appWithUsers, BASE_URL, runInfo, T0 } from "../server/helpers.js";
import { runWandbRoutesSuite } from "./routes-suite.js";

describe("W&B's routes on SQLite", () => {
  runWandbRoutesSuite(async () => {
    const dir = mkdtempSync(join(tmpdir(), "trk-wandb-routes-"));
    const store = SqliteStore.open(join(dir, "trackside.db"));
    return {
      store,
      close: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
});

describe("W&B's requests of one run at once, on a SQLite server storing uploads on its writer thread", () => {
  let dir: string;
  let store: SqliteStore;
  afterEach(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("an UpsertBucket and the wandb-metadata.json upload that arrive together both reach the run's metadata", async () => {
    dir = mkdtempSync(join(tmpdir(), "trk-wandb-thread-"));
    store = SqliteStore.open(join(dir, "trackside.db"), { ingestThread: "always" });
    const { app, aliceKey } = await appWithUsers(store);
    const basic = `Basic ${Buffer.from(`api:${aliceKey}`).toString("base64")}`;
    const graphql = (operationName: string, variables: Record<string, unknown>) =>
      app.inject({ method: "POST", url: "/graphql", headers: { authorization: basic, "content-type": "application/json" }, payload: JSON.stringify({ query: "", variables, operationName }) });
    expect((await graphql("UpsertBucket", { name: "abc12345", project: "wb", entity: "alice" })).statusCode).toBe(200);
    const files = await graphql("CreateRunFiles", { entity: "alice", project: "wb", run: "abc12345", files: ["wandb-metadata.json"] });
    const uploadUrl = (files.json() as { data: { createRunFiles: { files: { uploadUrl: string }[] } } }).data.createRunFiles.files[0].uploadUrl;

    // A busy server: another run's bulk upload is being stored on the writer thread, so each
    // W&B request waits there a while for its commit, as under load.
    const alice = (await store.getUserByName("alice"))!;
    const bulk = { entityId: (await store.getEntity("alice"))!.id, project: "bulk", runId: "bulk0001", authorUserId: alice.id };
    await store.ingest(bulk, [{ k: "run", seq: 1, run: runInfo("bulk0001", { project: "bulk" }) }], T0);
    const lines = Array.from({ length: 200_000 }, (_, i) => ({ at: T0 + i, stream: "stdout" as const, text: `epoch ${i}: loss 0.${i}` }));
    const stored = store.ingest(bulk, [{ k: "console", seq: 2, lines } satisfies RunRecord], T0);

    // W&B's client sends a config change (with its _wandb telemetry) and uploads the metadata
    // file from different goroutines: the two reach the server together.
    const [upsert, put] = await Promise.all([
      graphql("UpsertBucket", { name: "abc12345", project: "wb", entity: "alice", config: JSON.stringify({ lr: { value: 0.1 }, _wandb: { value: { t: { "1": [1] } } } }) }),
      app.inject({ method: "PUT", url: uploadUrl.slice(BASE_URL.length), payload: JSON.stringify({ host: "gpu-box", os: "Linux-6.1", python: "CPython 3.11.7" }) }),
    ]);
    await stored;
    expect([upsert.statusCode, put.statusCode]).toEqual([200, 200]);
    const run = (await app.inject({ method: "GET", url: "/api/v1/runs/alice/wb/abc12345", headers: { authorization: `Bearer ${aliceKey}` } })).json() as { metadata: Record<string, unknown> };
    expect(run.metadata).toMatchObject({ host: "gpu-box", os: "Linux-6.1", python: "CPython 3.11.7", wandb: { t: { "1": [1] } } });
    await app.close();
  });
});
