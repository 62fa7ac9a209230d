/**
 * Resume while an earlier process of the run is still uploading (issue #13, point 14). The
 * resuming client would number from the server's last seq + 1, reusing the numbers of records
 * the daemon still holds for the server; the daemon tells it where to go on instead, and keeps
 * uploading the earlier process's records. A proxy in front of the real server holds back every
 * upload until the second process runs.
 */
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { credentialsPath, readCredential } from "../../src/protocol/index.js";
import { eventually, runFixture, serverWithEnv, showRun, start, type TestEnv, type TestServer } from "../helpers/processes.js";

let server: TestServer;
let t: TestEnv;
let proxy: Server;
let proxyUrl: string;
/** While true, every POST (uploads, heartbeats) gets a 503, as from a server that is down for a while. */
let holding = true;

beforeAll(async () => {
  ({ t, server } = await serverWithEnv());
  proxy = createServer((req, res) => {
    if (holding && req.method === "POST") {
      req.resume();
      res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "TRK_ERR_INTERNAL", message: "held back by the test" } }));
      return;
    }
    const upstream = request({ host: "127.0.0.1", port: server.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});

afterAll(async () => {
  proxy?.closeAllConnections();
  await new Promise((resolve) => proxy?.close(resolve));
  await server?.stop();
});

const last = (stdout: string) => JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, unknown>;

describe("resume while the daemon still uploads the run", () => {
  it("goes on after the records the daemon holds: every step of both processes is stored once", async () => {
    const credential = readCredential(server.url, t.env)!;
    expect(credential, credentialsPath(t.env)).not.toBeNull();
    const env = { ...t.env, TRACKSIDE_BASE_URL: proxyUrl, TRACKSIDE_API_KEY: credential.apiKey, TRACKSIDE_ENTITY: credential.user };

    // The first process logs 10 steps and exits with code 3; its records wait in the daemon.
    const a = await runFixture("resume", env, ["allow", "pending14", "10", "exit3"]);
    expect(last(a.stdout), a.stderr).toMatchObject({ id: "pending14", startStep: 0 });

    // The second resumes the run: the server has nothing of it yet, so it would start over.
    const b = start([`${import.meta.dirname}/../fixtures/resume.mjs`, "allow", "pending14", "5", "finish"], env);
    const started = JSON.parse((await b.waitFor(/\{"id":"pending14".*\}/))[0]) as { path: string; startStep: number };
    expect(started.startStep).toBe(10);
    holding = false;
    const done = await b.exited;
    expect(done.code, done.stderr).toBe(0);

    // The first process's records arrive when its upload's backoff next tries: wait for them.
    const run = await eventually("both processes' steps are on the server", async () => {
      const v = await showRun(started.path, t.env);
      return v.historySteps === 15 ? v : undefined;
    }, 30_000);
    expect(run).toMatchObject({ state: "finished", exitCode: 0, historySteps: 15, summary: { _step: 14, v: 14 } });
  });
});
