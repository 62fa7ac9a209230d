/**
 * Browser sign-in, until the web app has its own: paste an API key into /login, or open a
 * one-time link minted with the key (`POST /api/v1/auth/login-links`, what a future
 * `trackside login --web` prints). Either way the browser gets a session cookie whose token is
 * stored only as a hash.
 */
import type { FastifyInstance, FastifyReply } from "fastify";
import { API_PREFIX } from "../protocol/api.js";
import type { AppContext } from "./app-context.js";
import {
  clearedSessionCookie,
  hashSecret,
  LOGIN_LINK_TTL_MS,
  mintToken,
  parseCookies,
  safeNextPath,
  SESSION_COOKIE,
  SESSION_TTL_MS,
  sessionCookie,
} from "./auth.js";
import { html, page, sendPage } from "./html.js";
import type { StoredUser } from "./store.js";

/** Form bodies for POST /login and /logout, parsed as flat string fields. */
export function registerFormParser(app: FastifyInstance): void {
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string", bodyLimit: 64 * 1024 }, (_req, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );
}

function loginPage(next: string, error: string | null): string {
  return page(
    "Sign in",
    html`<h1>Sign in</h1>
<p>Paste an API key. The local server's key is in <code>~/.trackside/credentials</code>.</p>
${error ? html`<p class="error">${error}</p>` : ""}
<form method="post" action="/login">
  <input type="hidden" name="next" value="${next}">
  <p><label>API key <input type="password" name="apiKey" size="60" autocomplete="off" required autofocus></label></p>
  <p><button type="submit">Sign in</button></p>
</form>`,
    null,
  );
}

export function registerAuthRoutes(app: FastifyInstance, ctx: AppContext): void {
  /** Starts a browser session for the user and sends the browser on to `next`. */
  async function startSession(reply: FastifyReply, user: StoredUser, next: unknown): Promise<FastifyReply> {
    const token = mintToken();
    const now = ctx.now();
    await ctx.store.addSession(hashSecret(token), user.id, "session", now + SESSION_TTL_MS, now);
    return reply.header("set-cookie", sessionCookie(token, ctx.secureCookies())).redirect(safeNextPath(next), 303);
  }

  app.get("/login", { config: { html: true } }, async (req, reply) => {
    const next = safeNextPath((req.query as { next?: unknown }).next);
    return sendPage(reply, 200, loginPage(next, null));
  });

  app.post("/login", { config: { html: true } }, async (req, reply) => {
    const body = (req.body ?? {}) as { apiKey?: unknown; next?: unknown };
    const next = safeNextPath(body.next);
    const key = typeof body.apiKey === "string" ? body.apiKey.trim() : "";
    const user = key ? await ctx.store.userByApiKeyHash(hashSecret(key)) : null;
    if (!user) return sendPage(reply, 401, loginPage(next, "That API key is not valid on this server."));
    return startSession(reply, user, next);
  });

  app.post("/logout", { config: { html: true } }, async (req, reply) => {
    const token = parseCookies(req.headers.cookie)[SESSION_COOKIE];
    if (token) await ctx.store.deleteSession(hashSecret(token));
    return reply.header("set-cookie", clearedSessionCookie(ctx.secureCookies())).redirect("/", 303);
  });

  app.post(`${API_PREFIX}/auth/login-links`, async (req) => {
    const user = await ctx.user(req);
    const token = mintToken();
    const now = ctx.now();
    await ctx.store.addSession(hashSecret(token), user.id, "login_link", now + LOGIN_LINK_TTL_MS, now);
    const next = (req.body as { next?: unknown } | undefined)?.next;
    const nextPart = next === undefined ? "" : `&next=${encodeURIComponent(safeNextPath(next))}`;
    return { url: `${ctx.publicBaseUrl()}/auth/link?token=${token}${nextPart}`, expiresAt: new Date(now + LOGIN_LINK_TTL_MS).toISOString() };
  });

  app.get("/auth/link", { config: { html: true } }, async (req, reply) => {
    const q = req.query as { token?: unknown; next?: unknown };
    const user = typeof q.token === "string" ? await ctx.store.consumeSession(hashSecret(q.token), "login_link", ctx.now()) : null;
    if (!user) {
      return sendPage(
        reply,
        400,
        page("Link expired", html`<h1>This sign-in link is no longer valid</h1>
<p>Sign-in links work once, for 10 minutes. Ask for a new one, or <a href="/login">sign in with an API key</a>.</p>`, null),
      );
    }
    return startSession(reply, user, q.next);
  });
}
