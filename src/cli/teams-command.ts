/**
 * `trackside teams create|add|remove|list|show`: teams are entities that several users log runs
 * into. Whoever creates a team is its admin; team admins add people with a role (admin: runs and
 * members; member: logs and edits runs; viewer: reads), change roles and remove people.
 */
import type { Command } from "commander";
import { TEAM_ROLES, type TeamListItem, type TeamRole, type TeamView } from "../protocol/api.js";
import { errors } from "../protocol/errors.js";
import { validateEntity } from "../protocol/ids.js";
import { ApiClient, BASE_URL_HELP, signedInConnection } from "./api-client.js";
import { formatIsoTime, formatTable, printable, stdoutIo, terminalJson, type CommandIo } from "./output.js";

const seg = encodeURIComponent;
const json = (value: unknown) => terminalJson(value) + "\n";

function parseRole(value: string): TeamRole {
  if (!(TEAM_ROLES as readonly string[]).includes(value)) throw errors.invalidOption("--role", value, `one of ${TEAM_ROLES.join(", ")}`);
  return value as TeamRole;
}

/** A team's members as a table, in the order the server lists them. */
function membersTable(team: TeamView): string {
  return formatTable(
    ["USER", "ROLE", "ADDED"],
    team.members.map((m) => [printable(m.user), printable(m.role), formatIsoTime(m.addedAt)]),
  );
}

/**
 * Adds `teams` and its subcommands to a commander program.
 *
 * @example
 * const program = new Command();
 * registerTeamsCommands(program);
 * await program.parseAsync(["node", "trackside", "teams", "add", "vision", "bob", "--role", "member"]);
 */
export function registerTeamsCommands(program: Command, io: CommandIo = stdoutIo, env: NodeJS.ProcessEnv = process.env): void {
  const teams = program.command("teams").description("create teams and manage their members");
  const api = (opts: { baseUrl?: string }) => new ApiClient(signedInConnection(opts, env));

  teams
    .command("create")
    .description("create a team; you become its admin")
    .argument("<name>", "the team's name: an entity, like a user's (users and teams share one namespace)")
    .option("--json", "print the server's answer (the team)")
    .option("--base-url <url>", BASE_URL_HELP)
    .action(async (name: string, opts: { json?: boolean; baseUrl?: string }) => {
      const team = await api(opts).send<TeamView>("POST", "/teams", { name: validateEntity(name) });
      if (opts.json) return io.out(json(team));
      io.out(`Created team ${printable(team.name)}; you are its admin. Add people with: trackside teams add ${printable(team.name)} USER --role member\n`);
    });

  teams
    .command("add")
    .description("add a user to a team, or change their role (team admins)")
    .argument("<team>", "the team")
    .argument("<user>", "the user")
    .option("--role <role>", `${TEAM_ROLES.join(", ")}: admin manages members; member logs and edits runs; viewer reads`, "member")
    .option("--json", "print the server's answer (the team)")
    .option("--base-url <url>", BASE_URL_HELP)
    .action(async (teamName: string, user: string, opts: { role: string; json?: boolean; baseUrl?: string }) => {
      const role = parseRole(opts.role);
      const team = await api(opts).send<TeamView>("PUT", `/teams/${seg(validateEntity(teamName))}/members/${seg(validateEntity(user))}`, { role });
      if (opts.json) return io.out(json(team));
      io.out(`${printable(user)} is now ${role === "admin" ? "an" : "a"} ${role} of ${printable(team.name)}.\n`);
    });

  teams
    .command("remove")
    .description("remove a user from a team (team admins; a team keeps at least one admin)")
    .argument("<team>", "the team")
    .argument("<user>", "the user")
    .option("--json", "print the server's answer (the team)")
    .option("--base-url <url>", BASE_URL_HELP)
    .action(async (teamName: string, user: string, opts: { json?: boolean; baseUrl?: string }) => {
      const team = await api(opts).send<TeamView>("DELETE", `/teams/${seg(validateEntity(teamName))}/members/${seg(validateEntity(user))}`);
      if (opts.json) return io.out(json(team));
      io.out(`Removed ${printable(user)} from ${printable(team.name)}.\n`);
    });

  teams
    .command("list")
    .description("list your teams, with your role and their member count")
    .option("--json", "print the server's answer ({teams})")
    .option("--base-url <url>", BASE_URL_HELP)
    .action(async (opts: { json?: boolean; baseUrl?: string }) => {
      const page = await api(opts).get<{ teams: TeamListItem[] }>("/teams");
      if (opts.json) return io.out(json(page));
      io.out(formatTable(["TEAM", "ROLE", "MEMBERS"], page.teams.map((t) => [printable(t.name), printable(t.role), String(t.members)])));
    });

  teams
    .command("show")
    .description("list a team's members and their roles (for its members)")
    .argument("<team>", "the team")
    .option("--json", "print the server's answer (the team)")
    .option("--base-url <url>", BASE_URL_HELP)
    .action(async (teamName: string, opts: { json?: boolean; baseUrl?: string }) => {
      const team = await api(opts).get<TeamView>(`/teams/${seg(validateEntity(teamName))}`);
      if (opts.json) return io.out(json(team));
      io.out(`Team ${printable(team.name)} (your role: ${printable(team.role)})\n\n${membersTable(team)}`);
    });
}
