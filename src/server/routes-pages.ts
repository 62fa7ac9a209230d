/**
 * Server-rendered pages, good enough until the web app exists: the signed-in user's projects,
 * a project's runs, and a run's overview. The same privacy rules as the API apply (access.ts).
 */
import type { FastifyInstance } from "fastify";
import { errors } from "../protocol/errors.js";
import { ownsEntity, projectPath, readableRun, runPath } from "./access.js";
import type { AppContext } from "./app-context.js";
import { formatDuration, formatTime, html, page, sendPage, table } from "./html.js";
import { runViewOf } from "./routes-api.js";
import { runPage } from "./run-page.js";
import { durationSeconds } from "./views.js";

/** The newest runs a project page shows; the API pages through the rest. */
const PROJECT_PAGE_RUNS = 200;

const seg = encodeURIComponent;

export function registerPageRoutes(app: FastifyInstance, ctx: AppContext): void {
  const pageRoute = { config: { html: true } };

  app.get("/", pageRoute, async (req, reply) => {
    const viewer = await ctx.viewer(req);
    if (!viewer) {
      return sendPage(reply, 200, page("Home", html`<h1>trackside</h1><p><a href="/login">Sign in</a> to see your projects.</p>`, null));
    }
    const entities = await ctx.store.entitiesOwnedBy(viewer.id);
    const rows = [];
    for (const e of entities) {
      for (const p of await ctx.store.listProjects(e.name, false)) {
        const href = `/${seg(p.entity)}/${seg(p.name)}`;
        rows.push([html`<a href="${href}">${p.entity}/${p.name}</a>`, html`${p.runCount}`, html`${formatTime(p.lastRunAt)}`]);
      }
    }
    const body = rows.length
      ? table(["Project", "Runs", "Last run"], rows)
      : html`<p>No projects yet. Start a run with <code>trackside.init({ project: "my-project" })</code>.</p>`;
    return sendPage(reply, 200, page("Projects", html`<h1>Projects</h1>${body}`, viewer.name));
  });

  app.get("/:entity/:project", pageRoute, async (req, reply) => {
    const { entity, project } = projectPath(req.params);
    const viewer = await ctx.viewer(req);
    const owner = await ownsEntity(ctx, entity, viewer);
    const list = await ctx.store.listRuns(entity, project, {
      limit: PROJECT_PAGE_RUNS,
      offset: 0,
      sort: "createdAt",
      descending: true,
      publicOnly: !owner,
    });
    if (!list || (!owner && list.total === 0)) throw errors.notFound(`Project ${entity}/${project}`);
    const now = ctx.now();
    const rows = list.runs.map((r) => [
      html`<a href="/${seg(entity)}/${seg(project)}/runs/${seg(r.id)}">${r.name}</a>`,
      html`<code>${r.id}</code>`,
      html`<span class="state-${r.state}">${r.state}</span>`,
      html`${formatTime(r.createdAt)}`,
      html`${formatDuration(durationSeconds(r, now))}`,
      html`${r.tags.map((t) => html`<span class="tag">${t}</span>`)}`,
      html`${r.author}`,
    ]);
    const more = list.total > list.runs.length ? html`<p>Showing the newest ${list.runs.length} of ${list.total} runs.</p>` : "";
    const body = html`<p><a href="/">Projects</a></p><h1>${entity}/${project}</h1>${more}${table(
      ["Name", "ID", "State", "Created", "Duration", "Tags", "Author"],
      rows,
    )}`;
    return sendPage(reply, 200, page(`${entity}/${project}`, body, viewer?.name ?? null));
  });

  app.get("/:entity/:project/runs/:id", pageRoute, async (req, reply) => {
    const viewer = await ctx.viewer(req);
    const run = await readableRun(ctx, runPath(req.params), viewer);
    return sendPage(reply, 200, runPage(await runViewOf(ctx, run), viewer?.name ?? null));
  });
}
