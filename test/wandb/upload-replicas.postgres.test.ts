/**
 * W&B's clients behind a load balancer: two servers on one PostgreSQL database, as two replicas,
 * each with its own store, pool and process state (issue 15, point 4: stateless replicas). The
 * URL that one hands out (CreateRunFiles) is accepted by the other, because the secret that signs
 * it is the database's; a resume asked of one (RunResumeStatus) reopens the run through an upsert
 * that reaches the other, because the ask is the database's too. Skipped with a warning where
 * PostgreSQL is not installed.
 */
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, mintApiKey, PostgresStore } from "../../src/server/index.js";
import { postgresOrSkip, startPostgres, type PostgresCluster } from "../helpers/postgres.js";

const bin = postgresOrSkip();
const BASE_URL = "http://trackside.test";

describe.skipIf(bin === null)("W&B on two replicas of one PostgreSQL database", () => {
  let pg: PostgresCluster;
  const opened: { close(): Promise<unknown> }[] = [];
  beforeAll(async () => {
    pg = await startPostgres(bin as string);
  });
  afterAll(async () => {
    for (const o of opened.reverse()) await o.close();
    await pg?.stop();
  });

  /** A server of its own (its own store, pool and process state) on the shared database. */
  async function replica(url: string): Promise<FastifyInstance> {
    const store = await PostgresStore.open(url, { max: 2 });
    const app = buildApp({ store, publicBaseUrl: BASE_URL });
    opened.push(store, app);
    return app;
  }

  /** A fresh database with user alice and her key, and how to send W&B's GraphQL to a replica as her. */
  async function database(name: string) {
    const url = await pg.createDatabase(name);
    const setup = await PostgresStore.open(url, { max: 1 });
    opened.push(setup);
    const alice = await setup.createUser("alice");
    const key = mintApiKey();
    await setup.addApiKey(alice.id, key.hash, key.prefix);
    const basic = `Basic ${Buffer.from(`api:${key.key}`).toString("base64")}`;
    const graphql = (app: FastifyInstance, operationName: string, variables: Record<string, unknown>) =>
      app.inject({ method: "POST", url: "/graphql", headers: { authorization: basic, "content-type": "application/json" }, payload: JSON.stringify({ query: "", operationName, variables }) });
    return { url, key, basic, graphql };
  }

  it("accepts at the second server an upload URL that the first handed out, and refuses a forged one there", async () => {
    const { url, key, graphql } = await database("replicas");
    // Both start before either signed anything: each would have made a secret of its own.
    const [a, b] = await Promise.all([replica(url), replica(url)]);

    const upserted = await graphql(a, "UpsertBucket", { name: "rep12345", project: "wb", entity: "alice" });
    expect(upserted.json()).not.toHaveProperty("errors");
    // Each replica has been asked for a URL once (so each would hold its own secret by now).
    const fromB = await graphql(b, "CreateRunFiles", { entity: "alice", project: "wb", run: "rep12345", files: ["requirements.txt"] });
    expect(fromB.json()).not.toHaveProperty("errors");
    const fromA = await graphql(a, "CreateRunFiles", { entity: "alice", project: "wb", run: "rep12345", files: ["wandb-metadata.json"] });
    const created = (fromA.json() as { data: { createRunFiles: { files: { uploadUrl: string }[] } } }).data.createRunFiles;
    const path = created.files[0].uploadUrl.slice(BASE_URL.length);

    const meta = { host: "replica-box", os: "Linux-6.1", python: "CPython 3.11.7" };
    const put = await b.inject({ method: "PUT", url: path, payload: JSON.stringify(meta) });
    expect(put.statusCode, put.body).toBe(200);
    const shown = await a.inject({ method: "GET", url: "/api/v1/runs/alice/wb/rep12345", headers: { authorization: `Bearer ${key.key}` } });
    expect(shown.json()).toMatchObject({ metadata: { host: "replica-box", os: "Linux-6.1" } });

    const forged = path.replace(/.$/, (c) => (c === "A" ? "B" : "A"));
    expect((await b.inject({ method: "PUT", url: forged, payload: "{}" })).statusCode).toBe(403);
  });

  it("reopens an ended run when the resume was asked of the first server and the upsert reaches the second", async () => {
    const { url, key, basic, graphql } = await database("resume");
    const [a, b] = await Promise.all([replica(url), replica(url)]);
    const state = async (app: FastifyInstance) =>
      ((await app.inject({ method: "GET", url: "/api/v1/runs/alice/wb/res12345", headers: { authorization: `Bearer ${key.key}` } })).json() as { state: string }).state;

    expect((await graphql(a, "UpsertBucket", { name: "res12345", project: "wb", entity: "alice" })).json()).not.toHaveProperty("errors");
    const ended = await a.inject({
      method: "POST",
      url: "/files/alice/wb/res12345/file_stream",
      headers: { authorization: basic, "content-type": "application/json" },
      payload: JSON.stringify({ complete: true, exitcode: 0 }),
    });
    expect(ended.statusCode).toBe(200);
    expect(await state(b)).toBe("finished");

    // W&B's client resuming: RunResumeStatus, then UpsertBucket, each to whichever replica.
    const status = await graphql(a, "RunResumeStatus", { entity: "alice", project: "wb", name: "res12345" });
    expect((status.json() as { data: { model: { bucket: { name: string } } } }).data.model.bucket.name).toBe("res12345");
    expect((await graphql(b, "UpsertBucket", { name: "res12345", project: "wb", entity: "alice" })).json()).not.toHaveProperty("errors");
    expect(await state(a)).toBe("running");

    // The ask was used up: after the run ends again, an upsert at either replica only edits it.
    await b.inject({ method: "POST", url: "/files/alice/wb/res12345/file_stream", headers: { authorization: basic, "content-type": "application/json" }, payload: JSON.stringify({ complete: true, exitcode: 0 }) });
    expect(await state(a)).toBe("finished");
    await graphql(a, "UpsertBucket", { name: "res12345", project: "wb", entity: "alice", notes: "edited" });
    expect(await state(b)).toBe("finished");
  });
});
