/**
 * The web app: its built files (src/web, built by Vite into dist/web) and the pages that open
 * it, `/`, `/settings`, `/:entity`, `/:entity/:project`, `/:entity/:project/runs/:id` and the artifact
 * pages `/:entity/:project/artifacts[/:name[/:alias]]`, plus the read routes only
 * the app uses (the viewer's projects, downsampled history). A page answers the app's shell
 * only when the viewer may see what it names: a hidden or missing run or project is the same
 * 404 page as before, so the shell never reveals that something private exists.
 *
 * Assets are served by @fastify/static: content types, ETags, ranges and path-traversal safety
 * are its tested job, not ours. Vite names every asset by its content hash, so they are cached
 * for a year (immutable); the shell is never cached, so a new build is picked up at once.
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyReply } from "fastify";
import { API_PREFIX, type HistoryBucketsBatchView, type HistoryBucketsView, type ProjectView } from "../../protocol/api.js";
import { errors } from "../../protocol/errors.js";
import { validateRunId } from "../../protocol/ids.js";
import { mayReadRun, projectPath, type RouteAccess } from "./access.js";
import type { AppContext } from "./app-context.js";
import { MAX_BUCKETS } from "../store/history-buckets.js";
import { html, page as htmlPage } from "./html.js";
import type { HistoryAxis, HistoryBucketsQuery } from "../store/store.js";
import { toHistoryBucketsView, toProjectView } from "./views.js";

/** dist/web, from dist/src/server/http (the built server) or from src/server/http (tests run the sources). */
export function defaultWebRoot(): string | null {
  for (const rel of ["../../../web/", "../../../dist/web/"]) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${dir}index.html`)) return dir;
  }
  return null;
}

/**
 * The app may run scripts and styles of this origin only, and talk to this origin only; images
 * come from here too, or from the artifact store's presigned URLs (`imageOrigins`: media logged
 * to an S3 store). uPlot sizes its elements with style attributes, hence 'unsafe-inline' for
 * styles (not scripts).
 */
export function appCsp(imageOrigins: readonly string[]): string {
  return (
    `default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src ${["'self'", "data:", ...imageOrigins].join(" ")}; connect-src 'self'; ` +
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
  );
}

function sendShell(reply: FastifyReply, shell: string, csp: string): FastifyReply {
  return reply
    .code(200)
    .header("content-type", "text/html; charset=utf-8")
    .header("content-security-policy", csp)
    .header("x-content-type-options", "nosniff")
    .header("referrer-policy", "same-origin")
    .header("cache-control", "no-store")
    .send(shell);
}

const AXES: readonly HistoryAxis[] = ["step", "time", "runtime"];

/** `?key=&x=&xKey=&buckets=&from=&to=` of a downsampled history request. */
export function parseBucketsQuery(q: Record<string, unknown>): HistoryBucketsQuery {
  const key = typeof q.key === "string" ? q.key : "";
  if (key === "") throw errors.badRequest("key is missing: name the metric to downsample (key=loss)");
  const x = (q.x === undefined || q.x === "" ? "step" : String(q.x)) as HistoryAxis;
  if (!AXES.includes(x)) throw errors.badRequest(`x=${String(q.x)} is not one of ${AXES.join(", ")}`);
  const num = (name: string): number | undefined => {
    const raw = q[name];
    if (raw === undefined || raw === "") return undefined;
    const n = Number(raw);
    if (!Number.isFinite(n)) throw errors.badRequest(`${name}=${String(raw)} is not a number`);
    return n;
  };
  const buckets = num("buckets") ?? 1000;
  if (!Number.isInteger(buckets) || buckets < 1 || buckets > MAX_BUCKETS) {
    throw errors.badRequest(`buckets=${String(q.buckets)} is not an integer from 1 to ${MAX_BUCKETS}`);
  }
  const xKey = typeof q.xKey === "string" && q.xKey !== "" ? q.xKey : undefined;
  return { key, x, ...(xKey === undefined ? {} : { xKey }), buckets, from: num("from"), to: num("to") };
}

/**
 * At most this many runs in one batched buckets request: a workspace shows the latest 10 runs by
 * default and a person compares a few dozen at most; 100 runs of 1,000 buckets is about 15 MB of
 * JSON, as much as one answer should be. The app splits a longer list into several requests.
 */
export const MAX_BATCH_RUNS = 100;

/**
 * `?runs=a,b&key=&x=&xKey=&buckets=&from=&to=` of a batched buckets request: the runs, and the
 * query for each (`from` is one number for all, or a comma list with one entry per run, an empty
 * entry meaning none: a live refresh asks each run for the points after the last one it holds).
 */
export function parseBatchBucketsQuery(q: Record<string, unknown>): { runs: string[]; queries: HistoryBucketsQuery[] } {
  const raw = typeof q.runs === "string" ? q.runs : "";
  if (raw === "") throw errors.badRequest("runs is missing: name the runs, comma-separated (runs=a1b2c3d4,e5f6g7h8)");
  const runs = raw.split(",").map((id) => validateRunId(id));
  if (new Set(runs).size !== runs.length) throw errors.badRequest(`runs=${raw} names a run twice: name each run once`);
  if (runs.length > MAX_BATCH_RUNS) {
    throw errors.badRequest(`runs names ${runs.length} runs, more than ${MAX_BATCH_RUNS} in one request: split them into several requests`);
  }
  const froms = typeof q.from === "string" && q.from.includes(",") ? q.from.split(",") : null;
  if (froms && froms.length !== runs.length) {
    throw errors.badRequest(`from has ${froms.length} entries for ${runs.length} runs: give one number for all, or one entry per run (empty for none)`);
  }
  const base = parseBucketsQuery({ ...q, from: froms ? undefined : q.from });
  const queries = runs.map((_, i) => (froms ? parseBucketsQuery({ ...q, from: froms[i] }) : base));
  return { runs, queries };
}

export interface WebRoutesOptions {
  /** Where the built app lies (index.html and assets/); null or missing: a page says to build it. */
  webRoot?: string | null;
}

export function registerWebRoutes(app: FastifyInstance, ctx: AppContext, options: WebRoutesOptions = {}): void {
  const root = options.webRoot === undefined ? defaultWebRoot() : options.webRoot;
  const shell =
    root !== null && existsSync(`${root}/index.html`)
      ? readFileSync(`${root}/index.html`, "utf8")
      : htmlPage(
          "Web app not built",
          html`<h1>The web app is not built</h1><p>Run <code>npm run build</code>, then restart the server.</p>`,
          null,
        );
  if (root !== null && existsSync(`${root}/assets`)) {
    // @fastify/static takes no route config: its routes get their rule here, in a scope of their own.
    app.register(async (scope) => {
      scope.addHook("onRoute", (route) => {
        route.config = { ...route.config, auth: "none", access: "anyone" };
      });
      await scope.register(fastifyStatic, { root: `${root}/assets`, prefix: "/assets/", decorateReply: false, immutable: true, maxAge: "365d", index: false });
    });
  }

  const csp = appCsp(ctx.blobs.downloadOrigins);
  const page = (access: RouteAccess) => ({ config: { html: true, access } });
  app.get("/", page("anyone"), async (_req, reply) => sendShell(reply, shell, csp));
  // The account page: the app itself asks for the key list, and says to sign in when it gets a 401.
  app.get("/settings", page("anyone"), async (_req, reply) => sendShell(reply, shell, csp));
  app.get("/:entity", page("entity:read"), async (_req, reply) => sendShell(reply, shell, csp));
  app.get("/:entity/:project", page("project:read"), async (_req, reply) => sendShell(reply, shell, csp));
  app.get("/:entity/:project/runs/:id", page("run:read"), async (_req, reply) => sendShell(reply, shell, csp));
  // The artifact pages: the project's rule, as the API routes they read (a version no public run
  // logged is then a 404 of the API to others, shown on the page; the shell names nothing).
  app.get("/:entity/:project/artifacts", page("project:read"), async (_req, reply) => sendShell(reply, shell, csp));
  app.get("/:entity/:project/artifacts/:name", page("project:read"), async (_req, reply) => sendShell(reply, shell, csp));
  app.get("/:entity/:project/artifacts/:name/:alias", page("project:read"), async (_req, reply) => sendShell(reply, shell, csp));

  app.get(`${API_PREFIX}/viewer/projects`, { config: { access: "signed-in" } }, async (req): Promise<{ projects: ProjectView[] }> => {
    const user = await ctx.user(req);
    const projects: ProjectView[] = [];
    for (const e of await ctx.store.entitiesOf(user.id)) {
      for (const p of await ctx.store.listProjects(e.name, false)) projects.push(toProjectView(p));
    }
    return { projects };
  });

  app.get(`${API_PREFIX}/runs/:entity/:project/:id/history/buckets`, { config: { access: "run:read" } }, async (req): Promise<HistoryBucketsView> => {
    const q = parseBucketsQuery(req.query as Record<string, unknown>);
    return toHistoryBucketsView(await ctx.store.historyBuckets(ctx.run(req).pk, q));
  });

  // One panel's runs in one request: the project's rule lets the request in, then each run is
  // checked as `run:read` checks it (a run the asker may not read is "not found", like a missing one).
  app.get(`${API_PREFIX}/runs/:entity/:project/history/buckets`, { config: { access: "project:read" } }, async (req): Promise<HistoryBucketsBatchView> => {
    const { entity, project } = projectPath(req.params);
    const { runs, queries } = parseBatchBucketsQuery(req.query as Record<string, unknown>);
    const role = ctx.access(req).role;
    const found = await Promise.all(runs.map((id) => ctx.store.getRun(entity, project, id)));
    const out: HistoryBucketsBatchView = { runs: {}, notFound: [] };
    for (let i = 0; i < runs.length; i++) {
      const run = found[i];
      if (!run || !mayReadRun(run, role)) out.notFound.push(runs[i]);
      else out.runs[runs[i]] = toHistoryBucketsView(await ctx.store.historyBuckets(run.pk, queries[i]));
    }
    return out;
  });
}
