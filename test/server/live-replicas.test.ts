/**
 * Two servers on one database, as two replicas behind a load balancer: a browser's live-event
 * stream on one hears of what the other applied (an upload, an edit, a sweep), through the run's
 * revision in the database, not through either server's memory.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, it } from "vitest";
import { startServer, type RunningServer } from "../../src/server/start-server.js";
import { expectProjectStreamHearsOtherReplica, expectStreamHearsOtherReplica } from "../helpers/live-events.js";

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
  await expectStreamHearsOtherReplica(a, b);
});

it("a project's stream on one server hears of each upload, edit and sweep that another server applied, once", async () => {
  const dataDir = join(home, "server");
  const a = await startServer({ port: 0, dataDir });
  servers.push(a);
  const b = await startServer({ port: 0, dataDir });
  servers.push(b);
  await expectProjectStreamHearsOtherReplica(a, b);
});
