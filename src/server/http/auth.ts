/**
 * Who is asking: API keys (Bearer, or HTTP Basic `api:KEY` as W&B's clients send them) for programs, a session cookie for browsers. Secrets are
 * stored only as sha256 hashes, so a copy of the database grants nobody access. sha256 without
 * a salt is enough here because every secret is 32 random bytes, not a password to brute-force.
 */
import { createHash, randomBytes } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { errors } from "../../protocol/errors.js";
import { closeAfterAnswer } from "./limits.js";
import type { Store, StoredUser } from "../store/store.js";

export const API_KEY_PREFIX = "trk_";
export const SESSION_COOKIE = "trackside_session";
/** Browser sessions last 30 days, the common default of web apps that stay signed in. */
export const SESSION_TTL_MS = 30 * 24 * 3600 * 1000;
/** A login link is valid 10 minutes: long enough to switch to the browser, short if it leaks. */
export const LOGIN_LINK_TTL_MS = 10 * 60 * 1000;
/** How many characters of a key are kept in clear for display ("trk_AbCd..."). */
const KEY_DISPLAY_PREFIX = 8;

/** sha256 hex of a secret: what the store keeps instead of it. */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** 32 random bytes, base64url: a session or login-link token. */
export function mintToken(): string {
  return randomBytes(32).toString("base64url");
}

const KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/** 43 characters of 62: 256 bits, as many as the 32 random bytes of a session token. */
export const API_KEY_CHARS = 43;

/**
 * `count` characters of [A-Za-z0-9], each uniform: a random byte is used only below 248 (4 x 62),
 * so no character is likelier than another.
 */
function randomAlphanumeric(count: number): string {
  let out = "";
  while (out.length < count) {
    for (const b of randomBytes(count)) {
      if (b < 248 && out.length < count) out += KEY_ALPHABET[b % 62];
    }
  }
  return out;
}

/**
 * A new API key, its hash and its display prefix. Only `hash` and `prefix` go to the store.
 * Keys are `trk_` and 43 characters of [A-Za-z0-9]: no `-`, so that other tools' key checks
 * (W&B's takes what follows the first `-` and wants 40 or more of [A-Za-z0-9_-]) accept them.
 *
 * @example
 * const { key, hash, prefix } = mintApiKey(); // key: "trk_" + 43 letters and digits
 * await store.addApiKey(user.id, hash, prefix);
 */
export function mintApiKey(): { key: string; hash: string; prefix: string } {
  const key = API_KEY_PREFIX + randomAlphanumeric(API_KEY_CHARS);
  return { key, hash: hashSecret(key), prefix: key.slice(0, KEY_DISPLAY_PREFIX) };
}

/** Parses a Cookie header into name -> value (first one wins, as browsers send the most specific first). */
export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (!name || name in out) continue;
    const raw = part.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1");
    try {
      out[name] = decodeURIComponent(raw);
    } catch {
      out[name] = raw;
    }
  }
  return out;
}

/**
 * The Set-Cookie value of a session: HttpOnly so page scripts cannot read it, SameSite=Lax so
 * other sites' forms and fetches do not carry it, Secure when the server is served over https.
 */
export function sessionCookie(token: string, secure: boolean, maxAgeMs = SESSION_TTL_MS): string {
  const attrs = [`${SESSION_COOKIE}=${token}`, "Path=/", "HttpOnly", "SameSite=Lax", `Max-Age=${Math.floor(maxAgeMs / 1000)}`];
  if (secure) attrs.push("Secure");
  return attrs.join("; ");
}

/** A Set-Cookie value that removes the session cookie. */
export function clearedSessionCookie(secure: boolean): string {
  return sessionCookie("", secure, 0);
}

/** What a request presents to say who it is: an API key or a session cookie, by its hash. */
export type Credential = { kind: "key"; hash: string } | { kind: "session"; hash: string };

function bearerKey(header: string): string | null {
  return /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] ?? null;
}

/**
 * The key of HTTP Basic credentials with the user `api`: how W&B's clients send their key
 * (`Basic base64("api:" + key)`, docs/wandb.md), so that they log into trackside unmodified.
 * Any other user name is refused rather than ignored: it is no credential trackside knows.
 */
function basicKey(header: string): string | null {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return null;
  const decoded = Buffer.from(m[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0 || decoded.slice(0, colon) !== "api") return null;
  const key = decoded.slice(colon + 1);
  return key.length > 0 ? key : null;
}

/**
 * The credential a request presents, or null for an anonymous one. A malformed Authorization
 * header is TRK_ERR_UNAUTHORIZED, not anonymous: falling back would turn a typo into a
 * confusing "not found".
 */
export function credentialOf(req: FastifyRequest): Credential | null {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const key = bearerKey(header) ?? basicKey(header);
    if (key === null) throw errors.unauthorized();
    return { kind: "key", hash: hashSecret(key) };
  }
  const token = parseCookies(req.headers.cookie)[SESSION_COOKIE];
  return token ? { kind: "session", hash: hashSecret(token) } : null;
}

/**
 * The user a credential stands for now, or null: a revoked key, an expired or signed-out
 * session, a disabled user. Live streams ask again on each event (live-events.ts), so a sign-out ends them.
 */
export async function userOf(store: Store, credential: Credential | null, now: number): Promise<StoredUser | null> {
  if (!credential) return null;
  if (credential.kind === "key") return store.userByApiKeyHash(credential.hash, now);
  return store.userBySession(credential.hash, "session", now);
}

/** Who a request is: its credential and the user it stands for (null: anonymous). */
export interface Principal {
  credential: Credential | null;
  user: StoredUser | null;
}

/**
 * Who is behind a request. A request that presents a key must present a good one
 * (TRK_ERR_UNAUTHORIZED otherwise). A stale session cookie, in contrast, just means signed out.
 */
export async function principalOf(store: Store, req: FastifyRequest, now: number): Promise<Principal> {
  const credential = credentialOf(req);
  const user = await userOf(store, credential, now);
  if (credential?.kind === "key" && !user) throw errors.unauthorized();
  // A browser sends the cookie with any request to this site, a forged one from another site
  // too (a form post, SameSite=Lax aside). Only a script of this origin can add a custom
  // header (another origin's fetch would need a CORS preflight, which this server never grants).
  if (user && credential?.kind === "session" && !SAFE_METHODS.has(req.method) && req.headers[CSRF_HEADER] !== "1") {
    throw errors.forbidden(`changing something with a session cookie but without the header "${CSRF_HEADER}: 1" (the web app sends it; programs send a key)`);
  }
  return { credential, user };
}

/**
 * How a route authenticates, in its `config.auth`. By default a route that changes something
 * (POST, PATCH, ...) needs a user and one that reads takes anonymous too, so a new write route
 * is closed until it says otherwise. "none": the route does its own checking (the sign-in
 * forms, /healthz) and sees no principal.
 */
export type RouteAuth = "user" | "viewer" | "none";

declare module "fastify" {
  interface FastifyRequest {
    /** Set by the auth hook before the body is read; null on routes with `auth: "none"`. */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
}

/**
 * Resolves every request's principal in `onRequest`, before its body is read: an anonymous
 * write is refused with 401 without the server reading (or buffering) a byte of its body, and
 * every route then asks the same resolved principal (AppContext.viewer/user).
 */
export function registerAuthHook(app: FastifyInstance, store: Store, now: () => number): void {
  app.decorateRequest("principal", null);
  app.addHook("onRequest", async (req, reply) => {
    const auth = req.routeOptions.config?.auth ?? (SAFE_METHODS.has(req.method) ? "viewer" : "user");
    if (auth === "none") return;
    try {
      const principal = await principalOf(store, req, now());
      if (auth === "user" && !principal.user) throw errors.unauthorized();
      req.principal = principal;
    } catch (err) {
      closeAfterAnswer(req, reply);
      throw err;
    }
  });
}

/** The header that every cookie-authenticated request that changes something must carry. */
export const CSRF_HEADER = "x-trackside";
/** Methods that change nothing: they may come anonymous, and a cookie needs no CSRF header. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * A path on this site to go to after signing in, or null when `next` is not one. Only "/x"
 * forms of printable ASCII pass: "//host" and "/\\host" are protocol-relative URLs to another
 * site in browsers (an open redirect), and a control or non-ASCII character (U+2028, say)
 * cannot go into a Location header. Browsers send paths percent-encoded, so nothing real is lost.
 */
export function nextPathOf(next: unknown): string | null {
  if (typeof next !== "string" || !/^\/(?![/\\])[\x21-\x7e]*$/.test(next)) return null;
  return next;
}

/** `next` if it is a path on this site (nextPathOf), else "/". */
export function safeNextPath(next: unknown): string {
  return nextPathOf(next) ?? "/";
}
