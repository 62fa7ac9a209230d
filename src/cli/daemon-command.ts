/** `trackside daemon --listen ADDRESS`: a standalone daemon in the foreground, for shared machines. */
import { Option, type Command } from "commander";
import { errors } from "../protocol/index.js";
import { runDaemon } from "../daemon/index.js";

export function registerDaemonCommand(program: Command): void {
  program
    .command("daemon")
    .description("run a standalone daemon in the foreground that clients share (set TRACKSIDE_DAEMON to its address)")
    .requiredOption("--listen <address>", "ipc:///PATH (its directory is made 0700) or tcp://127.0.0.1:PORT (a token is required)")
    .option("--token-file <path>", "for tcp://: a file (chmod 600) holding the token clients must present; or set TRACKSIDE_DAEMON_TOKEN (default: a random one, printed)")
    // Refused with a pointer to the above: a command line is readable by every user (/proc/PID/cmdline).
    .addOption(new Option("--token <token>").hideHelp())
    .option("--log-file <path>", "where the daemon logs (default ~/.trackside/logs/daemon.log)")
    .action(async (opts: { listen: string; token?: string; tokenFile?: string; logFile?: string }) => {
      if (opts.token !== undefined) {
        throw errors.invalidOption("--token", "(not shown)", "--token-file PATH or TRACKSIDE_DAEMON_TOKEN: a token on the command line is readable by every user of the machine");
      }
      const { daemon, address, token } = await runDaemon({ listen: opts.listen, token: process.env.TRACKSIDE_DAEMON_TOKEN, tokenFile: opts.tokenFile, logFile: opts.logFile });
      const shown = token ? `${address}#${token}` : address;
      process.stdout.write(`trackside daemon listening on ${address}\nuse it with: export TRACKSIDE_DAEMON='${shown}'\n`);
      await daemon.closed;
    });
}
