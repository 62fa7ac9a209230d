/**
 * One mapping from errors to replies. API routes answer `{error: {code, message}}` with a
 * TRK_ERR_* code from protocol/errors.ts; HTML pages (routes with `config: { html: true }`)
 * answer a short page. Fastify's own 4xx errors keep their status and get a code: a body or a
 * URL part too large (413, 414) is TRK_ERR_TOO_LARGE, a request that timed out (408)
 * TRK_ERR_REQUEST_TIMEOUT, the rest (bad JSON, unknown content type, a URL that does not decode,
 * schema validation) TRK_ERR_BAD_REQUEST. Errors that fastify raises before routing (a URL part
 * over maxParamLength, a bad URL) reach the same mapping through `frameworkErrors`. Anything
 * unexpected is TRK_ERR_INTERNAL, logged with its stack but never shown to the client.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ErrorBody } from "../../protocol/api.js";
import { errors, isTracksideError, type ErrorCode, type TracksideError } from "../../protocol/errors.js";
import { MAX_PROJECT } from "../../protocol/limits.js";
import { html, page, sendPage } from "./html.js";
import { INGEST_BODY_LIMIT } from "./routes-ingest.js";

/** fastify's default body limit, which every route but the uploads keeps. */
const JSON_BODY_LIMIT = 1024 * 1024;

/**
 * The longest path parameter fastify takes (its default, 100, is under the 128 characters of a
 * project name, which answered 414 for names the client accepts). fastify measures the decoded
 * parameter, in the same UTF-16 units as the name rules in protocol/ids.ts, so every valid path
 * fits; a longer invalid one still reaches the route and gets the name rule's own coded error,
 * and only a part longer than this is a 414 (TRK_ERR_TOO_LARGE).
 */
export const MAX_PARAM_LENGTH = 1024;

/** HTTP status of each code the server can answer; the rest (client-side codes) are 500. */
const STATUS: Partial<Record<ErrorCode, number>> = {
  TRK_ERR_INVALID_ID: 400,
  TRK_ERR_INVALID_PROJECT: 400,
  TRK_ERR_INVALID_ENTITY: 400,
  TRK_ERR_INVALID_OPTION: 400,
  TRK_ERR_UNLOGGABLE: 400,
  TRK_ERR_STEP_BACKWARDS: 400,
  TRK_ERR_BAD_REQUEST: 400,
  TRK_ERR_PROTOCOL_VERSION: 400,
  TRK_ERR_BAD_VALUE: 400,
  TRK_ERR_BAD_SEQUENCE: 400,
  TRK_ERR_TOO_LARGE: 400,
  TRK_ERR_INVALID_ARTIFACT: 400,
  TRK_ERR_DIGEST_MISMATCH: 400,
  TRK_ERR_UNAUTHORIZED: 401,
  TRK_ERR_NO_CREDENTIALS: 401,
  TRK_ERR_FORBIDDEN: 403,
  TRK_ERR_BAD_ORIGIN: 403,
  TRK_ERR_NOT_FOUND: 404,
  TRK_ERR_REQUEST_TIMEOUT: 408,
  TRK_ERR_RUN_FINISHED: 409,
  TRK_ERR_TOO_MANY: 429,
  TRK_ERR_CONFLICT: 409,
  TRK_ERR_INTERNAL: 500,
};

/** The HTTP status for a TracksideError code. */
export function statusOf(code: ErrorCode): number {
  return STATUS[code] ?? 500;
}

/** Any thrown thing as (status, TracksideError). */
export function classify(err: unknown): { status: number; error: TracksideError } {
  if (isTracksideError(err)) return { status: statusOf(err.code), error: err };
  const fe = err as Partial<FastifyError>;
  if (fe.validation) return { status: 400, error: errors.badRequest(fe.message ?? "invalid request") };
  const status = fe.statusCode;
  if (typeof status === "number" && status >= 400 && status < 500) {
    if (status === 413) return { status, error: errors.tooLarge("The request body", "over the limit", `${INGEST_BODY_LIMIT} bytes for uploads, ${JSON_BODY_LIMIT} bytes for other requests`) };
    if (status === 414) return { status, error: errors.tooLarge("A part of the URL", "too long", `${MAX_PARAM_LENGTH} characters (a project name may have ${MAX_PROJECT})`) };
    if (status === 408) return { status, error: errors.requestTimeout(fe.message ?? "the request timed out") };
    return { status, error: errors.badRequest(fe.message ?? "invalid request") };
  }
  return { status: 500, error: errors.internal("the server failed to handle the request (see the server log)") };
}

const wantsHtml = (req: FastifyRequest): boolean => (req.routeOptions?.config as { html?: boolean } | undefined)?.html === true;

function sendError(req: FastifyRequest, reply: FastifyReply, status: number, error: TracksideError): FastifyReply {
  if (wantsHtml(req)) return sendPage(reply, status, errorPage(status, error, req.url, signedInName(req)));
  const body: ErrorBody = { error: error.toWire() };
  return reply.code(status).type("application/json; charset=utf-8").send(body);
}

/** Who the auth hook found behind the request, if anyone (null too when it refused the credential). */
const signedInName = (req: FastifyRequest): string | null => req.principal?.user?.name ?? null;

/**
 * The page for a failed page request, naming who is signed in. A 404 may hide a private run, so
 * it says so and offers to sign in (as someone else, when signed in), coming back to the same
 * page afterwards.
 */
export function errorPage(status: number, error: TracksideError, url: string, user: string | null): string {
  if (status === 404) {
    const login = `/login?next=${encodeURIComponent(url)}`;
    const why = user
      ? html`There is nothing here, or it is private and <strong>${user}</strong> is not allowed to see it. Ask its owner or a team admin for access, or <a href="${login}">sign in as someone else</a>.`
      : html`There is nothing here, or it is private. <a href="${login}">Sign in</a> to see private runs you have access to.`;
    return page("Not found", html`<h1>Not found or private</h1>\n<p>${why}</p>`, user);
  }
  return page("Error", html`<h1>Error ${status}</h1><p class="error">${error.code}: ${error.message}</p>`, user);
}

/**
 * fastify's `frameworkErrors` option: errors raised before a route is found (a URL part longer
 * than MAX_PARAM_LENGTH, a URL that does not decode) answered like any other error.
 */
export function frameworkErrors(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const { status, error } = classify(err);
  req.log.info({ code: error.code, status }, error.message);
  void sendError(req, reply, status, error);
}

/** Installs the error and not-found handlers on an app. */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err, req, reply) => {
    const { status, error } = classify(err);
    if (status >= 500) req.log.error({ err }, "request failed");
    else req.log.info({ code: error.code, status }, error.message);
    return sendError(req, reply, status, error);
  });
  app.setNotFoundHandler((req, reply) => {
    const error = errors.notFound(`${req.method} ${req.url.split("?")[0]}`);
    if (req.url.startsWith("/api/")) return reply.code(404).send({ error: error.toWire() } satisfies ErrorBody);
    return sendPage(reply, 404, errorPage(404, error, req.url, signedInName(req)));
  });
}
