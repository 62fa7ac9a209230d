/**
 * Minimal server-rendered HTML until the web app exists. Everything interpolated into the
 * `html` template tag is escaped unless it is itself `html` output: safe by default, so run
 * names, tags, notes and config (all user-controlled) can never inject markup or script.
 */
import type { FastifyReply } from "fastify";

/** Markup that is already safe; only the `html` tag makes one. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escapes text for HTML bodies and quoted attribute values. */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function render(v: unknown): string {
  if (v instanceof SafeHtml) return v.value;
  if (Array.isArray(v)) return v.map(render).join("");
  if (v === null || v === undefined || v === false) return "";
  return esc(String(v));
}

/**
 * Template tag that escapes every interpolated value (arrays are joined, null/undefined/false
 * render as nothing).
 *
 * @example
 * html`<td>${run.name}</td>` // a name "<script>" renders as &lt;script&gt;
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1];
  return new SafeHtml(out);
}

const STYLE = `
  body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; color: #1d1d1f; }
  header { display: flex; justify-content: space-between; border-bottom: 1px solid #ddd; margin-bottom: 1rem; }
  a { color: #0b57d0; text-decoration: none; } a:hover { text-decoration: underline; }
  table { border-collapse: collapse; width: 100%; margin: .5rem 0 1.5rem; }
  th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #eee; vertical-align: top; }
  th { background: #fafafa; font-weight: 600; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1.5rem; }
  dt { color: #666; } dd { margin: 0; }
  pre { background: #f6f8fa; padding: .75rem; overflow: auto; border-radius: 4px; }
  .tag { background: #eef; border-radius: 3px; padding: 0 .4rem; margin-right: .3rem; }
  .state-running { color: #0a7; } .state-failed, .state-crashed, .state-killed { color: #c33; }
  .error { color: #c33; }
`;

/** A whole page: title, a header with the signed-in user (or a sign-in link), the body. */
export function page(title: string, body: SafeHtml, user: string | null): string {
  const who = user ? html`signed in as <strong>${user}</strong>` : html`<a href="/login">Sign in</a>`;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · trackside</title><style>${new SafeHtml(STYLE)}</style></head>
<body><header><p><a href="/"><strong>trackside</strong></a></p><p>${who}</p></header>
<main>${body}</main></body></html>`.value;
}

/**
 * Sends a page with headers that contain any mistake: the CSP allows no script at all, and
 * pages may hold private data, so no shared cache keeps them.
 */
export function sendPage(reply: FastifyReply, status: number, markup: string): FastifyReply {
  return reply
    .code(status)
    .header("content-type", "text/html; charset=utf-8")
    .header("content-security-policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    .header("x-content-type-options", "nosniff")
    .header("referrer-policy", "same-origin")
    .header("cache-control", "no-store")
    .send(markup);
}
