/**
 * Who is asking: API keys (Bearer) for programs, a session cookie for browsers. Secrets are
 * stored only as sha256 hashes, so a copy of the database grants nobody access. sha256 without
 * a salt is enough here because every secret is 32 random bytes, not a password to brute-force.
 */
import { createHash, randomBytes } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { errors } from "../protocol/errors.js";
import type { Store, StoredUser } from "./store.js";

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

/**
 * A new API key, its hash and its display prefix. Only `hash` and `prefix` go to the store.
 *
 * @example
 * const { key, hash, prefix } = mintApiKey(); // key: "trk_" + 43 base64url characters
 * await store.addApiKey(user.id, hash, prefix);
 */
export function mintApiKey(): { key: string; hash: string; prefix: string } {
  const key = API_KEY_PREFIX + randomBytes(32).toString("base64url");
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

/**
 * The user behind a request, or null for an anonymous one. A request that presents a key must
 * present a good one (TRK_ERR_UNAUTHORIZED otherwise): falling back to anonymous would turn a
 * typo into a confusing "not found". A stale session cookie, in contrast, just means signed out.
 */
export async function viewerOf(store: Store, req: FastifyRequest, now: number): Promise<StoredUser | null> {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw errors.unauthorized();
    const user = await store.userByApiKeyHash(hashSecret(m[1]));
    if (!user) throw errors.unauthorized();
    return user;
  }
  const token = parseCookies(req.headers.cookie)[SESSION_COOKIE];
  if (!token) return null;
  const user = await store.userBySession(hashSecret(token), "session", now);
  // A browser sends the cookie with any request to this site, a forged one from another site
  // too (a form post, SameSite=Lax aside). Only a script of this origin can add a custom
  // header (another origin's fetch would need a CORS preflight, which this server never grants).
  if (user && !SAFE_METHODS.has(req.method) && req.headers[CSRF_HEADER] !== "1") {
    throw errors.forbidden(`changing something with a session cookie but without the header "${CSRF_HEADER}: 1" (the web app sends it; programs send a key)`);
  }
  return user;
}

/** The header that every cookie-authenticated request that changes something must carry. */
export const CSRF_HEADER = "x-trackside";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Like viewerOf, but anonymous is TRK_ERR_UNAUTHORIZED. */
export async function requireUser(store: Store, req: FastifyRequest, now: number): Promise<StoredUser> {
  const user = await viewerOf(store, req, now);
  if (!user) throw errors.unauthorized();
  return user;
}

/**
 * `next` if it is a path on this site, else "/". Only "/x" forms pass: "//host" and "/\host"
 * are protocol-relative URLs to another site in browsers (an open redirect).
 */
export function safeNextPath(next: unknown): string {
  if (typeof next !== "string" || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return "/";
  if (/[\u0000-\u001f\u007f]/.test(next)) return "/";
  return next;
}
