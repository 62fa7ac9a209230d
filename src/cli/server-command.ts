/**
 * `trackside server`: the embedded tracking server in the foreground. It logs to
 * <data-dir>/logs/server.log; the terminal gets one line saying where it listens, and the
 * process ends cleanly on Ctrl-C or SIGTERM (the database is closed, the log flushed).
 */
import type { Command } from "commander";
import { errors } from "../protocol/errors.js";
import { DEFAULT_HOST, DEFAULT_PORT, defaultServerDataDir } from "../protocol/local-config.js";
import { startServer, type RunningServer } from "../server/index.js";
import { stdoutIo, type CommandIo } from "./output.js";

interface ServerOptions {
  host: string;
  port: string;
  dataDir?: string;
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw errors.invalidOption("--port", value, "a port number from 0 to 65535");
  return port;
}

/** Starts the server, turning the usual socket failures into coded errors that say what to do. */
async function start(host: string, port: number, dataDir: string): Promise<RunningServer> {
  try {
    return await startServer({ host, port, dataDir });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") {
      throw errors.invalidOption("--port", port, `a free port (${host}:${port} is in use: is a trackside server already running?)`);
    }
    if (code === "EACCES") throw errors.invalidOption("--port", port, "a port this user may open (above 1023)");
    if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND") throw errors.invalidOption("--host", host, "an address of this machine");
    throw err;
  }
}

/** Resolves on the first SIGINT or SIGTERM; a second one while closing exits at once. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      // Closing waits for in-flight requests; a second Ctrl-C means "now".
      process.once("SIGINT", () => process.exit(130));
      resolve(signal);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}

/**
 * Adds `trackside server [--host] [--port] [--data-dir]` to a commander program.
 *
 * @example
 * registerServerCommand(program); // trackside server --port 0 --data-dir /tmp/ts
 */
export function registerServerCommand(program: Command, io: CommandIo = stdoutIo): void {
  program
    .command("server")
    .description("run the tracking server in the foreground (SQLite; logs under <data-dir>/logs)")
    .option("--host <host>", "interface to listen on (0.0.0.0 for every interface)", DEFAULT_HOST)
    .option("--port <port>", "port to listen on (0 picks a free one)", String(DEFAULT_PORT))
    .option("--data-dir <dir>", "database and logs (default: ~/.trackside/server)")
    .action(async (opts: ServerOptions) => {
      const dataDir = opts.dataDir ?? defaultServerDataDir();
      const server = await start(opts.host, parsePort(opts.port), dataDir);
      io.out(`trackside server listening on ${server.url} (data: ${server.dataDir})\n`);
      await untilSignal();
      await server.close();
    });
}
