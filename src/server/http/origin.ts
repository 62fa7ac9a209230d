/**
 * Where a request comes from, for the checks that a key or a cookie cannot make alone:
 *
 * - the `Host` it names must be one of the server's own addresses (its `--public-url`, or the
 *   loopback address it listens on): a DNS-rebinding page on another name is refused, and
 *   absolute links built from the public URL are never sent to a host that is not it;
 * - a browser form that signs in or out (login CSRF) must come from one of the server's own
 *   pages: the browser's `Sec-Fetch-Site` or `Origin` header must say so, and the form must
 *   carry the token that its page put both in a hidden field and in a cookie (double submit).
 *
 * Sec-Fetch-Site and Origin are set by the browser and cannot be forged by a page; a request
 * with neither comes from a program or a very old browser, which the token still covers.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { errors } from "../../protocol/errors.js";
import { parseCookies } from "./auth.js";
import { closeAfterAnswer } from "./limits.js";

/** The form field and cookie of the double-submit token. */
export const FORM_TOKEN_FIELD = "csrf";
const FORM_TOKEN_COOKIE = "trackside_csrf";
/** Over https the cookie takes the `__Host-` prefix: no sibling subdomain can plant its own. */
const SECURE_FORM_TOKEN_COOKIE = "__Host-trackside_csrf";

/** Only these characters may form a Host header: a name or address and a port, nothing like "a@b". */
const HOST_SYNTAX = /^[A-Za-z0-9.\-[\]:]+$/;

/** Names of this machine that the CLI and the daemon use to reach a local server. */
const LOOPBACK_NAMES = ["127.0.0.1", "localhost", "[::1]"];

/** True for 127.0.0.0/8, ::1 and "localhost": a server only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "");
  if (h === "localhost" || h === "::1") return true;
  return isIP(h) === 4 && h.startsWith("127.");
}

/**
 * The base URLs whose hosts a request may name. With a public URL: it, and the loopback names
 * of the listening port (a reverse proxy on this machine often forwards with its own Host).
 * Without one, on a loopback address: the loopback names, which is how the CLI, the daemon and a
 * local browser reach it. On any other address without a public URL the server cannot know its
 * names, so nothing is checked (null); docs/api.md says to pass --public-url there.
 */
export function allowedHosts(listenHost: string, port: number, publicUrl: string | undefined): URL[] | null {
  const loopback = LOOPBACK_NAMES.map((name) => new URL(`http://${name}:${port}`));
  if (publicUrl !== undefined) return [new URL(publicUrl), ...loopback];
  return isLoopbackHost(listenHost) ? [new URL(`http://${listenHost.includes(":") ? `[${listenHost}]` : listenHost}:${port}`), ...loopback] : null;
}

/**
 * Whether a Host header names one of the allowed base URLs (its default port counts as given).
 * A loopback name passes with any port: a page that rebinds its own DNS name to 127.0.0.1 still
 * sends that name, never a loopback one, and a proxy on this machine (another port) forwards
 * with its own (measured: a test's proxy in front of the server was refused before).
 */
export function hostAllowed(host: string | undefined, allowed: readonly URL[]): boolean {
  if (!host || !HOST_SYNTAX.test(host)) return false;
  if (isLoopbackHost(host.replace(/:\d+$/, ""))) return true;
  return allowed.some((base) => urlOrNull(`${base.protocol}//${host}`)?.host === base.host);
}

/**
 * Refuses, first of all and before any body is read, a request whose Host is not one of the
 * server's (TRK_ERR_BAD_ORIGIN). `allowed` returns null when nothing is to be checked.
 */
export function registerHostCheck(app: FastifyInstance, allowed: () => readonly URL[] | null): void {
  app.addHook("onRequest", async (req, reply) => {
    const hosts = allowed();
    if (hosts && !hostAllowed(req.headers.host, hosts)) {
      closeAfterAnswer(req, reply);
      throw errors.badOrigin(`the Host header ${JSON.stringify(req.headers.host ?? "")} is not this server's address`);
    }
  });
}

/**
 * Whether the browser says the request comes from a page of this server: true when
 * `Sec-Fetch-Site` or `Origin` says so, false when the request carries neither (a program, an
 * old browser), TRK_ERR_BAD_ORIGIN when either names another site (or the opaque "null"). "none" is a navigation the
 * user made (the address bar, a bookmark, a link opened by another program), not a page's.
 */
export function sameOriginEvidence(req: FastifyRequest, publicBaseUrl: string): boolean {
  const site = req.headers["sec-fetch-site"];
  if (site !== undefined) {
    if (site === "same-origin" || site === "none") return true;
    throw errors.badOrigin(`the browser says this request came from a ${JSON.stringify(site)} page`);
  }
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  const from = urlOrNull(origin === "null" ? "" : origin);
  // The page's origin is the public URL's, or names the Host this request went to (checked
  // against the server's addresses by registerHostCheck): another site's page names its own.
  const sentTo = from && urlOrNull(`${from.protocol}//${req.headers.host ?? ""}`);
  const ours = from !== null && (from.origin === new URL(publicBaseUrl).origin || from.host === sentTo?.host);
  if (!ours) throw errors.badOrigin(`the form was sent from ${JSON.stringify(origin)}, not from this server's pages`);
  return true;
}

function urlOrNull(text: string): URL | null {
  try {
    return new URL(text);
  } catch {
    return null;
  }
}

function cookieName(secure: boolean): string {
  return secure ? SECURE_FORM_TOKEN_COOKIE : FORM_TOKEN_COOKIE;
}

/**
 * The form token for a page that holds a form: the browser's current one, or a new one set as a
 * cookie on the reply. The cookie is HttpOnly and SameSite=Strict, and lasts as long as the
 * browser session, so a form left open in a tab still works.
 */
export function formToken(req: FastifyRequest, reply: FastifyReply, secure: boolean): string {
  const name = cookieName(secure);
  const current = parseCookies(req.headers.cookie)[name];
  if (current && /^[A-Za-z0-9_-]{43}$/.test(current)) return current;
  const token = randomBytes(32).toString("base64url");
  reply.header("set-cookie", [`${name}=${token}`, "Path=/", "HttpOnly", "SameSite=Strict", ...(secure ? ["Secure"] : [])].join("; "));
  return token;
}

/** Whether a posted form carries the token of the browser's cookie (compared in constant time). */
export function formTokenMatches(req: FastifyRequest, secure: boolean): boolean {
  const sent = (req.body as Record<string, unknown> | undefined)?.[FORM_TOKEN_FIELD];
  const kept = parseCookies(req.headers.cookie)[cookieName(secure)];
  if (typeof sent !== "string" || !kept) return false;
  const a = Buffer.from(sent);
  const b = Buffer.from(kept);
  return a.length === b.length && timingSafeEqual(a, b);
}
