/**
 * `trackside db copy --from <data dir> --to postgresql://...`: moves a single-machine server's
 * SQLite database into PostgreSQL, for a server (or several replicas) started with `--database`
 * on it (server/db-copy/copy-to-postgres.ts says what is copied and how a rerun resumes).
 *
 * Progress goes to stderr, as `trackside sync` prints it: a bar redrawn in place on a terminal,
 * a line per table otherwise (a log file must not fill with redraws). The table of what was
 * copied goes to stdout once every count is verified.
 */
import type { Command } from "commander";
import { copySqliteToPostgres, parseDatabaseUrl, redactDatabaseUrl, type CopyProgress } from "../server/index.js";
import { formatTable, stdoutIo, type CommandIo } from "./output.js";

/** Characters of the bar. */
const BAR_WIDTH = 30;
/** Redraws per second at most on a terminal: each costs a write. */
const REDRAW_MS = 100;

interface CopyCommandOptions {
  from: string;
  to?: string;
}

export function registerDbCommands(program: Command, io: CommandIo = stdoutIo): void {
  const db = program.command("db").description("move a server's database");
  db.command("copy")
    .description("copy a SQLite server's data directory into a PostgreSQL database (stop the server first; rerun it after an interruption)")
    .requiredOption("--from <data-dir>", "the SQLite server's data directory (holding trackside.db; only read)")
    .option("--to <url>", "the PostgreSQL database, postgresql://user:password@host:5432/db (default: TRACKSIDE_DATABASE_URL)")
    .action(async (opts: CopyCommandOptions) => {
      const url = parseDatabaseUrl(opts.to ?? process.env.TRACKSIDE_DATABASE_URL ?? "", "--to");
      const bar = progressBar(process.stderr);
      let result;
      try {
        result = await copySqliteToPostgres({ from: opts.from, to: url, onProgress: bar.update });
      } finally {
        bar.end();
      }
      io.out(
        formatTable(
          ["TABLE", "ROWS", "COPIED NOW"],
          result.tables.map((t) => [t.table, String(t.rows), String(t.inserted)]),
        ),
      );
      const rows = result.tables.reduce((n, t) => n + t.rows, 0);
      io.out(`copied ${rows} rows of ${result.tables.length} tables to ${redactDatabaseUrl(url)}; every count verified\n`);
      if (result.runsWithoutChunks > 0) {
        process.stderr.write(
          `trackside: ${result.runsWithoutChunks} run(s) from before SQLite's column chunks (schema version 5) were copied with their history rows, but their charts are empty on PostgreSQL\n`,
        );
      }
    });
}

/** The progress line: a bar per table on a terminal, one line per finished table otherwise. */
function progressBar(stream: NodeJS.WriteStream): { update: (p: CopyProgress) => void; end: () => void } {
  const tty = stream.isTTY === true;
  let drawn = 0;
  let shown = false;
  return {
    update(p) {
      const finished = p.tableDone === p.tableRows;
      if (!tty) {
        if (finished && p.phase === "copy") stream.write(`copied ${p.table}: ${p.tableRows} rows (${p.done} of ${p.total})\n`);
        if (finished && p.phase === "check") stream.write(`checked ${p.table}: ${p.tableRows} rows already in the target, as in the source\n`);
        return;
      }
      const now = Date.now();
      if (!finished && now - drawn < REDRAW_MS) return;
      drawn = now;
      const share = p.total === 0 ? 1 : p.done / p.total;
      const full = Math.round(share * BAR_WIDTH);
      stream.write(`\r\x1b[K[${"#".repeat(full)}${"-".repeat(BAR_WIDTH - full)}] ${Math.floor(share * 100)}% ${p.phase === "check" ? "checking" : "copying"} ${p.table} ${p.tableDone}/${p.tableRows}`);
      shown = true;
    },
    end() {
      if (tty && shown) stream.write("\r\x1b[K");
    },
  };
}
