/**
 * Who may see and change what. The rules (docs/api.md, "Privacy"): an entity's owner sees and
 * changes everything in it; anyone else, signed in or not, sees only public runs. A private run
 * is "not found" to everyone else, never "forbidden": the answer must not reveal it exists.
 */
import { errors } from "../protocol/errors.js";
import { validateEntity, validateProject, validateRunId } from "../protocol/ids.js";
import type { AppContext } from "./app-context.js";
import type { StoredEntity, StoredRun, StoredUser } from "./store.js";

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

/** True when the viewer owns the run's entity. */
export function ownsRun(run: StoredRun, viewer: StoredUser | null): boolean {
  return viewer !== null && viewer.id === run.entityOwnerUserId;
}

export function canReadRun(run: StoredRun, viewer: StoredUser | null): boolean {
  return run.privacy === "public" || ownsRun(run, viewer);
}

/** Whether the viewer owns the named entity (false for an entity that does not exist). */
export async function ownsEntity(ctx: AppContext, entity: string, viewer: StoredUser | null): Promise<boolean> {
  if (!viewer) return false;
  const e = await ctx.store.getEntity(entity);
  return e !== null && e.ownerUserId === viewer.id;
}

/** The run if the viewer may read it; TRK_ERR_NOT_FOUND when it is missing or hidden alike. */
export async function readableRun(ctx: AppContext, path: RunPath, viewer: StoredUser | null): Promise<StoredRun> {
  const run = await ctx.store.getRun(path.entity, path.project, path.id);
  if (!run || !canReadRun(run, viewer)) throw errors.notFound(`Run ${path.entity}/${path.project}/${path.id}`);
  return run;
}

/** The run if the viewer may change it; others get the same 404 as for reading. */
export async function ownedRun(ctx: AppContext, path: RunPath, viewer: StoredUser): Promise<StoredRun> {
  const run = await readableRun(ctx, path, viewer);
  // A public run of someone else: it is visible, so saying "forbidden" reveals nothing new.
  if (!ownsRun(run, viewer)) throw errors.forbidden(`changing run ${path.entity}/${path.project}/${path.id}, which is not yours`);
  return run;
}

/**
 * The entity a user may write runs to. A user's own name is always theirs: its entity is
 * created on first use, so a fresh key can log at once without any set-up.
 */
export async function writableEntity(ctx: AppContext, name: string, user: StoredUser): Promise<StoredEntity> {
  let entity = await ctx.store.getEntity(name);
  if (!entity && name === user.name) entity = await ctx.store.ensureEntity(name, user.id);
  if (!entity || entity.ownerUserId !== user.id) {
    throw errors.forbidden(`writing runs to entity ${JSON.stringify(name)}, which is not owned by user ${JSON.stringify(user.name)}`);
  }
  return entity;
}
