/**
 * Browser sign-in, until the web app has its own: paste an API key into /login, or open a
 * one-time link minted with the key (`POST /api/v1/auth/login-links`, what a future
 * `trackside login --web` prints). Either way the browser gets a session cookie whose token is
 * stored only as a hash. Every form that signs in or out checks that it came from this
 * server's own page (origin.ts): otherwise another site could sign a visitor into the site's
 * own account (login CSRF) and read what they then upload or view.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { API_PREFIX } from "../../protocol/api.js";
import { errors } from "../../protocol/errors.js";
import type { AppContext } from "./app-context.js";
import {
  clearedSessionCookie,
  hashSecret,
  LOGIN_LINK_TTL_MS,
  mintToken,
  nextPathOf,
  parseCookies,
  safeNextPath,
  SESSION_COOKIE,
  SESSION_TTL_MS,
  sessionCookie,
} from "./auth.js";
import { html, page, sendPage } from "./html.js";
import type { LiveEvents } from "./live-events.js";
import { FORM_TOKEN_FIELD, formToken, formTokenMatches, sameOriginEvidence } from "./origin.js";
import type { StoredUser } from "../store/store.js";

/** Form bodies for POST /login and /logout, parsed as flat string fields. */
export function registerFormParser(app: FastifyInstance): void {
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string", bodyLimit: 64 * 1024 }, (_req, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );
}

/** The hidden field of a form's double-submit token (origin.ts). */
const tokenField = (token: string) => html`<input type="hidden" name="${FORM_TOKEN_FIELD}" value="${token}">`;

function loginPage(next: string, error: string | null, token: string): string {
  return page(
    "Sign in",
    html`<h1>Sign in</h1>
<p>Paste an API key. The local server's key is in <code>~/.trackside/credentials</code>.</p>
${error ? html`<p class="error">${error}</p>` : ""}
<form method="post" action="/login">
  <input type="hidden" name="next" value="${next}">
  ${tokenField(token)}
  <p><label>API key <input type="password" name="apiKey" size="60" autocomplete="off" required autofocus></label></p>
  <p><button type="submit">Sign in</button></p>
</form>`,
    null,
  );
}

const expiredLinkPage = () =>
  page(
    "Link expired",
    html`<h1>This sign-in link is no longer valid</h1>
<p>Sign-in links work once, for 10 minutes. Ask for a new one, or <a href="/login">sign in with an API key</a>.</p>`,
    null,
  );

/**
 * Asked before a login link signs this browser in, unless the person opened the link themselves
 * (see GET /auth/link): it names the account, so a link planted by someone else cannot sign a
 * person into the planter's account unawares (login CSRF).
 */
function confirmLinkPage(user: string, linkToken: string, next: string, token: string): string {
  return page(
    "Sign in",
    html`<h1>Sign in as ${user}?</h1>
<p>This link signs this browser in to trackside as <strong>${user}</strong>. If you did not ask for it, close this page.</p>
<form method="post" action="/auth/link">
  <input type="hidden" name="token" value="${linkToken}">
  <input type="hidden" name="next" value="${next}">
  ${tokenField(token)}
  <p><button type="submit">Sign in as ${user}</button></p>
</form>`,
    null,
  );
}

function logoutPage(token: string): string {
  return page(
    "Sign out",
    html`<h1>Sign out?</h1>
<form method="post" action="/logout">
  ${tokenField(token)}
  <p><button type="submit">Sign out</button></p>
</form>`,
    null,
  );
}

/** The sign-in and sign-out forms check their origin themselves (origin.ts), with no principal. */
const formRoute = { config: { html: true, auth: "none" as const, access: "anyone" as const } };

export function registerAuthRoutes(app: FastifyInstance, ctx: AppContext, live: LiveEvents): void {
  /**
   * Starts a browser session for the user and sends the browser on to `next` (a checked path).
   * `apiKeyId`: the key it was made with, whose revocation ends it too.
   */
  async function startSession(reply: FastifyReply, user: StoredUser, next: string, apiKeyId: number | null): Promise<FastifyReply> {
    const token = mintToken();
    const now = ctx.now();
    await ctx.store.addSession(hashSecret(token), user.id, "session", now + SESSION_TTL_MS, now, apiKeyId);
    return reply.header("set-cookie", sessionCookie(token, ctx.secureCookies())).redirect(next, 303);
  }

  /** A form post from another site, or one without its page's token, is refused. */
  function checkForm(req: FastifyRequest): boolean {
    sameOriginEvidence(req, ctx.publicBaseUrl());
    return formTokenMatches(req, ctx.secureCookies());
  }

  app.get("/login", formRoute, async (req, reply) => {
    const next = safeNextPath((req.query as { next?: unknown }).next);
    return sendPage(reply, 200, loginPage(next, null, formToken(req, reply, ctx.secureCookies())));
  });

  app.post("/login", formRoute, async (req, reply) => {
    const body = (req.body ?? {}) as { apiKey?: unknown; next?: unknown };
    const next = safeNextPath(body.next);
    if (!checkForm(req)) {
      const token = formToken(req, reply, ctx.secureCookies());
      return sendPage(reply, 403, loginPage(next, "This sign-in form has expired or did not come from this server. Please sign in again.", token));
    }
    const key = typeof body.apiKey === "string" ? body.apiKey.trim() : "";
    const user = key ? await ctx.store.userByApiKeyHash(hashSecret(key)) : null;
    if (!user) return sendPage(reply, 401, loginPage(next, "That API key is not valid on this server.", formToken(req, reply, ctx.secureCookies())));
    return startSession(reply, user, next, await ctx.store.credentialKeyId("key", hashSecret(key)));
  });

  app.get("/logout", formRoute, async (req, reply) => sendPage(reply, 200, logoutPage(formToken(req, reply, ctx.secureCookies()))));

  // The web app's "Sign out" button posts here without a token: a modern browser's
  // Sec-Fetch-Site or Origin proves it is this site's page; a request with neither needs the
  // token of GET /logout's form.
  app.post("/logout", formRoute, async (req, reply) => {
    const fromOurPage = sameOriginEvidence(req, ctx.publicBaseUrl());
    if (!fromOurPage && !formTokenMatches(req, ctx.secureCookies())) {
      throw errors.badOrigin("signing out needs the form of /logout (its token was missing)");
    }
    const token = parseCookies(req.headers.cookie)[SESSION_COOKIE];
    if (token) {
      const hash = hashSecret(token);
      await ctx.store.deleteSession(hash);
      // Live streams of this session end now, not at their next event.
      live.endCredential({ kind: "session", hash });
    }
    return reply.header("set-cookie", clearedSessionCookie(ctx.secureCookies())).redirect("/", 303);
  });

  app.post(`${API_PREFIX}/auth/login-links`, { config: { access: "signed-in" } }, async (req) => {
    const user = await ctx.user(req);
    const next = (req.body as { next?: unknown } | undefined)?.next;
    if (next !== undefined && nextPathOf(next) === null) {
      throw errors.badRequest(`next=${JSON.stringify(next)} is not a path on this server (like /alice/mnist: printable ASCII, starting with one /)`);
    }
    const token = mintToken();
    const now = ctx.now();
    // The link, and the session it makes, belong to the key behind this request (a session's own key).
    const { credential } = ctx.principal(req);
    const keyId = credential ? await ctx.store.credentialKeyId(credential.kind, credential.hash) : null;
    await ctx.store.addSession(hashSecret(token), user.id, "login_link", now + LOGIN_LINK_TTL_MS, now, keyId);
    const nextPart = next === undefined ? "" : `&next=${encodeURIComponent(next as string)}`;
    return { url: `${ctx.publicBaseUrl()}/auth/link?token=${token}${nextPart}`, expiresAt: new Date(now + LOGIN_LINK_TTL_MS).toISOString() };
  });

  /**
   * A login link. Opened by the person themselves (pasted, typed, or opened by the CLI: the
   * browser says Sec-Fetch-Site "none", which no web page can make it say), it signs in at
   * once. Reached any other way (a link or redirect on some page, an old browser) it only asks
   * (confirmLinkPage), and the link is used up by that page's same-origin POST. Its `next` is
   * checked first: a bad one is refused without using the link up.
   */
  app.get("/auth/link", formRoute, async (req, reply) => {
    const q = req.query as { token?: unknown; next?: unknown };
    const next = q.next === undefined ? "/" : nextPathOf(q.next);
    if (next === null) return sendPage(reply, 400, badLinkPage());
    if (typeof q.token !== "string") return sendPage(reply, 400, expiredLinkPage());
    const hash = hashSecret(q.token);
    if (req.headers["sec-fetch-site"] === "none") {
      const keyId = await ctx.store.credentialKeyId("session", hash);
      const user = await ctx.store.consumeSession(hash, "login_link", ctx.now());
      return user ? startSession(reply, user, next, keyId) : sendPage(reply, 400, expiredLinkPage());
    }
    const user = await ctx.store.userBySession(hash, "login_link", ctx.now());
    if (!user) return sendPage(reply, 400, expiredLinkPage());
    return sendPage(reply, 200, confirmLinkPage(user.name, q.token, next, formToken(req, reply, ctx.secureCookies())));
  });

  app.post("/auth/link", formRoute, async (req, reply) => {
    const body = (req.body ?? {}) as { token?: unknown; next?: unknown };
    const next = body.next === undefined ? "/" : nextPathOf(body.next);
    if (next === null) return sendPage(reply, 400, badLinkPage());
    if (!checkForm(req)) throw errors.badOrigin("the sign-in form has expired or did not come from this server; open the link again");
    if (typeof body.token !== "string") return sendPage(reply, 400, expiredLinkPage());
    const hash = hashSecret(body.token);
    const keyId = await ctx.store.credentialKeyId("session", hash);
    const user = await ctx.store.consumeSession(hash, "login_link", ctx.now());
    if (!user) return sendPage(reply, 400, expiredLinkPage());
    return startSession(reply, user, next, keyId);
  });
}

const badLinkPage = () =>
  page(
    "Bad link",
    html`<h1>This sign-in link is malformed</h1>
<p>Its <code>next</code> is not a path on this server. The link was not used: open it again without the part after <code>&amp;next=</code>, or ask for a new one.</p>`,
    null,
  );
