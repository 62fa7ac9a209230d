/**
 * The JSON read API and the PATCH of a run (docs/api.md). Reads work without a key for public
 * runs; a private run is 404 to anyone but its entity's owner (access.ts).
 */
import type { FastifyInstance } from "fastify";
import {
  API_PREFIX,
  type ConsoleView,
  type HistoryView,
  type RunListItem,
  type RunView,
  type SystemMetricsView,
  type ViewerView,
} from "../protocol/api.js";
import { errors } from "../protocol/errors.js";
import { validateEntity } from "../protocol/ids.js";
import type { JsonObject } from "../protocol/records.js";
import { PACKAGE_VERSION } from "../protocol/version.js";
import { ownedRun, ownsEntity, projectPath, readableRun, runPath } from "./access.js";
import type { AppContext } from "./app-context.js";
import { parseConsoleQuery, parseHistoryQuery, parseListRunsQuery, parseRunPatch, parseSystemMetricsQuery } from "./query-params.js";
import type { StoredRun, StoredSystemSample, StoredUser } from "./store.js";
import { toProjectView, toRunListItem, toRunView } from "./views.js";

/** The entity a user logs to by default: the one of their own name, else the first they own. */
export async function defaultEntityOf(ctx: AppContext, user: StoredUser): Promise<string> {
  const owned = await ctx.store.entitiesOwnedBy(user.id);
  return (owned.find((e) => e.name === user.name) ?? owned[0])?.name ?? user.name;
}

/** A RunView, counting the run's history rows and console lines, with its unknown and refused records. */
export async function runViewOf(ctx: AppContext, run: StoredRun): Promise<RunView> {
  const [historySteps, consoleLines, unknownRecords, refusals] = await Promise.all([
    ctx.store.countHistory(run.pk),
    ctx.store.countConsole(run.pk),
    ctx.store.unknownRecordCounts(run.pk),
    ctx.store.refusals(run.pk),
  ]);
  return toRunView(run, historySteps, ctx.publicBaseUrl(), ctx.now(), consoleLines, { unknownRecords, refusals });
}

/** Picks `_step` and the chosen keys of each row; with no keys chosen, every key. */
function selectHistory(rows: JsonObject[], keys: string[] | null): HistoryView {
  if (keys === null) {
    const seen = new Set<string>();
    for (const row of rows) for (const k of Object.keys(row)) if (k !== "_step") seen.add(k);
    return { keys: [...seen], rows };
  }
  const picked = rows.map((row) => {
    const out: JsonObject = { _step: row._step };
    for (const k of keys) if (k in row) out[k] = row[k];
    return out;
  });
  return { keys, rows: picked };
}

/** `at` and the chosen values of each sample; with no keys chosen, every value. */
function selectSamples(samples: StoredSystemSample[], keys: string[] | null): SystemMetricsView["rows"] {
  return samples.map(({ at, values }) => {
    if (keys === null) return { at, ...values };
    const row: SystemMetricsView["rows"][number] = { at };
    for (const k of keys) if (k in values) row[k] = values[k];
    return row;
  });
}

export function registerApiRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get("/healthz", { config: { auth: "none" } }, async () => ({ ok: true, version: PACKAGE_VERSION }));

  app.get(`${API_PREFIX}/viewer`, async (req): Promise<ViewerView> => {
    const user = await ctx.user(req);
    return { user: user.name, entity: await defaultEntityOf(ctx, user), email: null, admin: false, teams: [] };
  });

  app.get(`${API_PREFIX}/entities/:entity/projects`, async (req) => {
    const entity = validateEntity((req.params as { entity: unknown }).entity);
    const viewer = await ctx.viewer(req);
    if (!(await ctx.store.getEntity(entity))) throw errors.notFound(`Entity ${entity}`);
    const publicOnly = !(await ownsEntity(ctx, entity, viewer));
    const projects = await ctx.store.listProjects(entity, publicOnly);
    return { projects: projects.map(toProjectView) };
  });

  app.get(`${API_PREFIX}/runs/:entity/:project`, async (req): Promise<{ runs: RunListItem[]; total: number }> => {
    const { entity, project } = projectPath(req.params);
    const viewer = await ctx.viewer(req);
    const owner = await ownsEntity(ctx, entity, viewer);
    const page = await ctx.store.listRuns(entity, project, { ...parseListRunsQuery(req.query as Record<string, unknown>, !owner), now: ctx.now() });
    // A project holding only private runs does not exist for anyone but the owner.
    if (!page || (!owner && page.total === 0)) throw errors.notFound(`Project ${entity}/${project}`);
    const now = ctx.now();
    return { runs: page.runs.map((r) => toRunListItem(r, now)), total: page.total };
  });

  app.get(`${API_PREFIX}/runs/:entity/:project/:id`, async (req): Promise<RunView> => {
    const run = await readableRun(ctx, runPath(req.params), await ctx.viewer(req));
    return runViewOf(ctx, run);
  });

  app.get(`${API_PREFIX}/runs/:entity/:project/:id/history`, async (req): Promise<HistoryView> => {
    const q = parseHistoryQuery(req.query as Record<string, unknown>);
    const run = await readableRun(ctx, runPath(req.params), await ctx.viewer(req));
    const rows = await ctx.store.readHistory(run.pk, q);
    return selectHistory(rows as JsonObject[], q.keys);
  });

  app.get(`${API_PREFIX}/runs/:entity/:project/:id/system`, async (req): Promise<SystemMetricsView> => {
    const q = parseSystemMetricsQuery(req.query as Record<string, unknown>);
    const run = await readableRun(ctx, runPath(req.params), await ctx.viewer(req));
    const [keys, samples] = await Promise.all([ctx.store.systemMetricKeys(run.pk), ctx.store.readSystemMetrics(run.pk, q)]);
    return { keys, rows: selectSamples(samples, q.keys) };
  });

  app.get(`${API_PREFIX}/runs/:entity/:project/:id/console`, async (req): Promise<ConsoleView> => {
    const q = parseConsoleQuery(req.query as Record<string, unknown>);
    const run = await readableRun(ctx, runPath(req.params), await ctx.viewer(req));
    if (q.tail !== undefined) return { lines: await ctx.store.tailConsole(run.pk, q.tail), next: null };
    const lines = await ctx.store.readConsole(run.pk, q);
    // A full page may have more behind it; a short one reached the end (for now: a follower
    // asks again with the last seq it got).
    return { lines, next: lines.length === q.limit ? lines[lines.length - 1].seq : null };
  });

  app.patch(`${API_PREFIX}/runs/:entity/:project/:id`, async (req): Promise<RunView> => {
    const user = await ctx.user(req);
    const path = runPath(req.params);
    const patch = parseRunPatch(req.body);
    const run = await ownedRun(ctx, path, user);
    await ctx.store.patchRun(run.pk, patch);
    const updated = await ctx.store.getRun(path.entity, path.project, path.id);
    if (!updated) throw errors.notFound(`Run ${path.entity}/${path.project}/${path.id}`);
    return runViewOf(ctx, updated);
  });
}
