/**
 * Saved views over HTTP: a user's named workspace states of a project, kept on the server so
 * that a view opens from another browser (issue 16, point 4). Each user sees and changes only
 * their own; the project must be readable by them (access rule `project:own`). The state is
 * the web app's JSON object; the server checks only its shape and size.
 *
 * - `GET    /api/v1/views/:entity/:project`      -> `{ views: SavedView[] }`, by name
 * - `POST   /api/v1/views/:entity/:project`      `{ name, state, isDefault? }` -> 201 SavedView
 * - `PUT    /api/v1/views/:entity/:project/:id`  `{ name?, state?, isDefault? }` -> SavedView
 * - `DELETE /api/v1/views/:entity/:project/:id`  -> 204
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { API_PREFIX, type SavedView } from "../../protocol/api.js";
import { errors } from "../../protocol/errors.js";
import type { JsonObject } from "../../protocol/records.js";
import { projectPath } from "./access.js";
import type { AppContext } from "./app-context.js";
import { MAX_VIEW_NAME, MAX_VIEW_STATE_BYTES } from "../store/saved-views.js";
import type { StoredView, ViewChange, ViewScope } from "../store/store.js";
import { fieldsOf } from "./body-fields.js";

const own = { config: { access: "project:own" as const } };

function viewName(value: unknown): string {
  if (typeof value !== "string" || /[\u0000-\u001f\u007f]/.test(value) || value.trim() === "") {
    throw errors.badRequest("name must be a line of text of 1 to 100 characters");
  }
  const name = value.trim();
  if ([...name].length > MAX_VIEW_NAME) throw errors.tooLarge("The view's name", `${[...name].length} characters`, MAX_VIEW_NAME);
  return name;
}

function viewState(value: unknown): JsonObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw errors.badRequest("state must be a JSON object");
  const bytes = Buffer.byteLength(JSON.stringify(value));
  if (bytes > MAX_VIEW_STATE_BYTES) throw errors.tooLarge("The view's state", `${bytes} bytes of JSON`, MAX_VIEW_STATE_BYTES);
  return value as JsonObject;
}

function isDefault(value: unknown): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "boolean") throw errors.badRequest("isDefault must be true or false");
  return value;
}

/** `POST`: `{ name, state, isDefault? }`. */
export function parseNewView(body: unknown): { name: string; state: JsonObject; isDefault: boolean } {
  const b = fieldsOf(body, ["name", "state", "isDefault"]);
  return { name: viewName(b.name), state: viewState(b.state), isDefault: isDefault(b.isDefault) ?? false };
}

/** `PUT`: `{ name?, state?, isDefault? }`; what is left out is kept. */
export function parseViewChange(body: unknown): ViewChange {
  const b = fieldsOf(body, ["name", "state", "isDefault"]);
  return {
    name: b.name === undefined ? undefined : viewName(b.name),
    state: b.state === undefined ? undefined : viewState(b.state),
    isDefault: isDefault(b.isDefault),
  };
}

function toSavedView(v: StoredView): SavedView {
  return { id: String(v.id), name: v.name, state: v.state, isDefault: v.isDefault, createdAt: v.createdAt, updatedAt: v.updatedAt };
}

export function registerViewRoutes(app: FastifyInstance, ctx: AppContext): void {
  /** The asker's views of the route's project (the access hook checked both). */
  async function scopeOf(req: FastifyRequest): Promise<ViewScope> {
    const user = await ctx.user(req);
    const entity = ctx.access(req).entity!;
    return { userId: user.id, entityId: entity.id, project: projectPath(req.params).project };
  }

  /** A view id of the route: ids are positive integers; anything else names no view. */
  function viewId(req: FastifyRequest): number {
    const raw = (req.params as { id: string }).id;
    if (!/^[1-9][0-9]{0,15}$/.test(raw) || !Number.isSafeInteger(Number(raw))) throw errors.notFound(`View ${raw}`);
    return Number(raw);
  }

  const base = `${API_PREFIX}/views/:entity/:project`;

  app.get(base, own, async (req): Promise<{ views: SavedView[] }> => ({ views: (await ctx.store.listViews(await scopeOf(req))).map(toSavedView) }));

  app.post(base, own, async (req, reply): Promise<SavedView> => {
    const view = parseNewView(req.body);
    const saved = await ctx.store.createView(await scopeOf(req), view, ctx.now());
    reply.code(201);
    return toSavedView(saved);
  });

  app.put(`${base}/:id`, own, async (req): Promise<SavedView> => {
    const id = viewId(req);
    const change = parseViewChange(req.body);
    const saved = await ctx.store.updateView(await scopeOf(req), id, change, ctx.now());
    if (!saved) throw errors.notFound(`View ${id}`);
    return toSavedView(saved);
  });

  app.delete(`${base}/:id`, own, async (req, reply): Promise<void> => {
    const id = viewId(req);
    if (!(await ctx.store.deleteView(await scopeOf(req), id))) throw errors.notFound(`View ${id}`);
    reply.code(204);
  });
}
