/**
 * Two servers on one database, as two replicas behind a load balancer: a browser's live-event
 * stream on one hears of what the other applied (an upload, an edit, a sweep), through the run's
 * revision in the database, not through either server's memory.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { readCredential } from "../../src/protocol/local-config.js";
import { startServer, type RunningServer } from "../../src/server/start-server.js";
import { rows, runInfo } from "./helpers.js";
import { listen } from "../helpers/live-events.js";

let home: string;
let savedHome: string | undefined;
const servers: RunningServer[] = [];
beforeEach(() => {
  savedHome = process.env.HOME;
  home = mkdtempSync(join(tmpdir(), "trackside-replicas-"));
  process.env.HOME = home;
});
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  process.env.HOME = savedHome;
  rmSync(home, { recursive: true, force: true });
});


it("a stream on one server hears of an upload, an edit and a sweep that another server applied", async () => {
  const dataDir = join(home, "server");
  const a = await startServer({ port: 0, dataDir });
  servers.push(a);
  const b = await startServer({ port: 0, dataDir });
  servers.push(b);
  const key = readCredential(a.url)!.apiKey;
  const user = readCredential(a.url)!.user;
  const post = (server: RunningServer, path: string, method: string, body: unknown) =>
    fetch(`${server.url}/api/v1/runs/${user}/p/rep00001${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  expect((await post(a, "/records", "POST", [{ k: "run", seq: 0, run: runInfo("rep00001", { entity: user, project: "p" }) }])).status).toBe(200);

  const stream = await listen(`${b.url}/api/v1/runs/${user}/p/rep00001/events`, key);
  try {
    expect((await post(a, "/records", "POST", [{ k: "history", seq: 1, rows: rows(0, 3) }])).status).toBe(200);
    expect(await stream.next()).toEqual({ kind: "change", lastSeq: 3, state: "running" });

    expect((await post(a, "", "PATCH", { name: "renamed" })).status).toBe(200);
    expect(await stream.next()).toMatchObject({ kind: "change", state: "running" });
    expect((await (await fetch(`${b.url}/api/v1/runs/${user}/p/rep00001`, { headers: { authorization: `Bearer ${key}` } })).json()).name).toBe("renamed");

    // The sweeper of either server marks it crashed: the stream hears that too.
    expect(await a.store.sweepStaleRuns(Date.now() + 1, Date.now(), "no heartbeat")).toBe(1);
    expect(await stream.next()).toMatchObject({ kind: "change", state: "crashed" });
  } finally {
    stream.close();
  }
});
