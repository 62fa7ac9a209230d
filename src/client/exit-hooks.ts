/**
 * Ends the active run on every way out of the process, without changing how the process ends:
 *
 * - the event loop drains: `beforeExit` finishes the run (exit code = process.exitCode or 0);
 * - `process.exit(n)` or an uncaught exception / unhandled rejection: `exit` spills what the
 *   daemon does not have yet, with the final state, synchronously; the daemon takes it in when
 *   it sees the process gone;
 * - SIGINT, SIGTERM, SIGHUP that the user does not handle: the run is spilled as killed, then the
 *   process dies of the same signal, as it would have without trackside.
 *
 * `beforeExit` fires again after the work started in it: the run's finish() is idempotent.
 */
import type { Run } from "./run.js";

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

let installed = false;
let current: () => Run | null = () => null;
let lastError: string | null = null;

function errorText(err: unknown): string {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  try {
    return `non-error thrown: ${JSON.stringify(err)}`;
  } catch {
    return `non-error thrown: ${String(err)}`;
  }
}

export function installExitHooks(activeRun: () => Run | null): void {
  current = activeRun;
  if (installed) return;
  installed = true;

  process.on("beforeExit", () => {
    const run = current();
    if (run && !run.isFinished) void run.finish(typeof process.exitCode === "number" ? process.exitCode : 0);
  });

  // A monitor only observes: Node's own handling of the error (print, exit 1) is unchanged.
  process.on("uncaughtExceptionMonitor", (err) => {
    lastError = errorText(err);
  });

  process.on("exit", (code) => {
    const run = current();
    if (!run) return;
    run.spillOnExit(code === 0 ? "finished" : "failed", code, null, code === 0 ? null : lastError);
  });

  for (const sig of SIGNALS) {
    const onSignal = (): void => {
      // The user handles this signal: their handler decides; `exit` catches the rest.
      if (process.listenerCount(sig) > 1) return;
      const run = current();
      run?.spillOnExit("killed", null, sig, null);
      process.removeListener(sig, onSignal);
      process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}
