#!/usr/bin/env node
/** The `trackside` command. */
import { Command } from "commander";
import { PACKAGE_VERSION, isTracksideError } from "../protocol/index.js";
import { registerArtifactsCommands } from "./artifacts-command.js";
import { registerDaemonCommand } from "./daemon-command.js";
import { registerDbCommands } from "./db-command.js";
import { registerImportCommands } from "./wandb-import/index.js";
import { registerKeysCommands } from "./keys-command.js";
import { registerLoginCommands } from "./login-command.js";
import { registerLogsCommand } from "./logs-command.js";
import { registerMediaCommands } from "./media-command.js";
import { printable } from "./output.js";
import { registerRunsCommands } from "./runs-command.js";
import { registerServerCommand } from "./server-command.js";
import { registerSyncCommand } from "./sync-command.js";
import { registerTeamsCommands } from "./teams-command.js";
import { registerUsersCommands } from "./users-command.js";

const program = new Command()
  .name("trackside")
  .description("track machine-learning runs from TypeScript and Node.js")
  .version(PACKAGE_VERSION)
  .showHelpAfterError();

registerServerCommand(program);
registerRunsCommands(program);
registerArtifactsCommands(program);
registerMediaCommands(program);
registerLogsCommand(program);
registerDaemonCommand(program);
registerSyncCommand(program);
registerImportCommands(program);
registerLoginCommands(program);
registerUsersCommands(program);
registerKeysCommands(program);
registerTeamsCommands(program);
registerDbCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  // The message may carry stored or server-sent text (a run's name, the server's own message):
  // control characters are shown as escapes, never sent to the terminal.
  if (isTracksideError(err)) process.stderr.write(`trackside: ${err.code}: ${printable(err.message, true)}\n`);
  else process.stderr.write(`trackside: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exitCode = 1;
});
