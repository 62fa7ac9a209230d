/**
 * Accounts over HTTP, so that every `trackside users|keys|teams` command works against a remote
 * server and any number of replicas: who am I (`/viewer`), accounts (site admins), one's own API
 * keys, teams and their members, entities, and project settings. Each route's `config.access`
 * is its rule (access.ts).
 */
import type { FastifyInstance } from "fastify";
import {
  API_PREFIX,
  type ApiKeyView,
  type EntityView,
  type NewApiKeyView,
  type NewUserView,
  type ProjectSettingsView,
  type TeamListItem,
  type TeamView,
  type UserView,
  type ViewerView,
} from "../../protocol/api.js";
import { errors } from "../../protocol/errors.js";
import { validateEntity } from "../../protocol/ids.js";
import { parseKeyId, parseMemberRole, parseNewKey, parseNewTeam, parseNewUser, parseProjectSettings, parseUserChange } from "./account-bodies.js";
import { may, projectPath } from "./access.js";
import type { AppContext } from "./app-context.js";
import { mintApiKey } from "./auth.js";
import type { LiveEvents } from "./live-events.js";
import type { EntityRole, StoredEntity, StoredUser } from "../store/store.js";
import { toApiKeyView, toTeamMemberView, toUserView } from "./views.js";

/** The entity a user logs to by default: their own. */
export function defaultEntityOf(user: StoredUser): string {
  return user.name;
}

async function teamViewOf(ctx: AppContext, team: StoredEntity, asker: StoredUser): Promise<TeamView> {
  const members = await ctx.store.teamMembers(team.id);
  const role = members.find((m) => m.userId === asker.id)?.role;
  if (!role) throw errors.notFound(`Team ${team.name}`); // they just removed themselves
  return { name: team.name, role, members: members.map(toTeamMemberView) };
}

/** The user named in a route, or TRK_ERR_NOT_FOUND. */
async function namedUser(ctx: AppContext, name: unknown): Promise<StoredUser> {
  const valid = validateEntity(name);
  const user = await ctx.store.getUserByName(valid);
  if (!user) throw errors.notFound(`User ${valid}`);
  return user;
}

const signedIn = { config: { access: "signed-in" as const } };
const siteAdmin = { config: { access: "site-admin" as const } };

export function registerAccountRoutes(app: FastifyInstance, ctx: AppContext, live: LiveEvents): void {
  app.get(`${API_PREFIX}/viewer`, signedIn, async (req): Promise<ViewerView> => {
    const user = await ctx.user(req);
    const teams = await ctx.store.teamsOf(user.id);
    return { user: user.name, entity: defaultEntityOf(user), email: user.email, admin: user.admin, teams: teams.map((t) => ({ name: t.team.name, role: t.role })) };
  });

  // Accounts: site admins only.
  app.get(`${API_PREFIX}/users`, siteAdmin, async (): Promise<{ users: UserView[] }> => ({ users: (await ctx.store.listUsers()).map(toUserView) }));

  app.post(`${API_PREFIX}/users`, siteAdmin, async (req): Promise<NewUserView> => {
    const { name, email, admin } = parseNewUser(req.body);
    const now = ctx.now();
    const user = await ctx.store.createUser(name, now, { email, admin });
    const key = mintApiKey();
    await ctx.store.addApiKey(user.id, key.hash, key.prefix, now, "first key");
    return { user: toUserView(user), apiKey: key.key };
  });

  app.patch(`${API_PREFIX}/users/:name`, siteAdmin, async (req): Promise<UserView> => {
    const change = parseUserChange(req.body);
    const user = await namedUser(ctx, (req.params as { name: unknown }).name);
    const disabledAt = change.disabled === undefined ? undefined : change.disabled ? (user.disabledAt ?? ctx.now()) : null;
    const updated = await ctx.store.updateUser(user.id, { disabledAt, admin: change.admin });
    // Every key and session of a disabled user already answers 401; open streams end now.
    if (updated.disabledAt !== null) live.endUser(updated.id);
    return toUserView(updated);
  });

  // One's own API keys.
  app.get(`${API_PREFIX}/keys`, signedIn, async (req): Promise<{ keys: ApiKeyView[] }> => {
    const user = await ctx.user(req);
    return { keys: (await ctx.store.listApiKeys(user.id)).map(toApiKeyView) };
  });

  app.post(`${API_PREFIX}/keys`, signedIn, async (req): Promise<NewApiKeyView> => {
    const user = await ctx.user(req);
    const { label } = parseNewKey(req.body);
    const key = mintApiKey();
    const stored = await ctx.store.addApiKey(user.id, key.hash, key.prefix, ctx.now(), label);
    return { ...toApiKeyView(stored), key: key.key };
  });

  app.delete(`${API_PREFIX}/keys/:id`, signedIn, async (req) => {
    const user = await ctx.user(req);
    const id = parseKeyId((req.params as { id: unknown }).id);
    const hash = await ctx.store.revokeApiKey(user.id, id);
    if (hash === null) throw errors.notFound(`API key ${id} of user ${user.name}`);
    // Its browser sessions went with it (revokeApiKey); open streams of either end now.
    live.endKey(id);
    return { ok: true };
  });

  // Teams.
  app.get(`${API_PREFIX}/teams`, signedIn, async (req): Promise<{ teams: TeamListItem[] }> => {
    const user = await ctx.user(req);
    const teams = await ctx.store.teamsOf(user.id);
    return { teams: teams.map((t) => ({ name: t.team.name, role: t.role, members: t.members })) };
  });

  app.post(`${API_PREFIX}/teams`, signedIn, async (req): Promise<TeamView> => {
    const user = await ctx.user(req);
    const { name } = parseNewTeam(req.body);
    const team = await ctx.store.createTeam(name, user.id, ctx.now());
    return teamViewOf(ctx, team, user);
  });

  app.get(`${API_PREFIX}/teams/:team`, { config: { access: "team:read" } }, async (req): Promise<TeamView> =>
    teamViewOf(ctx, ctx.entity(req), await ctx.user(req)),
  );

  app.put(`${API_PREFIX}/teams/:team/members/:user`, { config: { access: "team:administer" } }, async (req): Promise<TeamView> => {
    const role = parseMemberRole(req.body);
    const member = await namedUser(ctx, (req.params as { user: unknown }).user);
    const team = ctx.entity(req);
    await ctx.store.setTeamMember(team.id, member.id, role, ctx.now());
    return teamViewOf(ctx, team, await ctx.user(req));
  });

  app.delete(`${API_PREFIX}/teams/:team/members/:user`, { config: { access: "team:administer" } }, async (req): Promise<TeamView | { ok: true }> => {
    const member = await namedUser(ctx, (req.params as { user: unknown }).user);
    const team = ctx.entity(req);
    if (!(await ctx.store.removeTeamMember(team.id, member.id))) throw errors.notFound(`User ${member.name} in team ${team.name}`);
    const asker = await ctx.user(req);
    // An admin who removed themselves sees the team no more.
    return member.id === asker.id ? { ok: true } : teamViewOf(ctx, team, asker);
  });

  // Entities and project settings.
  app.get(`${API_PREFIX}/entities/:entity`, { config: { access: "entity:read" } }, async (req): Promise<EntityView> => {
    const entity = ctx.entity(req);
    const { role } = ctx.access(req);
    return { name: entity.name, kind: entity.kind, role, canWrite: may(role, "write"), canAdminister: may(role, "administer") };
  });

  app.get(`${API_PREFIX}/projects/:entity/:project`, { config: { access: "project:read" } }, async (req) => projectSettingsOf(ctx, req.params, ctx.access(req).role));

  app.patch(`${API_PREFIX}/projects/:entity/:project`, { config: { access: "project:administer" } }, async (req) => {
    const { defaultPrivacy } = parseProjectSettings(req.body);
    const project = (req.params as { project: string }).project;
    if (defaultPrivacy !== undefined) await ctx.store.setProjectDefaultPrivacy(ctx.entity(req).id, project, defaultPrivacy, ctx.now());
    return projectSettingsOf(ctx, req.params, ctx.access(req).role);
  });
}

/** A project's settings as the asker sees them; params were checked by the access hook. */
async function projectSettingsOf(ctx: AppContext, params: unknown, role: EntityRole | null): Promise<ProjectSettingsView> {
  const { entity, project } = projectPath(params);
  const found = await ctx.store.getProject(entity, project);
  return {
    entity,
    name: project,
    defaultPrivacy: found?.defaultPrivacy ?? "private",
    canWrite: may(role, "write"),
    canAdminister: may(role, "administer"),
  };
}
