/**
 * Upload routes: the daemon's record batches and its heartbeats. A body is checked whole, then
 * applied in one transaction; a resent body changes nothing (see sqlite-ingest.ts).
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { API_PREFIX, RECORDS_CONTENT_TYPE, WAL_FRAMES_CONTENT_TYPE, type IngestResult } from "../../protocol/api.js";
import { decodeUntrusted } from "../../protocol/codec.js";
import { scanFrames } from "../../protocol/wal-format.js";
import { errors } from "../../protocol/errors.js";
import type { RunRecord } from "../../protocol/records.js";
import { runPath } from "./access.js";
import type { AppContext } from "./app-context.js";
import { flattenBatches, validateRecords } from "../../protocol/record-check.js";

/** 64 MiB: a daemon's largest batch (4,096 rows of a few hundred metrics) fits with room to spare. */
export const INGEST_BODY_LIMIT = 64 * 1024 * 1024;

/** Teaches the app the records content type; the body stays raw until the handler has checked the key. */
export function registerRecordsParser(app: FastifyInstance): void {
  app.addContentTypeParser([RECORDS_CONTENT_TYPE, WAL_FRAMES_CONTENT_TYPE], { parseAs: "buffer", bodyLimit: INGEST_BODY_LIMIT }, (_req, body, done) =>
    done(null, body),
  );
}

/** The batches of a WAL-frames body; a cut or corrupt frame refuses the whole body. */
function frameBatches(body: Buffer): unknown[] {
  const scan = scanFrames(body, 0);
  if (scan.stoppedAt !== null) {
    throw errors.badRequest(`the WAL frame at byte ${scan.end} is ${scan.stoppedAt === "crc" ? "corrupt (its CRC-32 does not match)" : "cut short"}`);
  }
  // One msgpack value per frame: a frame that holds more (or none) is not the daemon's.
  return scan.frames.map((f, i) => {
    const values = decodeUntrusted(f.payload);
    if (values.length !== 1) throw errors.badRequest(`WAL frame ${i} holds ${values.length} msgpack values, not one batch`);
    return values[0];
  });
}

/**
 * The records of a body in either encoding, checked (protocol/record-check.ts): a coded 400
 * naming the fault otherwise (TRK_ERR_BAD_REQUEST, TRK_ERR_BAD_VALUE, TRK_ERR_TOO_LARGE).
 */
export function recordsOf(req: FastifyRequest, runId: string): RunRecord[] {
  const body = req.body;
  if (Buffer.isBuffer(body)) {
    const frames = String(req.headers["content-type"] ?? "").startsWith(WAL_FRAMES_CONTENT_TYPE);
    const batches = body.length === 0 ? [] : frames ? frameBatches(body) : decodeUntrusted(body);
    return validateRecords(flattenBatches(batches), runId);
  }
  if (body === undefined || body === null) throw errors.badRequest(`no body; send ${RECORDS_CONTENT_TYPE} or application/json`);
  return validateRecords(body, runId);
}

/** POST .../records and POST .../heartbeat. */
export function registerIngestRoutes(app: FastifyInstance, ctx: AppContext): void {
  // entity:write: a user who may not log to the entity is refused before the body is read.
  const upload = { config: { access: "entity:write" as const } };
  app.post(`${API_PREFIX}/runs/:entity/:project/:id/records`, { ...upload, bodyLimit: INGEST_BODY_LIMIT }, async (req): Promise<IngestResult> => {
    const user = await ctx.user(req);
    const path = runPath(req.params);
    const records = recordsOf(req, path.id);
    const outcome = await ctx.store.ingest(
      { entityId: ctx.entity(req).id, project: path.project, runId: path.id, authorUserId: user.id },
      records,
      ctx.now(),
    );
    req.log.debug({ runId: path.id, records: outcome.records, lastSeq: outcome.lastSeq }, "ingested");
    return outcome;
  });

  app.post(`${API_PREFIX}/runs/:entity/:project/:id/heartbeat`, upload, async (req) => {
    const path = runPath(req.params);
    const found = await ctx.store.heartbeat(path.entity, path.project, path.id, ctx.now());
    if (!found) throw errors.notFound(`Run ${path.entity}/${path.project}/${path.id}`);
    return { ok: true };
  });
}
