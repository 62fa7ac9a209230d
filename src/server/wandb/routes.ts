/**
 * W&B's routes at the server's root (DESIGN.md: a translation layer into trackside's own
 * records, never a change to trackside's API): `POST /graphql`, `POST .../file_stream` and the
 * signed upload URLs. Each declares its access rule like every route (http/access.ts).
 *
 * Never a 5xx to these clients: W&B's Python client retries a 5xx for days and its JS client
 * hangs for minutes. GraphQL answers every failure but a bad key (401) as a 200 with `errors`,
 * which both clients report; the other routes answer coded 4xx, and an internal failure is a 400
 * with TRK_ERR_INTERNAL, which the Python client reports and stops at.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { errors, isTracksideError, type TracksideError } from "../../protocol/errors.js";
import { runPath } from "../http/access.js";
import type { AppContext } from "../http/app-context.js";
import { classify } from "../http/error-handler.js";
import { answerGraphql, type GraphqlReply } from "./graphql.js";
import { FILE_STREAM_PATH, GRAPHQL_PATH, WANDB_UPLOAD_PREFIX } from "./paths.js";
import { UPLOAD_SECRET_NAME, UploadSigner, type UploadGrant } from "./upload-token.js";
import { WandbRuns } from "./wandb-runs.js";

/**
 * 32 MiB: W&B's Python client sends file_stream requests of up to about 10 MiB of content
 * (core/internal/filestream/filestream.go), which JSON escaping can grow; a 413 is not retried
 * and would end the run's stream.
 */
export const WANDB_BODY_LIMIT = 32 * 1024 * 1024;
/** 64 MiB per uploaded run file (a media file, a requirements.txt); larger ones get a 413. */
export const WANDB_UPLOAD_LIMIT = 64 * 1024 * 1024;

export interface WandbRouteOptions {
  /** The secret of upload URLs; the database's (shared by every replica) when left out. */
  uploadSecret?: Buffer;
}

/** A failure as W&B's clients need it: never 5xx. */
function wandbStatus(err: unknown): { status: number; error: TracksideError } {
  const { status, error } = classify(err);
  return { status: status >= 500 ? 400 : status, error };
}

/** Registers W&B's routes in a scope of their own (their body parsers and error answers stay there). */
export function registerWandbRoutes(app: FastifyInstance, ctx: AppContext, options: WandbRouteOptions = {}): void {
  const runs = new WandbRuns(ctx.store, ctx.now);
  const signer = new UploadSigner(options.uploadSecret ?? (() => ctx.store.serverSecret(UPLOAD_SECRET_NAME)));
  void app.register(async (scope) => {
    scope.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
      const { status, error } = wandbStatus(err);
      if (classify(err).status >= 500) req.log.error({ err }, "W&B request failed");
      else req.log.info({ code: error.code, status }, error.message);
      if (req.routeOptions.url === GRAPHQL_PATH && status !== 401) return reply.code(200).send(graphqlError(error));
      return reply.code(status).send({ error: error.toWire() });
    });

    // signed-in: who is asking is all the rule can know before the body names the operation;
    // each operation then applies the access rule to what it touches (graphql.ts).
    scope.post(GRAPHQL_PATH, { config: { access: "signed-in" }, bodyLimit: WANDB_BODY_LIMIT }, async (req): Promise<GraphqlReply> => {
      try {
        return await answerGraphql(ctx, runs, signer, req, await ctx.user(req));
      } catch (err) {
        if (isTracksideError(err) && err.code === "TRK_ERR_UNAUTHORIZED") throw err;
        const { error } = wandbStatus(isTracksideError(err) ? err : err instanceof SyntaxError ? errors.badRequest(`a JSONString variable is not JSON (${err.message})`) : err);
        if (!isTracksideError(err)) req.log.warn({ err }, "W&B GraphQL operation failed");
        return graphqlError(error);
      }
    });

    // entity:write, as trackside's own uploads: refused before the body is read.
    scope.post(FILE_STREAM_PATH, { config: { access: "entity:write" }, bodyLimit: WANDB_BODY_LIMIT }, async (req) => {
      const user = await ctx.user(req);
      const path = runPath(req.params);
      await runs.fileStream({ entityId: ctx.entity(req).id, entity: path.entity, project: path.project, runId: path.id, authorUserId: user.id }, req.body);
      return {};
    });

    void scope.register(async (uploads) => {
      // Upload PUTs carry any content type (or none), JSON with NaN in it too: their bytes are kept raw.
      uploads.removeAllContentTypeParsers();
      uploads.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: WANDB_UPLOAD_LIMIT }, (_req, body, done) => done(null, body));
      // anyone, auth none: the URL is the capability (upload-token.ts), handed out by CreateRunFiles
      // only to someone the access rule let write to the run's entity.
      // The token is checked in onRequest, before any byte of the body is read: a forged or
      // expired URL gets its 403 at once, not after up to 64 MiB were buffered.
      const grants = new WeakMap<FastifyRequest, UploadGrant>();
      const onRequest = async (req: FastifyRequest): Promise<void> => {
        grants.set(req, await signer.verify((req.params as { token: string }).token, ctx.now()));
      };
      uploads.put(`${WANDB_UPLOAD_PREFIX}/:token`, { config: { access: "anyone", auth: "none" }, bodyLimit: WANDB_UPLOAD_LIMIT, onRequest }, async (req) => {
        const grant = grants.get(req)!;
        const entity = await ctx.store.getEntity(grant.entity);
        if (!entity) throw errors.notFound(`Entity ${grant.entity}`);
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        await runs.uploaded({ entityId: entity.id, entity: grant.entity, project: grant.project, runId: grant.runId, authorUserId: entity.ownerUserId }, grant.file, body);
        return {};
      });
    });
  });
}

function graphqlError(error: TracksideError): GraphqlReply {
  return { data: null, errors: [{ message: error.message, extensions: { code: error.code } }] };
}
