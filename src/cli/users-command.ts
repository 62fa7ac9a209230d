/**
 * `trackside users create|list|disable|enable`: accounts on the tracking server, for its site
 * admins (the server's first user is one). Everything goes through the HTTP API, so it works
 * against a remote server as against the local one. A new user's first API key is printed once:
 * the server keeps only its hash.
 */
import type { Command } from "commander";
import type { NewUserView, UserView } from "../protocol/api.js";
import { validateEntity } from "../protocol/ids.js";
import { ApiClient, BASE_URL_HELP, signedInConnection } from "./api-client.js";
import { formatIsoTime, formatTable, printable, stdoutIo, terminalJson, type CommandIo } from "./output.js";

const seg = encodeURIComponent;
const json = (value: unknown) => terminalJson(value) + "\n";
const yesNo = (b: boolean) => (b ? "yes" : "no");

/**
 * Adds `users` and its subcommands to a commander program.
 *
 * @example
 * const program = new Command();
 * registerUsersCommands(program);
 * await program.parseAsync(["node", "trackside", "users", "create", "bob", "--email", "bob@example.com"]);
 */
export function registerUsersCommands(program: Command, io: CommandIo = stdoutIo, env: NodeJS.ProcessEnv = process.env): void {
  const users = program.command("users").description("manage accounts on the tracking server (site admins)");
  const api = (opts: { baseUrl?: string }) => new ApiClient(signedInConnection(opts, env));

  users
    .command("create")
    .description("create a user and print their first API key (shown once)")
    .argument("<name>", "the user's name: also their entity, the owner of their projects")
    .option("--email <email>", "the user's email address")
    .option("--admin", "make them a site admin (they manage accounts; it gives no access to others' runs)")
    .option("--json", "print the server's answer ({user, apiKey})")
    .option("--base-url <url>", BASE_URL_HELP)
    .action(async (name: string, opts: { email?: string; admin?: boolean; json?: boolean; baseUrl?: string }) => {
      const client = api(opts);
      const created = await client.send<NewUserView>("POST", "/users", {
        name: validateEntity(name),
        ...(opts.email !== undefined ? { email: opts.email } : {}),
        ...(opts.admin ? { admin: true } : {}),
      });
      if (opts.json) return io.out(json(created));
      const who = printable(created.user.name);
      io.out(
        `Created ${created.user.admin ? "site admin" : "user"} ${who}. Their API key, shown this once (the server keeps only its hash):\n\n` +
          `  ${printable(created.apiKey)}\n\n` +
          `Give it to ${who}; on their machine: trackside login --base-url ${client.baseUrl}\n`,
      );
    });

  users
    .command("list")
    .description("list every account")
    .option("--json", "print the server's answer ({users})")
    .option("--base-url <url>", BASE_URL_HELP)
    .action(async (opts: { json?: boolean; baseUrl?: string }) => {
      const page = await api(opts).get<{ users: UserView[] }>("/users");
      if (opts.json) return io.out(json(page));
      const rows = page.users.map((u) => [printable(u.name), u.email === null ? "-" : printable(u.email), yesNo(u.admin), yesNo(u.disabled), formatIsoTime(u.createdAt)]);
      io.out(formatTable(["NAME", "EMAIL", "ADMIN", "DISABLED", "CREATED"], rows));
    });

  for (const [verb, disabled] of [["disable", true], ["enable", false]] as const) {
    users
      .command(verb)
      .description(disabled ? "disable a user: their keys and sessions stop working at once; their runs stay" : "undo disable: the user's API keys and sign-in work again")
      .argument("<name>", "the user")
      .option("--json", "print the server's answer (the user)")
      .option("--base-url <url>", BASE_URL_HELP)
      .action(async (name: string, opts: { json?: boolean; baseUrl?: string }) => {
        const user = await api(opts).send<UserView>("PATCH", `/users/${seg(validateEntity(name))}`, { disabled });
        if (opts.json) return io.out(json(user));
        io.out(
          disabled
            ? `Disabled ${printable(user.name)}: their API keys and sessions no longer work; their runs stay.\n`
            : `Enabled ${printable(user.name)}: their API keys work again.\n`,
        );
      });
  }
}
