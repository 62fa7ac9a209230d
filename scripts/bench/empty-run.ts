/**
 * Start-up of an online run: an empty run's `init()` + `finish()`, until the server has it
 * (finish() says synced), in a probe process (startup-probe.ts) against a `trackside server`
 * child. Cold: the probe's first run, whose init() spawns the daemon; baseline `node -e 0`, Node's
 * own start-up and exit. Warm: the second run in the same process, the daemon up; baseline one
 * HTTP GET /healthz to the server on a new connection (the least an upload costs).
 */
import { spawnSync } from "node:child_process";
import { request } from "node:http";
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { benchRoot, clientEnv, reapDaemons, runProbe, startServerProcess } from "./procs.js";
import { median, type Figure } from "./stats.js";

const probe = fileURLToPath(new URL("./startup-probe.js", import.meta.url));

function nodeStartMs(): number {
  const t0 = performance.now();
  spawnSync(process.execPath, ["-e", "0"]);
  return performance.now() - t0;
}

/** One GET /healthz on a new TCP connection, until the body has arrived. */
function healthz(url: string): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(`${url}/healthz`, { agent: false }, (res) => {
      res.resume();
      res.once("end", () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`healthz: HTTP ${res.statusCode}`))));
    });
    req.once("error", reject);
    req.end();
  });
}

export async function benchEmptyRun(samples: number): Promise<Figure[]> {
  const root = benchRoot("startup");
  const server = await startServerProcess(root);
  const cold: number[] = [];
  const warm: number[] = [];
  const node: number[] = [];
  const http: number[] = [];
  const sockets: string[] = [];
  try {
    await healthz(server.url); // the server's first request warms its routes
    for (let i = 0; i < samples; i++) {
      node.push(nodeStartMs());
      const { env, socketDir } = clientEnv(server, root);
      sockets.push(socketDir);
      const r = await runProbe<{ cold: number; warm: number; synced: boolean }>(probe, [], env);
      if (!r.synced) throw new Error("empty run: finish() did not report synced");
      cold.push(r.cold);
      warm.push(r.warm);
      // The probe's daemon leaves once it sees its client gone: let it, so the next sample is alone.
      await reapDaemons([socketDir]);
      http.push(await healthz(server.url));
    }
  } finally {
    await reapDaemons(sockets);
    await server.close();
    rmSync(root, { recursive: true, force: true });
  }
  return [
    { name: "empty-run cold: init() + finish() synced, online, the daemon spawned", value: median(cold), baseline: median(node), baselineName: "`node -e 0` start to exit", unit: "ms", better: "lower", samples, goal: "<= 300 ms" },
    { name: "empty-run warm: init() + finish() synced, online, daemon up", value: median(warm), baseline: median(http), baselineName: "one HTTP GET /healthz on a new connection", unit: "ms", better: "lower", samples, goal: "<= 300 ms" },
  ];
}
