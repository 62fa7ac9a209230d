/**
 * `trackside <args>` run in the test's process with only the commands a test needs registered,
 * their output captured instead of written (CommandIo): no build, no child process.
 */
import { Command } from "commander";
import type { CommandIo } from "../../src/cli/output.js";

/** Registers commands on a program, writing through `io` (registerRunsCommands and its kin). */
export type RegisterCommands = (program: Command, io: CommandIo) => void;

/** Runs `trackside <args>` with `register`'s commands; what they printed. `onOut` sees each write as it happens. */
export async function runCliInProcess(register: RegisterCommands[], args: string[], onOut: (text: string) => void = () => {}): Promise<string> {
  let out = "";
  const io: CommandIo = { out: (t: string) => void ((out += t), onOut(t)) };
  const program = new Command().exitOverride();
  for (const r of register) r(program, io);
  await program.parseAsync(["node", "trackside", ...args]);
  return out;
}
