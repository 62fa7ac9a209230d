/**
 * Who may do what: the server's one access rule (docs/security.md, "Access", has it as a table).
 *
 * A person's role in an entity is "owner" for their own user entity, or their role in a team
 * (admin, member, viewer). Roles allow actions (ROLE_ACTIONS): any role reads, owners, admins
 * and members write (log runs, edit runs), owners and admins administer (project settings, team
 * members). A public run is readable by anyone, signed in or not; nothing else about it changes.
 * Site admins manage accounts; being one grants no role in anyone's entity.
 *
 * Every route declares in `config.access` what it touches (RouteAccess); one hook resolves the
 * rule before the body is read and leaves the resolved entity and run on the request, so a
 * handler cannot forget the check or look the run up a second, unchecked way. A route without a
 * rule is refused when it is registered. What the asker may not read is "not found", never
 * "forbidden": the answer must not reveal that a private run or project exists. What they may
 * read but not change is "forbidden".
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from "fastify";
import { errors } from "../../protocol/errors.js";
import { validateEntity, validateProject, validateRunId } from "../../protocol/ids.js";
import type { AppContext } from "./app-context.js";
import { closeAfterAnswer } from "./limits.js";
import type { EntityRole, StoredEntity, StoredRun, StoredUser } from "../store/store.js";

export type Action = "read" | "write" | "administer";

/** What each role may do in its entity. The one table every check reads. */
export const ROLE_ACTIONS: Readonly<Record<EntityRole, readonly Action[]>> = {
  owner: ["read", "write", "administer"],
  admin: ["read", "write", "administer"],
  member: ["read", "write"],
  viewer: ["read"],
};

/** Whether someone of that role (null: none, or anonymous) may do the action in the entity. */
export function may(role: EntityRole | null, action: Action): boolean {
  return role !== null && ROLE_ACTIONS[role].includes(action);
}

/** Whether someone of that role may read the run: any role, or anyone when it is public. */
export function mayReadRun(run: Pick<StoredRun, "privacy">, role: EntityRole | null): boolean {
  return run.privacy === "public" || may(role, "read");
}

/**
 * What a route touches, and what it does to it (its `config.access`):
 * - `anyone`: nothing of anyone's (health, sign-in forms, the app's assets and shell).
 * - `signed-in`: only the asker's own things (their keys, their teams list).
 * - `site-admin`: accounts.
 * - `entity:read`: `:entity`, as anyone may see it (its public projects).
 * - `entity:write`: logging runs to `:entity` (the run may not exist yet).
 * - `project:read` / `project:administer`: `:entity/:project`.
 * - `project:own`: the asker's own things in `:entity/:project` (saved views): signed in, and
 *   the project readable by them.
 * - `run:read` / `run:write`: `:entity/:project/:id`.
 * - `team:read` / `team:administer`: the team `:team`.
 */
export type RouteAccess =
  | "anyone"
  | "signed-in"
  | "site-admin"
  | "entity:read"
  | "entity:write"
  | "project:read"
  | "project:administer"
  | "project:own"
  | "run:read"
  | "run:write"
  | "team:read"
  | "team:administer";

export const ROUTE_ACCESS: readonly RouteAccess[] = [
  "anyone",
  "signed-in",
  "site-admin",
  "entity:read",
  "entity:write",
  "project:read",
  "project:administer",
  "project:own",
  "run:read",
  "run:write",
  "team:read",
  "team:administer",
];

/** What the access hook found: the asker's role in the entity the route touches, and the run. */
export interface Access {
  role: EntityRole | null;
  entity: StoredEntity | null;
  run: StoredRun | null;
}

/** A route as registered, with its rule (undefined: it has none, and the app will not start). */
export interface RouteRule {
  method: string;
  url: string;
  access: RouteAccess | undefined;
}

declare module "fastify" {
  interface FastifyRequest {
    /** Set by the access hook, before the body is read. */
    access: Access | null;
  }
  interface FastifyInstance {
    /** Every route of the app and its access rule, as fastify registered them (HEAD included). */
    routeRules(): RouteRule[];
  }
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
}

export interface RunPath {
  entity: string;
  project: string;
  id: string;
}

/** Validates `:entity/:project` route params with the protocol's rules (400 with their code). */
export function projectPath(params: unknown): { entity: string; project: string } {
  const p = params as Record<string, unknown>;
  return { entity: validateEntity(p.entity), project: validateProject(p.project) };
}

/** Validates `:entity/:project/:id` route params. */
export function runPath(params: unknown): RunPath {
  const p = params as Record<string, unknown>;
  return { ...projectPath(params), id: validateRunId(p.id) };
}

const who = (user: StoredUser) => `user ${JSON.stringify(user.name)}`;

/** The asker's role in the entity; null when anonymous. */
async function roleOf(ctx: AppContext, entity: StoredEntity, user: StoredUser | null): Promise<EntityRole | null> {
  return user ? ctx.store.roleIn(entity, user.id) : null;
}

function signedIn(user: StoredUser | null): StoredUser {
  if (!user) throw errors.unauthorized();
  return user;
}

/**
 * Resolves a route's rule for the asker (null: anonymous).
 * @throws TRK_ERR_UNAUTHORIZED (no user where one is needed), TRK_ERR_NOT_FOUND (missing, or
 *   hidden from the asker), TRK_ERR_FORBIDDEN (visible, but not the asker's to change).
 */
export async function resolveAccess(ctx: AppContext, rule: RouteAccess, params: unknown, user: StoredUser | null): Promise<Access> {
  const none: Access = { role: null, entity: null, run: null };
  const p = params as Record<string, unknown>;
  switch (rule) {
    case "anyone":
      return none;
    case "signed-in":
      signedIn(user);
      return none;
    case "site-admin":
      if (!signedIn(user).admin) throw errors.forbidden(`managing accounts as ${who(user!)}, who is not a site admin`, "Ask a site admin.");
      return none;
    case "entity:read": {
      const name = validateEntity(p.entity);
      const entity = await ctx.store.getEntity(name);
      if (!entity) throw errors.notFound(`Entity ${name}`);
      return { role: await roleOf(ctx, entity, user), entity, run: null };
    }
    case "entity:write":
      return writableEntity(ctx, validateEntity(p.entity), signedIn(user));
    case "project:read":
    case "project:administer":
    case "project:own": {
      // Whose things they are comes first: anonymous is asked to sign in, whatever the project.
      if (rule === "project:own") signedIn(user);
      const path = projectPath(params);
      const [entity, project] = await Promise.all([ctx.store.getEntity(path.entity), ctx.store.getProject(path.entity, path.project)]);
      const role = entity ? await roleOf(ctx, entity, user) : null;
      if (rule === "project:administer" && entity && may(role, "administer")) return { role, entity, run: null };
      if (!entity || !project || !(may(role, "read") || project.hasPublicRun)) throw errors.notFound(`Project ${path.entity}/${path.project}`);
      if (rule === "project:administer") {
        throw errors.forbidden(`changing the settings of project ${path.entity}/${path.project} as ${who(signedIn(user))}`, "Ask its owner or a team admin.");
      }
      return { role, entity, run: null };
    }
    case "run:read":
    case "run:write": {
      const path = runPath(params);
      const [entity, run] = await Promise.all([ctx.store.getEntity(path.entity), ctx.store.getRun(path.entity, path.project, path.id)]);
      const role = entity ? await roleOf(ctx, entity, user) : null;
      if (!entity || !run || !mayReadRun(run, role)) throw errors.notFound(`Run ${path.entity}/${path.project}/${path.id}`);
      // Visible (public, or the asker is a team viewer): saying "forbidden" reveals nothing new.
      if (rule === "run:write" && !may(role, "write")) {
        throw errors.forbidden(`changing run ${path.entity}/${path.project}/${path.id} as ${who(signedIn(user))}`, "Only its entity's owner, team admins and members may.");
      }
      return { role, entity, run };
    }
    case "team:read":
    case "team:administer": {
      const name = validateEntity(p.team);
      const entity = await ctx.store.getEntity(name);
      const role = entity?.kind === "team" ? await roleOf(ctx, entity, user) : null;
      if (!entity || role === null) throw errors.notFound(`Team ${name}`);
      if (rule === "team:administer" && !may(role, "administer")) {
        throw errors.forbidden(`changing the members of team ${name} as ${who(user!)}, a ${role}`, "Ask one of the team's admins.");
      }
      return { role, entity, run: null };
    }
  }
}

/**
 * The entity a user may log runs to: their own, or a team where they are an admin or member.
 * A user's own entity is created on first use if it has no row (users from before entities).
 * Anything else is TRK_ERR_FORBIDDEN, whether the entity exists or not: an upload's answer
 * reveals nothing about the runs in it.
 */
export async function writableEntity(ctx: AppContext, name: string, user: StoredUser): Promise<Access> {
  let entity = await ctx.store.getEntity(name);
  if (!entity && name === user.name) entity = await ctx.store.ensureEntity(name, user.id);
  const role = entity ? await ctx.store.roleIn(entity, user.id) : null;
  if (!entity || !may(role, "write")) {
    throw errors.forbidden(
      `logging runs to entity ${JSON.stringify(name)} as ${who(user)}, who is not ${entity?.kind === "team" ? "an admin or member of that team" : "its user"}`,
      "Log to your own entity, or ask a team admin to add you (`trackside teams add TEAM USER --role member`).",
    );
  }
  return { role, entity, run: null };
}

/**
 * Resolves every request's rule in `onRequest`, after the auth hook and before the body is read
 * (an upload a user may not make is refused without reading it). An app with a route that
 * declares no rule fails to start (`ready()` throws naming the route).
 */
export function registerAccessHook(app: FastifyInstance, ctx: AppContext): void {
  app.decorateRequest("access", null);
  // Checked once every route is in: a plugin's scope may still set the rule of its routes in an
  // onRoute hook of its own, which runs after this one (routes-web.ts, the static assets).
  const routes: RouteOptions[] = [];
  app.addHook("onRoute", (route) => void routes.push(route));
  app.decorate("routeRules", (): RouteRule[] =>
    routes.flatMap((r) => (Array.isArray(r.method) ? r.method : [r.method]).map((method) => ({ method, url: r.url, access: r.config?.access }))),
  );
  app.addHook("onReady", async () => {
    for (const route of routes) {
      const rule = route.config?.access;
      if (rule === undefined || !ROUTE_ACCESS.includes(rule)) {
        throw new Error(`route ${String(route.method)} ${route.url} declares no access rule (config.access; see access.ts)`);
      }
    }
  });
  app.addHook("onRequest", async (req: FastifyRequest, reply: FastifyReply) => {
    const rule = req.routeOptions.config?.access;
    if (rule === undefined) return; // the not-found handler: no route, nothing to reach
    try {
      req.access = await resolveAccess(ctx, rule, req.params, req.principal?.user ?? null);
    } catch (err) {
      closeAfterAnswer(req, reply);
      throw err;
    }
  });
}
