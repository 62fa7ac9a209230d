/** `trackside daemon --listen ADDRESS`: a standalone daemon in the foreground, for shared machines. */
import type { Command } from "commander";
import { runDaemon } from "../daemon/index.js";

export function registerDaemonCommand(program: Command): void {
  program
    .command("daemon")
    .description("run a standalone daemon in the foreground that clients share (set TRACKSIDE_DAEMON to its address)")
    .requiredOption("--listen <address>", "ipc:///PATH (its directory is made 0700) or tcp://127.0.0.1:PORT (a token is required)")
    .option("--token <token>", "for tcp://: the token clients must present (default: a random one, printed)")
    .option("--log-file <path>", "where the daemon logs (default ~/.trackside/logs/daemon.log)")
    .action(async (opts: { listen: string; token?: string; logFile?: string }) => {
      const { daemon, address, token } = await runDaemon({ listen: opts.listen, token: opts.token, logFile: opts.logFile });
      const shown = token ? `${address}#${token}` : address;
      process.stdout.write(`trackside daemon listening on ${address}\nuse it with: export TRACKSIDE_DAEMON='${shown}'\n`);
      await daemon.closed;
    });
}
