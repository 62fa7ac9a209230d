/**
 * `trackside server` and the signals that stop it: a service manager may send SIGTERM the moment
 * the server has printed its address, and the server must still close its database and log.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CLI, makeEnv } from "../helpers/processes.js";

/** Starts `trackside server` and sends SIGTERM from the very handler that sees its address line. */
function termAtListening(env: NodeJS.ProcessEnv, dataDir: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const child = spawn(process.execPath, [CLI, "server", "--port", "0", "--data-dir", dataDir], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d));
  child.stdout.on("data", (d: Buffer) => {
    if (d.includes("listening on")) child.kill("SIGTERM");
  });
  return new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stderr })));
}

describe("trackside server", () => {
  it("stops cleanly (exit 0, its log closed) on a SIGTERM sent the moment it prints its address", async () => {
    // Before its handler was installed ahead of the start, about half of such signals killed it
    // outright (the default action of SIGTERM): five in a row make that plain.
    for (let i = 0; i < 5; i++) {
      const t = makeEnv();
      const dataDir = join(t.home, "data");
      const ended = await termAtListening(t.env, dataDir);
      expect(ended, ended.stderr).toMatchObject({ code: 0, signal: null });
      expect(readFileSync(join(dataDir, "logs", "server.log"), "utf8")).toContain("trackside server closing");
    }
  }, 60_000);
});
