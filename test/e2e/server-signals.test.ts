/**
 * `trackside server` and the signals that stop it: a service manager may send SIGTERM the moment
 * the server has printed its address, and the server must still close its database and log; one
 * sent while the start waits on a database that does not answer must end it at once, by that
 * signal (what a service manager counts as a clean stop).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CLI, makeEnv, start } from "../helpers/processes.js";

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Ends a child that is still running after `ms` (a test that failed must not leave it behind). */
function deadline(child: ChildProcess, ms: number): void {
  const timer = setTimeout(() => child.kill("SIGKILL"), ms);
  child.on("close", () => clearTimeout(timer));
}

/** Starts `trackside server` and sends SIGTERM from the very handler that sees its address line. */
function termAtListening(env: NodeJS.ProcessEnv, dataDir: string): Promise<Ended> {
  const child = spawn(process.execPath, [CLI, "server", "--port", "0", "--data-dir", dataDir], { env, stdio: ["ignore", "pipe", "pipe"] });
  deadline(child, 10_000);
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d));
  child.stdout.on("data", (d: Buffer) => {
    const seen = stdout.includes("listening on");
    stdout += d;
    if (!seen && stdout.includes("listening on")) child.kill("SIGTERM");
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

  it("ends at once, by the SIGTERM and saying why, when one comes while its start waits on a database that does not answer", async () => {
    // A TCP port that takes the connection and never says a word: PostgreSQL's client waits.
    const held: Socket[] = [];
    let connected!: () => void;
    const connection = new Promise<void>((resolve) => (connected = resolve));
    const silent = createServer((socket) => {
      held.push(socket);
      connected();
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const t = makeEnv();
      const server = start([CLI, "server", "--port", "0", "--data-dir", join(t.home, "data"), "--database", `postgresql://u:p@127.0.0.1:${port}/db`], t.env);
      deadline(server.child, 10_000);
      // The start is under way (its listeners are in place) once it connects; a server that
      // ended before is a failure, with what it said.
      await Promise.race([connection, server.exited.then((r) => Promise.reject(new Error(`ended before connecting (${r.code}): ${r.stderr}`)))]);
      server.child.kill("SIGTERM");
      const result = await server.exited;
      expect(result).toMatchObject({ code: null, signal: "SIGTERM" });
      expect(result.stderr).toContain("SIGTERM before the server had started");
    } finally {
      for (const s of held) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  }, 30_000);
});
