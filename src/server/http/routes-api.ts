/**
 * The JSON read API and the PATCH of a run (docs/api.md). Reads work without a key for public
 * runs; a private run is 404 to anyone without a role in its entity (access.ts).
 */
import type { FastifyInstance } from "fastify";
import {
  API_PREFIX,
  type ConsoleView,
  type HistoryView,
  type RunListItem,
  type RunView,
  type SystemMetricsView,
} from "../../protocol/api.js";
import { errors } from "../../protocol/errors.js";
import type { JsonObject } from "../../protocol/records.js";
import { PACKAGE_VERSION } from "../../protocol/version.js";
import { may, projectPath, runPath } from "./access.js";
import type { AppContext } from "./app-context.js";
import { RoleCache, toArtifactVersionSummary } from "./artifact-views.js";
import { parseConsoleQuery, parseHistoryQuery, parseListRunsQuery, parseRunPatch, parseSystemMetricsQuery } from "./query-params.js";
import type { EntityRole, StoredRun, StoredSystemSample, StoredUser } from "../store/store.js";
import { toProjectView, toRunListItem, toRunView } from "./views.js";
import { addMediaToHistory } from "./routes-media.js";

/**
 * A RunView, counting the run's history rows and console lines, with its unknown and refused
 * records, the artifact versions it logged and used, its media keys, and whether the asker (`user`, of that role
 * in the run's entity) may edit it. The outputs are as visible as the run (a public run's
 * versions are public); an input of another project shows only where the asker may see it.
 */
export async function runViewOf(ctx: AppContext, run: StoredRun, role: EntityRole | null, user: StoredUser | null): Promise<RunView> {
  const [historySteps, consoleLines, unknownRecords, refusals, artifacts, mediaKeys] = await Promise.all([
    ctx.store.countHistory(run.pk),
    ctx.store.countConsole(run.pk),
    ctx.store.unknownRecordCounts(run.pk),
    ctx.store.refusals(run.pk),
    ctx.store.runArtifacts(run.pk),
    ctx.store.runMediaKeys(run.pk),
  ]);
  const inputs = await new RoleCache(ctx, user).seed(run.entity, role).visibleVersions(artifacts.inputs);
  return {
    ...toRunView(run, historySteps, ctx.publicBaseUrl(), ctx.now(), consoleLines, { unknownRecords, refusals }, may(role, "write")),
    artifactOutputs: artifacts.outputs.map(toArtifactVersionSummary),
    artifactInputs: inputs.map(toArtifactVersionSummary),
    mediaKeys,
  };
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

const runRead = { config: { access: "run:read" as const } };

export function registerApiRoutes(app: FastifyInstance, ctx: AppContext): void {
  app.get("/healthz", { config: { auth: "none", access: "anyone" } }, async () => ({ ok: true, version: PACKAGE_VERSION }));

  app.get(`${API_PREFIX}/entities/:entity/projects`, { config: { access: "entity:read" } }, async (req) => {
    const projects = await ctx.store.listProjects(ctx.entity(req).name, !may(ctx.access(req).role, "read"));
    return { projects: projects.map(toProjectView) };
  });

  app.get(`${API_PREFIX}/runs/:entity/:project`, { config: { access: "project:read" } }, async (req): Promise<{ runs: RunListItem[]; total: number }> => {
    const { entity, project } = projectPath(req.params);
    const publicOnly = !may(ctx.access(req).role, "read");
    const page = await ctx.store.listRuns(entity, project, { ...parseListRunsQuery(req.query as Record<string, unknown>, publicOnly), now: ctx.now() });
    if (!page) throw errors.notFound(`Project ${entity}/${project}`);
    const now = ctx.now();
    return { runs: page.runs.map((r) => toRunListItem(r, now)), total: page.total };
  });

  app.get(`${API_PREFIX}/runs/:entity/:project/:id`, runRead, async (req): Promise<RunView> => runViewOf(ctx, ctx.run(req), ctx.access(req).role, await ctx.viewer(req)));

  app.get(`${API_PREFIX}/runs/:entity/:project/:id/history`, runRead, async (req): Promise<HistoryView> => {
    const q = parseHistoryQuery(req.query as Record<string, unknown>);
    const run = ctx.run(req);
    const rows = await ctx.store.readHistory(run.pk, q);
    const view = selectHistory(rows as JsonObject[], q.keys);
    if (q.media) await addMediaToHistory(ctx, run, view, q.keys);
    return view;
  });

  app.get(`${API_PREFIX}/runs/:entity/:project/:id/system`, runRead, async (req): Promise<SystemMetricsView> => {
    const q = parseSystemMetricsQuery(req.query as Record<string, unknown>);
    const run = ctx.run(req);
    const [keys, samples] = await Promise.all([ctx.store.systemMetricKeys(run.pk), ctx.store.readSystemMetrics(run.pk, q)]);
    return { keys, rows: selectSamples(samples, q.keys) };
  });

  app.get(`${API_PREFIX}/runs/:entity/:project/:id/console`, runRead, async (req): Promise<ConsoleView> => {
    const q = parseConsoleQuery(req.query as Record<string, unknown>);
    const run = ctx.run(req);
    if (q.tail !== undefined) return { lines: await ctx.store.tailConsole(run.pk, q.tail), next: null };
    const lines = await ctx.store.readConsole(run.pk, q);
    // A full page may have more behind it; a short one reached the end (for now: a follower
    // asks again with the last seq it got).
    return { lines, next: lines.length === q.limit ? lines[lines.length - 1].seq : null };
  });

  app.patch(`${API_PREFIX}/runs/:entity/:project/:id`, { config: { access: "run:write" } }, async (req): Promise<RunView> => {
    const path = runPath(req.params);
    const patch = parseRunPatch(req.body);
    await ctx.store.patchRun(ctx.run(req).pk, patch);
    const updated = await ctx.store.getRun(path.entity, path.project, path.id);
    if (!updated) throw errors.notFound(`Run ${path.entity}/${path.project}/${path.id}`);
    return runViewOf(ctx, updated, ctx.access(req).role, await ctx.viewer(req));
  });
}
