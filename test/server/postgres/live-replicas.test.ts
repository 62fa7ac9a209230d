/**
 * live-replicas.test.ts on PostgreSQL: two servers on one PostgreSQL database, as two replicas
 * behind a load balancer; a browser's live-event stream on one hears of what the other applied
 * (an upload, an edit, a sweep), through the run's revision in the database.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { readCredential } from "../../../src/protocol/local-config.js";
import { startServer, type RunningServer } from "../../../src/server/start-server.js";
import { runInfo } from "../helpers.js";
import { postgresOrSkip, startPostgres, type PostgresCluster } from "../../helpers/postgres.js";
import { expectProjectStreamHearsOtherReplica, expectStreamHearsOtherReplica, listen } from "../../helpers/live-events.js";

const bin = postgresOrSkip();
let pg: PostgresCluster | undefined;
beforeAll(async () => {
  if (bin) pg = await startPostgres(bin);
});
afterAll(() => pg?.stop());

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


describe.skipIf(bin === null)("replicas on PostgreSQL", () => {
  it("a stream on one server hears of an upload, an edit and a sweep that another server applied", async () => {
    const dataDir = join(home, "server");
    const a = await startServer({ port: 0, dataDir, database: pg!.url });
    servers.push(a);
    const b = await startServer({ port: 0, dataDir: join(home, "server-b"), database: pg!.url });
    servers.push(b);
    await expectStreamHearsOtherReplica(a, b);
  });

  it("a project's stream on one server hears of each upload, edit and sweep that another server applied, once", async () => {
    const database = await pg!.createDatabase("project_stream");
    const a = await startServer({ port: 0, dataDir: join(home, "server"), database });
    servers.push(a);
    const b = await startServer({ port: 0, dataDir: join(home, "server-b"), database });
    servers.push(b);
    await expectProjectStreamHearsOtherReplica(a, b);
  });
});

describe.skipIf(bin === null)("a live stream on PostgreSQL", () => {
  it("is not counted when its browser left while the server was still checking it", async () => {
    const server = await startServer({ port: 0, dataDir: join(home, "server"), database: await pg!.createDatabase("gone"), limits: { maxStreamsPerClient: 2 } });
    servers.push(server);
    const { apiKey: key, user } = readCredential(server.url)!;
    const created = await fetch(`${server.url}/api/v1/runs/${user}/p/gone0001/records`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify([{ k: "run", seq: 0, run: runInfo("gone0001", { entity: user, project: "p" }) }]),
    });
    expect(created.status).toBe(200);
    const { hostname, port } = new URL(server.url);
    // Each asks for the stream and hangs up at once, while the key and the run are looked up
    // (round trips to the database): more than the two streams the client may hold.
    for (let i = 0; i < 6; i++) {
      await new Promise<void>((resolve) => {
        const socket = connect(Number(port), hostname, () => {
          socket.write(`GET /api/v1/runs/${user}/p/gone0001/events HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAuthorization: Bearer ${key}\r\n\r\n`);
          setImmediate(() => socket.destroy());
        });
        socket.on("close", () => resolve());
        socket.on("error", () => resolve());
      });
    }
    const stream = await listen(`${server.url}/api/v1/runs/${user}/p/gone0001/events`, key);
    stream.close();
  });
});
