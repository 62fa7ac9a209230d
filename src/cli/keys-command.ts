/**
 * `trackside keys create|list|revoke`: the signed-in user's own API keys. A new key is printed
 * once (the server keeps only its hash); the list shows each key's id, label and first
 * characters, never the key. A revoked key is refused from the server's next request on.
 */
import type { Command } from "commander";
import type { ApiKeyView, NewApiKeyView } from "../protocol/api.js";
import { errors } from "../protocol/errors.js";
import { ApiClient, BASE_URL_HELP, signedInConnection } from "./api-client.js";
import { formatIsoTime, formatTable, printable, stdoutIo, terminalJson, type CommandIo } from "./output.js";

const json = (value: unknown) => terminalJson(value) + "\n";

/** A key's id as the list shows it: a whole number from 1. */
function parseKeyId(value: string): number {
  const id = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(id) || id < 1) throw errors.invalidOption("ID", value, "a key's id as `trackside keys list` shows it (a whole number)");
  return id;
}

/**
 * Adds `keys` and its subcommands to a commander program.
 *
 * @example
 * const program = new Command();
 * registerKeysCommands(program);
 * await program.parseAsync(["node", "trackside", "keys", "create", "--label", "laptop"]);
 */
export function registerKeysCommands(program: Command, io: CommandIo = stdoutIo, env: NodeJS.ProcessEnv = process.env): void {
  const keys = program.command("keys").description("manage your API keys on the tracking server");
  const api = (opts: { baseUrl?: string }) => new ApiClient(signedInConnection(opts, env));

  keys
    .command("create")
    .description("create an API key and print it (shown once)")
    .option("--label <label>", "what the key is for (e.g. the machine it goes to)")
    .option("--json", "print the server's answer (the key and its id, label and prefix)")
    .option("--base-url <url>", BASE_URL_HELP)
    .action(async (opts: { label?: string; json?: boolean; baseUrl?: string }) => {
      const created = await api(opts).send<NewApiKeyView>("POST", "/keys", opts.label !== undefined ? { label: opts.label } : {});
      if (opts.json) return io.out(json(created));
      const label = created.label === null ? "" : ` (${printable(created.label)})`;
      io.out(`Created API key ${created.id}${label}, shown this once (the server keeps only its hash):\n\n  ${printable(created.key)}\n\n`);
    });

  keys
    .command("list")
    .description("list your API keys (never the keys themselves)")
    .option("--json", "print the server's answer ({keys})")
    .option("--base-url <url>", BASE_URL_HELP)
    .action(async (opts: { json?: boolean; baseUrl?: string }) => {
      const page = await api(opts).get<{ keys: ApiKeyView[] }>("/keys");
      if (opts.json) return io.out(json(page));
      const rows = page.keys.map((k) => [String(k.id), k.label === null ? "-" : printable(k.label), `${printable(k.prefix)}...`, formatIsoTime(k.createdAt), formatIsoTime(k.lastUsedAt)]);
      io.out(formatTable(["ID", "LABEL", "PREFIX", "CREATED", "LAST USED"], rows));
    });

  keys
    .command("revoke")
    .description("revoke one of your API keys: the server refuses it from its next request on")
    .argument("<id>", "the key's id (`trackside keys list`)")
    .option("--base-url <url>", BASE_URL_HELP)
    .action(async (id: string, opts: { baseUrl?: string }) => {
      await api(opts).send<{ ok: true }>("DELETE", `/keys/${parseKeyId(id)}`);
      io.out(`Revoked API key ${id}.\n`);
    });
}
