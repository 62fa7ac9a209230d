/**
 * `trackside login`, `logout` and `whoami`: how a person points a machine at a shared server.
 * login checks a key with the server (`GET /api/v1/viewer`) before it stores it, with the user
 * it belongs to, in ~/.trackside/credentials for that server's URL; the client and every command
 * then use it for that URL, and init() sends runs to that user's entity without asking again.
 */
import type { Command } from "commander";
import type { ViewerView } from "../protocol/api.js";
import { errors } from "../protocol/errors.js";
import { DEFAULT_BASE_URL, credentialsPath, normalizeBaseUrl, removeCredential, writeCredential } from "../protocol/local-config.js";
import { ApiClient, BASE_URL_HELP, signedInConnection } from "./api-client.js";
import { readApiKey, type KeyInput } from "./key-input.js";
import { printable, stdoutIo, terminalJson, type CommandIo } from "./output.js";

/** Where login reads a key it is not given; tests pass their own streams. */
export interface LoginStreams {
  input: KeyInput;
  prompt: NodeJS.WritableStream;
}

/** The server's URL as login and logout store it: --base-url, else TRACKSIDE_BASE_URL, else the local default. */
function baseUrlOf(opts: { baseUrl?: string }, env: NodeJS.ProcessEnv): string {
  const url = normalizeBaseUrl(opts.baseUrl || env.TRACKSIDE_BASE_URL || DEFAULT_BASE_URL);
  if (!/^https?:\/\/[^/]+/.test(url)) throw errors.invalidOption("--base-url", url, "an http:// or https:// URL");
  return url;
}

/** "vision (admin), nlp (viewer)"; "-" for none. Team names come from the server: printable(). */
function teamsLine(teams: ViewerView["teams"]): string {
  return teams.length === 0 ? "-" : teams.map((t) => `${printable(t.name)} (${printable(t.role)})`).join(", ");
}

/**
 * Adds `login`, `logout` and `whoami` to a commander program.
 *
 * @example
 * const program = new Command();
 * registerLoginCommands(program);
 * await program.parseAsync(["node", "trackside", "login", "--base-url", "https://track.example.com"]);
 */
export function registerLoginCommands(
  program: Command,
  io: CommandIo = stdoutIo,
  streams: LoginStreams = { input: process.stdin, prompt: process.stderr },
  env: NodeJS.ProcessEnv = process.env,
): void {
  program
    .command("login")
    .description("check an API key with the server and store it for that server in ~/.trackside/credentials")
    .option("--base-url <url>", BASE_URL_HELP)
    .option("--key <key>", "the API key (else read from stdin, or asked for without echo); visible to other users of this machine while it runs")
    .action(async (opts: { baseUrl?: string; key?: string }) => {
      const baseUrl = baseUrlOf(opts, env);
      const key = await readApiKey(opts, streams.input, streams.prompt);
      if (key === null) {
        process.exitCode = 130; // cancelled at the prompt, as a shell reports Ctrl-C
        return;
      }
      // A key the server refuses is TRK_ERR_UNAUTHORIZED here, and nothing is stored.
      const viewer = await new ApiClient({ baseUrl, apiKey: key }).get<ViewerView>("/viewer");
      const file = writeCredential(baseUrl, { apiKey: key, user: viewer.user }, env);
      io.out(`Logged in to ${baseUrl} as ${printable(viewer.user)}; the key is stored in ${file}.\n`);
    });

  program
    .command("logout")
    .description("forget the API key stored for a server (the key itself stays valid: `trackside keys revoke` ends it)")
    .option("--base-url <url>", BASE_URL_HELP)
    .action((opts: { baseUrl?: string }) => {
      const baseUrl = baseUrlOf(opts, env);
      const file = credentialsPath(env);
      if (removeCredential(baseUrl, env)) io.out(`Logged out of ${baseUrl}: its key was removed from ${file}.\n`);
      else io.out(`Not logged in to ${baseUrl}: ${file} holds no key for it.\n`);
    });

  program
    .command("whoami")
    .description("the user, teams and server that commands and runs use")
    .option("--json", "print the server's answer (GET /api/v1/viewer) with the server's URL")
    .option("--base-url <url>", BASE_URL_HELP)
    .action(async (opts: { baseUrl?: string; json?: boolean }) => {
      const connection = signedInConnection(opts, env);
      const viewer = await new ApiClient(connection).get<ViewerView>("/viewer");
      if (opts.json) return io.out(terminalJson({ ...viewer, server: connection.baseUrl }) + "\n");
      const lines: [string, string][] = [
        ["User", printable(viewer.user)],
        ["Email", viewer.email === null ? "-" : printable(viewer.email)],
        ["Admin", viewer.admin ? "yes (manages accounts)" : "no"],
        ["Teams", teamsLine(viewer.teams)],
        ["Server", connection.baseUrl],
      ];
      io.out(lines.map(([k, v]) => `${(k + ":").padEnd(8)}${v}`).join("\n") + "\n");
    });
}
