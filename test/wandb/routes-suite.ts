/**
 * W&B's routes through app.inject(), on any store backend: what W&B's clients send
 * (shared/reference/wandb-wire.md), by hand, so that every rule of the mapping (docs/wandb.md) is
 * pinned without a real client: auth as W&B sends it, offsets that make retries idempotent,
 * console rewrites, NaN, the latest summary, exit codes, heartbeats against the sweeper, upload
 * URLs, and no 5xx. Run by routes.sqlite.test.ts and routes.postgres.test.ts.
 */
import { connect, type AddressInfo } from "node:net";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Store } from "../../src/server/store/store.js";
import { appWithUsers, BASE_URL, T0 } from "../server/helpers.js";


interface TestEnv {
  store: Store;
  app: FastifyInstance;
  clock: { now: number };
  aliceKey: string;
  bobKey: string;
}

/** A store of the backend under test, and how to dispose of it. */
export type MakeStore = () => Promise<{ store: Store; close: () => Promise<void> }>;

/** The W&B route tests over stores that `makeStore` opens, one per test. */
export function runWandbRoutesSuite(makeStore: MakeStore): void {
  let env: TestEnv;
  let closeStore: () => Promise<void>;
  beforeEach(async () => {
    const made = await makeStore();
    closeStore = made.close;
    env = { store: made.store, ...(await appWithUsers(made.store)) };
  });
  afterEach(async () => {
    await env.app.close();
    await closeStore();
  });

  const get = (url: string, key = env.aliceKey) => env.app.inject({ method: "GET", url, headers: { authorization: `Bearer ${key}` } });
  const basic = (key: string) => `Basic ${Buffer.from(`api:${key}`).toString("base64")}`;

  function graphql(operationName: string | undefined, variables: Record<string, unknown> = {}, key = env.aliceKey, query = ""): Promise<LightMyRequestResponse> {
    return env.app.inject({
      method: "POST",
      url: "/graphql",
      headers: { authorization: basic(key), "content-type": "application/json" },
      payload: JSON.stringify({ query, variables, operationName }),
    });
  }

  function fileStream(path: string, body: unknown, key = env.aliceKey): Promise<LightMyRequestResponse> {
    return env.app.inject({
      method: "POST",
      url: `/files/${path}/file_stream`,
      headers: { authorization: basic(key), "content-type": "application/json" },
      payload: typeof body === "string" ? body : JSON.stringify(body),
    });
  }

  async function upsert(variables: Record<string, unknown>): Promise<Record<string, unknown>> {
    const res = await graphql("UpsertBucket", variables);
    expect(res.statusCode).toBe(200);
    const body = res.json() as { data: { upsertBucket: { bucket: Record<string, unknown> } } | null; errors?: unknown };
    expect(body.errors).toBeUndefined();
    return body.data!.upsertBucket.bucket;
  }

  async function run(path = "alice/wb/abc12345"): Promise<Record<string, unknown>> {
    const res = await get(`/api/v1/runs/${path}`);
    expect(res.statusCode).toBe(200);
    return res.json() as Record<string, unknown>;
  }

  /**
   * A PUT of a forged URL over a real socket, declaring 50 MiB and sending 1 KiB: the 403 must
   * come without the rest of the body (before the fix the server waited for it: no answer).
   */
  async function forgedUploadIsRefusedAtOnce(url: string): Promise<void> {
    await env.app.listen({ port: 0, host: "127.0.0.1" });
    const port = (env.app.server.address() as AddressInfo).port;
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, "127.0.0.1");
      let got = "";
      const deadline = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no answer within 5 s; got ${JSON.stringify(got)}`));
      }, 5000);
      socket.on("connect", () => socket.write(`PUT ${url} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: ${50 * 1024 * 1024}\r\n\r\n${"x".repeat(1024)}`));
      socket.on("data", (chunk: Buffer) => {
        got += chunk.toString("latin1");
        if (/\r\n\r\n/.test(got)) {
          clearTimeout(deadline);
          socket.destroy();
          resolve(got);
        }
      });
      socket.on("error", (err) => {
        clearTimeout(deadline);
        reject(err);
      });
    });
    expect(answer).toMatch(/^HTTP\/1\.1 403 /);
  }

  const line = (step: number, extra = "") => `{"loss":${1 / (step + 1)},"_step":${step},"_runtime":${step / 10},"_timestamp":${T0 / 1000 + step}${extra}}`;

  describe("W&B's auth and GraphQL", () => {
    it("takes HTTP Basic api:KEY as the key's user (Viewer), refuses a bad key with 401, and answers an unknown operation with a 200 and errors", async () => {
      const viewer = await graphql("Viewer");
      expect(viewer.statusCode).toBe(200);
      expect((viewer.json() as { data: { viewer: { entity: string } } }).data.viewer.entity).toBe("alice");
      // No operationName (JS leaves it out when its own parse fails): the query text names it.
      const unnamed = await graphql(undefined, {}, env.bobKey, "query Viewer { viewer { entity } }");
      expect((unnamed.json() as { data: { viewer: { entity: string } } }).data.viewer.entity).toBe("bob");

      expect((await graphql("Viewer", {}, "trk_" + "x".repeat(43))).statusCode).toBe(401);
      const otherUser = await env.app.inject({ method: "POST", url: "/graphql", headers: { authorization: `Basic ${Buffer.from(`alice:${env.aliceKey}`).toString("base64")}` }, payload: {} });
      expect(otherUser.statusCode).toBe(401);
      const anonymous = await env.app.inject({ method: "POST", url: "/graphql", payload: { operationName: "Viewer" } });
      expect(anonymous.statusCode).toBe(401);

      const unknown = await graphql("CreateArtifact");
      expect(unknown.statusCode).toBe(200);
      expect(unknown.json()).toMatchObject({ data: null, errors: [{ message: expect.stringContaining("CreateArtifact") }] });
      expect((await graphql("ServerFeaturesQuery")).json()).toEqual({ data: { serverInfo: { features: [] } } });
      expect((await graphql("OrganizationCoreWeaveOrganizationID", { entityName: "alice" })).json()).toEqual({ data: { entity: null } });
    });

    it("UpsertBucket creates the run with the key's entity when none is sent, unwraps the config and keeps _wandb apart; a later one updates", async () => {
      const bucket = await upsert({
        name: "abc12345",
        project: "wb",
        entity: null,
        displayName: "first-try",
        notes: "n",
        tags: ["a"],
        groupName: "g",
        jobType: "train",
        config: JSON.stringify({ lr: { value: 0.1 }, opt: { value: { name: "adam" } }, _wandb: { value: { t: { "1": [1] } } } }),
      });
      expect(bucket).toMatchObject({ name: "abc12345", displayName: "first-try", project: { name: "wb", entity: { name: "alice" } } });
      let r = await run();
      expect(r).toMatchObject({ name: "first-try", notes: "n", tags: ["a"], group: "g", jobType: "train", state: "running", config: { lr: 0.1, opt: { name: "adam" } } });
      expect(r.config).not.toHaveProperty("_wandb");

      // null is "not sent": the name stays; the config is replaced whole.
      await upsert({ name: "abc12345", project: "wb", entity: "alice", displayName: null, tags: ["a", "b"], config: JSON.stringify({ lr: { value: 0.2 } }) });
      r = await run();
      expect(r).toMatchObject({ name: "first-try", tags: ["a", "b"], config: { lr: 0.2 } });

      // The JS client's raw config stays as written, and it gets a generated name.
      const js = await upsert({ name: "jsrun001", project: "wb", entity: "alice", config: JSON.stringify({ a: 1, nested: { value: 2 } }) });
      expect(js.displayName).toMatch(/^[a-z]+-[a-z]+-\d+$/);
      expect((await run("alice/wb/jsrun001")).config).toEqual({ a: 1, nested: { value: 2 } });
    });

    it("UpsertBucket reads bare NaN and Infinity in the config and summary, as W&B's Go core writes them", async () => {
      await upsert({ name: "abc12345", project: "wb", entity: "alice", config: '{"a":{"value":NaN},"b":{"value":-Infinity}}', summaryMetrics: '{"a":Infinity,"b":1}' });
      expect(await run()).toMatchObject({ config: { a: "NaN", b: "-Infinity" }, summary: { a: "Infinity", b: 1 } });
    });

    it("refuses an entity the key may not log to, as a GraphQL error naming the fix", async () => {
      const res = await graphql("UpsertBucket", { name: "abc12345", project: "wb", entity: "bob" });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ data: null, errors: [{ extensions: { code: "TRK_ERR_FORBIDDEN" } }] });
      expect((await get("/api/v1/runs/bob/wb/abc12345", env.bobKey)).statusCode).toBe(404);
    });
  });

  describe("W&B's file_stream", () => {
    beforeEach(async () => {
      await upsert({ name: "abc12345", project: "wb", entity: "alice" });
    });

    it("stores history by line offset (a resent request changes nothing), with _timestamp in ms, nested keys and bare NaN/Infinity", async () => {
      const first = { files: { "wandb-history.jsonl": { offset: 0, content: [line(0, ',"bad":NaN,"inf":-Infinity,"train":{"acc":0.5}'), line(1)] } } };
      expect((await fileStream("alice/wb/abc12345", first)).statusCode).toBe(200);
      expect((await fileStream("alice/wb/abc12345", first)).statusCode).toBe(200); // a retry
      expect((await fileStream("alice/wb/abc12345", { files: { "wandb-history.jsonl": { offset: 2, content: [line(2), line(3)] } } })).statusCode).toBe(200);
      expect((await run()).historySteps).toBe(4);
      const rows = (await get("/api/v1/runs/alice/wb/abc12345/history")).json() as { rows: Record<string, unknown>[] };
      expect(rows.rows.map((r) => r._step)).toEqual([0, 1, 2, 3]);
      expect(rows.rows[0]).toMatchObject({ _timestamp: T0, bad: "NaN", inf: "-Infinity", "train.acc": 0.5 });
    });

    it("takes one odd value without failing the body: a _timestamp outside a Date's range is the server's now, a value nested 5,000 deep is JSON text past 32 levels", async () => {
      env.clock.now = T0 + 5000;
      const deep = '{"a":'.repeat(5000) + "1" + "}".repeat(5000);
      const body = {
        files: {
          "wandb-history.jsonl": { offset: 0, content: [`{"loss":1,"_step":0,"_runtime":0,"_timestamp":1e300}`, `{"_step":1,"_runtime":1,"_timestamp":${T0 / 1000},"deep":${deep}}`] },
          "wandb-events.jsonl": { offset: 0, content: ['{"system.cpu":12.5,"_timestamp":-1e300}'] },
        },
      };
      const res = await fileStream("alice/wb/abc12345", body);
      expect(res.statusCode, res.body).toBe(200);
      const rows = ((await get("/api/v1/runs/alice/wb/abc12345/history")).json() as { rows: Record<string, unknown>[] }).rows;
      expect(rows[0]).toMatchObject({ _step: 0, loss: 1, _timestamp: T0 + 5000 });
      const deepKey = Object.keys(rows[1]).find((k) => k.startsWith("deep."))!;
      expect(deepKey).toBe(`deep${".a".repeat(32)}`);
      expect(rows[1][deepKey]).toBe('{"a":'.repeat(32) + '"…"' + "}".repeat(32));
      const system = (await get("/api/v1/runs/alice/wb/abc12345/system")).json() as { rows: Record<string, unknown>[] };
      expect(system.rows).toEqual([{ at: T0 + 5000, "system/cpu": 12.5 }]);
    });

    it("rewrites a console line sent again at its offset (a progress bar), marks ERROR lines stderr, and keeps the latest summary", async () => {
      const out = (offset: number, content: string[], summary: string) => ({
        files: { "output.log": { offset, content }, "wandb-summary.json": { offset: 0, content: [summary] } },
      });
      await fileStream("alice/wb/abc12345", out(0, ["2024-05-01T12:00:00.250000 hello", "2024-05-01T12:00:01.000000 10%|#"], '{"loss":1,"_wandb":{"runtime":1}}'));
      await fileStream("alice/wb/abc12345", out(1, ["2024-05-01T12:00:02.000000 100%|##########", "ERROR 2024-05-01T12:00:03.000000 oops"], '{"loss":0.5,"best":NaN}'));
      const lines = (await get("/api/v1/runs/alice/wb/abc12345/console")).json() as { lines: { text: string; stream: string; at: number }[] };
      expect(lines.lines.map((l) => [l.stream, l.text])).toEqual([
        ["stdout", "hello"],
        ["stdout", "100%|##########"],
        ["stderr", "oops"],
      ]);
      expect(lines.lines[0].at).toBe(Date.UTC(2024, 4, 1, 12, 0, 0, 250));
      const r = await run();
      expect(r.summary).toEqual({ loss: 0.5, best: "NaN" });
      expect(r.consoleLines).toBe(3);
    });

    it("ends the run by its exit code: 0 finished, 255 killed, other codes failed", async () => {
      await fileStream("alice/wb/abc12345", { complete: true, exitcode: 0 });
      expect(await run()).toMatchObject({ state: "finished", exitCode: 0 });
      for (const [id, code, state] of [["run00255", 255, "killed"], ["run00003", 3, "failed"]] as const) {
        await upsert({ name: id, project: "wb", entity: "alice" });
        await fileStream(`alice/wb/${id}`, { complete: true, exitcode: code });
        expect(await run(`alice/wb/${id}`)).toMatchObject({ state, exitCode: code });
      }
    });

    it("keeps an ended run ended when an upsert only edits it (run.update(), a retry), and reopens it on a resume", async () => {
      await fileStream("alice/wb/abc12345", { complete: true, exitcode: 0 });
      await upsert({ name: "abc12345", project: "wb", entity: "alice", tags: ["late"], notes: "edited" });
      expect(await run()).toMatchObject({ state: "finished", exitCode: 0, tags: ["late"], notes: "edited" });
      // W&B's resume asks RunResumeStatus first; its upsert opens the run again.
      const status = await graphql("RunResumeStatus", { entity: "alice", project: "wb", name: "abc12345" });
      expect((status.json() as { data: { model: { bucket: { name: string } } } }).data.model.bucket.name).toBe("abc12345");
      await upsert({ name: "abc12345", project: "wb", entity: "alice" });
      expect(await run()).toMatchObject({ state: "running", tags: ["late"] });
    });

    it("takes an empty body as a heartbeat that repairs a crash the sweeper guessed", async () => {
      env.clock.now = T0 + 600_000;
      expect(await env.store.sweepStaleRuns(T0 + 1, env.clock.now, "no heartbeat")).toBe(1);
      expect((await run()).state).toBe("crashed");
      expect((await fileStream("alice/wb/abc12345", {})).statusCode).toBe(200);
      expect(await run()).toMatchObject({ state: "running", error: null });
    });

    it("answers coded 4xx, never 5xx: a bad line, an unknown run, a body over 10 MiB is accepted", async () => {
      const bad = await fileStream("alice/wb/abc12345", { files: { "wandb-history.jsonl": { offset: 0, content: ["{not json"] } } });
      expect(bad.statusCode).toBe(400);
      expect((bad.json() as { error: { code: string; message: string } }).error).toMatchObject({ code: "TRK_ERR_BAD_REQUEST", message: expect.stringContaining("line 0 of wandb-history.jsonl") });
      expect((await fileStream("alice/wb/nosuchrun", {})).statusCode).toBe(404);
      // 11 MiB of console text: W&B's client sends up to about 10 MiB per request.
      const big = Array.from({ length: 11 * 1024 }, (_, i) => `2024-05-01T12:00:00.000000 ${String(i).padEnd(1000, "x")}`);
      const res = await fileStream("alice/wb/abc12345", { files: { "output.log": { offset: 0, content: big } } });
      expect(res.statusCode).toBe(200);
      expect((await run()).consoleLines).toBe(11 * 1024);
    });
  });

  describe("W&B's run files", () => {
    it("hands out one signed upload URL per file; wandb-metadata.json becomes the overview's metadata, other files are accepted, a forged URL is refused", async () => {
      await upsert({ name: "abc12345", project: "wb", entity: "alice" });
      const files = ["wandb-metadata.json", "requirements.txt"];
      const res = await graphql("CreateRunFiles", { entity: "alice", project: "wb", run: "abc12345", files });
      const created = (res.json() as { data: { createRunFiles: { files: { name: string; uploadUrl: string }[] } } }).data.createRunFiles;
      expect(created.files.map((f) => f.name)).toEqual(files);
      const url = (name: string) => created.files.find((f) => f.name === name)!.uploadUrl.slice(BASE_URL.length);
      const meta = { os: "Linux-6.1", python: "CPython 3.11.7", host: "gpu-box", program: "train.py", args: ["--lr", "1"], cpu_count: 8, memory: { total: String(16 * 1024 ** 3) } };
      const put = await env.app.inject({ method: "PUT", url: url("wandb-metadata.json"), payload: JSON.stringify(meta) });
      expect(put.statusCode).toBe(200);
      expect((await env.app.inject({ method: "PUT", url: url("requirements.txt"), headers: { "content-type": "text/plain" }, payload: "numpy\n" })).statusCode).toBe(200);
      expect((await run()).metadata).toMatchObject({ host: "gpu-box", os: "Linux-6.1", python: "CPython 3.11.7", program: { executable: "train.py", args: ["--lr", "1"] }, memory: { totalMB: 16384 } });

      const forged = url("requirements.txt").replace(/.$/, (c) => (c === "A" ? "B" : "A"));
      const refused = await env.app.inject({ method: "PUT", url: forged, payload: "x" });
      expect(refused.statusCode).toBe(403);
      await forgedUploadIsRefusedAtOnce(forged);
      // A name outside the run, or a list with something else than names, is refused whole.
      for (const bad of [["ok.txt", "../../etc/passwd"], ["/etc/passwd"], ["media/../../x"], ["ok.txt", 3]]) {
        const answer = await graphql("CreateRunFiles", { entity: "alice", project: "wb", run: "abc12345", files: bad });
        expect(answer.json(), JSON.stringify(bad)).toMatchObject({ data: null, errors: [{ extensions: { code: "TRK_ERR_BAD_REQUEST" } }] });
      }
      // Bob may not log to alice: no URLs for him.
      const bobs = await graphql("CreateRunFiles", { entity: "alice", project: "wb", run: "abc12345", files }, env.bobKey);
      expect(bobs.json()).toMatchObject({ data: null, errors: [{ extensions: { code: "TRK_ERR_FORBIDDEN" } }] });
    });
  });
}
