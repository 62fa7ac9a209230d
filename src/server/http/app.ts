/**
 * The composition root of the HTTP server: a fastify app over a Store. It does no I/O of its
 * own, so tests drive it with `app.inject()` and startServer() adds the socket, the database
 * file and the log file.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { jsonReplacer } from "../../protocol/api.js";
import { AppContext } from "./app-context.js";
import { registerAccessHook } from "./access.js";
import { registerAuthHook } from "./auth.js";
import { frameworkErrors, installErrorHandlers, MAX_PARAM_LENGTH } from "./error-handler.js";
import { registerAccountRoutes } from "./routes-accounts.js";
import { registerApiRoutes } from "./routes-api.js";
import { registerArtifactRoutes } from "./routes-artifacts.js";
import { registerMediaRoutes } from "./routes-media.js";
import { registerBlobRoutes } from "./routes-blobs.js";
import { registerAuthRoutes, registerFormParser } from "./routes-auth.js";
import { registerIngestRoutes, registerRecordsParser } from "./routes-ingest.js";
import { registerConnectionLimits, resolveLimits, serverOptionsOf, type ServerLimits } from "./limits.js";
import { LiveEvents, registerLiveEvents } from "./live-events.js";
import { registerHostCheck } from "./origin.js";
import { registerViewRoutes } from "./routes-views.js";
import { registerWebRoutes } from "./routes-web.js";
import type { Store } from "../store/store.js";
import type { BlobStore } from "../blobs/blob-store.js";
import { registerWandbRoutes } from "../wandb/index.js";

export interface BuildAppOptions {
  store: Store;
  /**
   * Where artifact bytes live (the caller owns it, as the store). Left out: the artifact routes
   * answer TRK_ERR_INTERNAL (tests of other routes need none).
   */
  blobs?: BlobStore;
  /** A pino logger (e.g. a child of the server's); no logging when left out. */
  logger?: FastifyBaseLogger;
  /** The URL people reach the server at (run URLs, login links); a function when known only after listen. */
  publicBaseUrl: string | (() => string);
  /** The clock, in ms since epoch; tests pass a fake one. */
  now?: () => number;
  /** Where the built web app lies (dist/web by default; null: none). */
  webRoot?: string | null;
  /** Timeouts and caps of connections and streams (limits.ts); defaults for what is left out. */
  limits?: Partial<ServerLimits>;
  /**
   * The base URLs whose hosts a request's `Host` may name (origin.ts); left out or null: no
   * check (inject() tests). startServer passes the public URL and the loopback names.
   */
  allowedHosts?: () => readonly URL[] | null;
}

/**
 * One log line per request instead of fastify's two: a busy ingest would otherwise double the
 * log. The line carries no query string, where a login-link token may travel.
 */
class OneLinePerRequest extends LogController {
  override incomingRequest(): void {}
  override requestCompleted(error: Error | null | undefined, req: FastifyRequest, reply: FastifyReply): void {
    const line = { method: req.method, url: req.url.split("?")[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) };
    if (error) req.log.error({ ...line, err: error }, "request failed");
    else req.log.info(line, "request");
  }
}

/**
 * Builds the tracking server's fastify app. The caller owns the store: closing the app does not
 * close it.
 *
 * @example
 * const store = SqliteStore.open(join(dir, "trackside.db"));
 * const app = buildApp({ store, publicBaseUrl: "http://127.0.0.1:8421" });
 * const res = await app.inject({ method: "GET", url: "/healthz" }); // 200 {"ok":true,...}
 */
export function buildApp(options: BuildAppOptions): FastifyInstance {
  const limits = resolveLimits(options.limits);
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    logController: new OneLinePerRequest(),
    ...serverOptionsOf(limits),
    // Every valid entity/project/run id fits (error-handler.ts); longer parts answer TRK_ERR_TOO_LARGE.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors,
  }) as unknown as FastifyInstance;
  const ctx = new AppContext(options.store, options.publicBaseUrl, options.now ?? Date.now, options.blobs);

  // Every JSON reply keeps NaN and the infinities as strings (protocol/api.ts) instead of null.
  app.setReplySerializer((payload) => JSON.stringify(payload, jsonReplacer));
  registerRecordsParser(app);
  registerFormParser(app);
  installErrorHandlers(app);
  // The onRequest checks, in this order and before any route: each refuses before a body is read.
  registerConnectionLimits(app, limits);
  registerHostCheck(app, options.allowedHosts ?? (() => null));
  registerAuthHook(app, ctx.store, ctx.now);
  registerAccessHook(app, ctx);

  const live = new LiveEvents(ctx.store, ctx.now, limits);
  registerApiRoutes(app, ctx);
  registerAccountRoutes(app, ctx, live);
  registerIngestRoutes(app, ctx);
  registerBlobRoutes(app, ctx);
  registerAuthRoutes(app, ctx, live);
  registerLiveEvents(app, ctx, live);
  registerViewRoutes(app, ctx);
  registerArtifactRoutes(app, ctx);
  registerMediaRoutes(app, ctx);
  // W&B's clients at the root (docs/wandb.md); before the web routes, whose /:entity/... patterns are GETs.
  registerWandbRoutes(app, ctx);
  registerWebRoutes(app, ctx, { webRoot: options.webRoot });
  return app;
}
