/**
 * `trackside logs ENTITY/PROJECT/ID [--follow]`: a run's console output, as `kubectl logs` shows
 * a pod's. stdout and stderr lines come out merged in the order the run wrote them, each as it
 * was written, on stdout (so `> file` and `| grep` see all of it, like W&B's output.log);
 * `--timestamps` prefixes each line with its time and stream. Control characters (colours
 * included) are shown as escapes (output.ts printable()), since a run's output is text any
 * process chose; `--raw` prints them as written, for runs one trusts. Failures are thrown as
 * TracksideErrors; main.ts prints their code and exits 1.
 */
import type { Command } from "commander";
import type { ConsoleLineView, ConsoleView, RunView } from "../protocol/api.js";
import { errors } from "../protocol/errors.js";
import { ApiClient, resolveConnection } from "./api-client.js";
import { printable, stdoutIo, type CommandIo } from "./output.js";
import { parseRunsPath } from "./runs-command.js";

/** The most lines one request asks for (the server's maximum). */
const PAGE_LINES = 10_000;

export interface LogsCommandOptions {
  /** How long --follow waits between polls; tests shorten it. */
  pollIntervalMs?: number;
}

interface LogsOptions {
  follow?: boolean;
  tail?: string;
  timestamps?: boolean;
  raw?: boolean;
  baseUrl?: string;
}

const seg = encodeURIComponent;

function formatLine(line: ConsoleLineView, timestamps: boolean, raw: boolean): string {
  const text = raw ? line.text : printable(line.text, true);
  if (!timestamps) return `${text}\n`;
  return `${new Date(line.at).toISOString()} ${line.stream.padEnd(6)} ${text}\n`;
}

/**
 * Adds `logs` to a commander program.
 *
 * @example
 * const program = new Command();
 * registerLogsCommand(program);
 * await program.parseAsync(["node", "trackside", "logs", "alice/mnist/a1b2c3d4", "--follow"]);
 */
export function registerLogsCommand(program: Command, io: CommandIo = stdoutIo, options: LogsCommandOptions = {}): void {
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  program
    .command("logs")
    .description("print a run's console output (stdout and stderr, in the order written)")
    .argument("<entity/project/id>", "the run path, e.g. alice/mnist/a1b2c3d4")
    .option("-f, --follow", "keep printing new lines until the run is no longer running")
    .option("--tail <n>", "only the last n lines (then, with --follow, what comes after them)")
    .option("--timestamps", "prefix each line with its time (ISO 8601) and stream")
    .option("--raw", "print control characters (colours, cursor moves) as written instead of as escapes: only for runs you trust")
    .option("--base-url <url>", "tracking server (default: TRACKSIDE_BASE_URL or http://127.0.0.1:8421)")
    .action(async (path: string, opts: LogsOptions) => {
      const { entity, project, id } = parseRunsPath(path, true);
      const api = new ApiClient(resolveConnection(opts));
      const runUrl = `/runs/${seg(entity)}/${seg(project)}/${seg(id as string)}`;
      const tail = opts.tail === undefined ? undefined : Number(opts.tail);
      if (tail !== undefined && !(Number.isInteger(tail) && tail >= 1 && tail <= PAGE_LINES)) {
        throw errors.invalidOption("--tail", opts.tail, `a whole number of lines from 1 to ${PAGE_LINES}`);
      }
      let after = -1;
      const print = (page: ConsoleView) => {
        if (page.lines.length === 0) return;
        io.out(page.lines.map((l) => formatLine(l, opts.timestamps === true, opts.raw === true)).join(""));
        after = page.lines[page.lines.length - 1].seq;
      };

      /** Prints every line after `after`, page by page. */
      const drain = async () => {
        for (;;) {
          const page = await api.get<ConsoleView>(`${runUrl}/console`, { after, limit: PAGE_LINES });
          print(page);
          if (page.next === null) return;
        }
      };

      if (tail !== undefined) {
        print(await api.get<ConsoleView>(`${runUrl}/console`, { tail }));
        if (!opts.follow) return;
      }

      for (;;) {
        // The state is read before the lines: a run that ended has uploaded its last lines
        // before its exit record, so the drain after seeing it ended gets them all.
        const running = opts.follow ? (await api.get<RunView>(runUrl)).state === "running" : false;
        await drain();
        if (!running) return;
        await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
      }
    });
}
