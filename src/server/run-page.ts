/**
 * The run overview page (`/:entity/:project/runs/:id`), the W&B "Overview" tab in miniature.
 * Host, OS, Node.js and trackside versions come from the daemon's metadata when it sent them,
 * else from the run record's `program`, which every run has.
 */
import { jsonReplacer, type RunView } from "../protocol/api.js";
import type { JsonObject } from "../protocol/records.js";
import { formatDuration, formatTime, html, page, SafeHtml } from "./html.js";

const text = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : typeof v === "number" ? String(v) : null);

/** A shell-like rendering of a command line: arguments with spaces or quotes get quoted. */
export function formatCommand(program: JsonObject | null): string | null {
  if (!program || typeof program.executable !== "string") return null;
  const args = Array.isArray(program.args) ? program.args.map(String) : [];
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return [program.executable, ...args].map(quote).join(" ");
}

function pretty(obj: JsonObject): SafeHtml {
  if (Object.keys(obj).length === 0) return html`<p>—</p>`;
  return html`<pre>${JSON.stringify(obj, jsonReplacer, 2)}</pre>`;
}

function dl(items: [string, SafeHtml | string | null][]): SafeHtml {
  return html`<dl>${items.map(([k, v]) => html`<dt>${k}</dt><dd>${v ?? "—"}</dd>`)}</dl>`;
}

/**
 * The HTML of a run's overview page.
 *
 * @example
 * sendPage(reply, 200, runPage(await runViewOf(ctx, run), viewer?.name ?? null));
 */
export function runPage(run: RunView, signedInAs: string | null): string {
  const meta = run.metadata;
  const program = (typeof meta.program === "object" && meta.program !== null ? meta.program : null) as JsonObject | null;
  const fact = (key: string) => text(meta[key]) ?? text(program?.[key]);
  const projectHref = `/${encodeURIComponent(run.entity)}/${encodeURIComponent(run.project)}`;
  const tags = run.tags.length ? html`${run.tags.map((t) => html`<span class="tag">${t}</span>`)}` : null;
  const state = html`<span class="state-${run.state}">${run.state}</span>${
    run.exitCode !== null ? html` (exit code ${run.exitCode})` : ""
  }${run.signal ? html` (signal ${run.signal})` : ""}`;
  const created = Date.parse(run.createdAt);

  const body = html`<p><a href="${projectHref}">${run.entity}/${run.project}</a></p>
<h1>${run.name}</h1>
${run.notes ? html`<p>${run.notes}</p>` : ""}
${run.error ? html`<p class="error">${run.error}</p>` : ""}
<h2>Overview</h2>
${dl([
  ["State", state],
  ["Privacy", run.privacy],
  ["Tags", tags],
  ["Author", run.author],
  ["Start time", formatTime(created)],
  ["Duration", formatDuration(run.durationSeconds)],
  ["Run path", run.path],
  ["Host", fact("host")],
  ["OS", fact("os")],
  ["Node.js", fact("nodeVersion")],
  ["Command", formatCommand(program)],
  ["trackside", fact("tracksideVersion")],
  ["Job type", run.jobType],
  ["Group", run.group],
  ["History steps", String(run.historySteps)],
])}
<h2>Config</h2>
${pretty(run.config)}
<h2>Summary</h2>
${pretty(run.summary)}
<h2>Metadata</h2>
${pretty(meta)}`;
  return page(run.name, body, signedInAs);
}
