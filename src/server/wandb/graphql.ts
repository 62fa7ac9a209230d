/**
 * W&B's `POST /graphql`, answered by operation name with a fixed shape per operation: no GraphQL
 * engine, since the clients send a handful of known operations and read a few fields of each
 * (docs/wandb.md; shared/reference/wandb-wire.md has what each client reads). Anything else is a
 * GraphQL error in a 200, which both clients tolerate where the operation is optional.
 */
import type { FastifyRequest } from "fastify";
import { errors } from "../../protocol/errors.js";
import { generateRunId, validateEntity, validateProject, validateRunId } from "../../protocol/ids.js";
import { generateRunName } from "../../protocol/names.js";
import type { JsonObject } from "../../protocol/records.js";
import { parseWandbJson } from "../../protocol/wandb-mapping.js";
import { resolveAccess, writableEntity } from "../http/access.js";
import type { AppContext } from "../http/app-context.js";
import type { StoredUser } from "../store/store.js";
import { wrapConfig } from "./config-shape.js";
import { WandbRuns, type UpsertInput } from "./wandb-runs.js";
import { UPLOAD_URL_TTL_MS, type UploadSigner } from "./upload-token.js";
import { WANDB_UPLOAD_PREFIX } from "./paths.js";

/** What `POST /graphql` carries. */
export interface GraphqlBody {
  query?: unknown;
  variables?: unknown;
  operationName?: unknown;
}

/** A GraphQL answer: data, or data null and the errors. */
export type GraphqlReply = { data: JsonObject } | { data: null; errors: { message: string; extensions?: JsonObject }[] };

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);
const optString = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);

/**
 * The operation's name: `operationName`, or the first `query|mutation Name` of the query text
 * (the JS client leaves operationName out when its own parse of the query fails).
 */
export function operationOf(body: GraphqlBody): string | null {
  if (typeof body.operationName === "string" && body.operationName !== "") return body.operationName;
  if (typeof body.query !== "string") return null;
  return /^\s*(?:query|mutation)\s+(\w+)/.exec(body.query)?.[1] ?? null;
}

/** Answers one GraphQL request of the signed-in `user`. TracksideErrors are the caller's to turn into `errors`. */
export async function answerGraphql(ctx: AppContext, runs: WandbRuns, signer: UploadSigner, req: FastifyRequest, user: StoredUser): Promise<GraphqlReply> {
  const body = (isObject(req.body) ? req.body : {}) as GraphqlBody;
  const vars = isObject(body.variables) ? body.variables : {};
  const operation = operationOf(body);
  switch (operation) {
    case "Viewer": {
      const teams = await ctx.store.teamsOf(user.id);
      return {
        data: {
          viewer: {
            id: String(user.id),
            entity: user.name,
            username: user.name,
            email: user.email,
            admin: user.admin,
            flags: null,
            teams: { edges: teams.map((t) => ({ node: { name: t.team.name } })) },
          },
        },
      };
    }
    case "ServerFeaturesQuery":
      // No feature on: FILESTREAM_GZIP would gzip file_stream bodies, STRUCTURED_CONSOLE_LOGS change output.log.
      return { data: { serverInfo: { features: [] } } };
    case "ServerInfo":
      return { data: { serverInfo: { cliVersionInfo: null, latestLocalVersionInfo: null } } };
    case "OrganizationCoreWeaveOrganizationID":
      // Never an id: the client would then query CoreWeave's metadata endpoint.
      return { data: { entity: null } };
    case "UpsertBucket":
      return { data: { upsertBucket: await upsertBucket(ctx, runs, vars, user) } };
    case "RunResumeStatus":
      return { data: { model: await resumeStatus(ctx, runs, vars, user) } };
    case "CreateRunFiles":
      return { data: { createRunFiles: await createRunFiles(ctx, signer, vars, user) } };
    default:
      return {
        data: null,
        errors: [{ message: `trackside does not implement the W&B operation ${operation ?? "(unnamed)"} (docs/wandb.md lists what works)`, extensions: { code: "TRK_ERR_BAD_REQUEST" } }],
      };
  }
}

async function upsertBucket(ctx: AppContext, runs: WandbRuns, vars: JsonObject, user: StoredUser): Promise<JsonObject> {
  const entityName = validateEntity(optString(vars.entity) ?? user.name);
  const project = validateProject(optString(vars.project) ?? "uncategorized");
  const runId = validateRunId(optString(vars.name) ?? generateRunId());
  const entity = (await writableEntity(ctx, entityName, user)).entity!;
  let config: JsonObject | null = null;
  if (typeof vars.config === "string" && vars.config !== "") {
    // W&B's Go core writes bare NaN and Infinity in these JSON strings, as in file_stream lines.
    const parsed: unknown = parseWandbJson(vars.config);
    if (!isObject(parsed)) throw errors.badRequest("config is not a JSON object");
    config = parsed;
  }
  let summary: JsonObject | null = null;
  if (typeof vars.summaryMetrics === "string" && vars.summaryMetrics !== "") {
    const parsed: unknown = parseWandbJson(vars.summaryMetrics);
    if (isObject(parsed)) summary = parsed;
  }
  const tags = Array.isArray(vars.tags) ? vars.tags.filter((t): t is string => typeof t === "string" && t !== "") : null;
  const input: UpsertInput = {
    displayName: optString(vars.displayName),
    notes: typeof vars.notes === "string" ? vars.notes : null,
    tags,
    group: optString(vars.groupName),
    jobType: optString(vars.jobType),
    host: optString(vars.host),
    program: optString(vars.program),
    config,
    summary,
  };
  const { run, inserted } = await runs.upsert({ entityId: entity.id, entity: entityName, project, runId, authorUserId: user.id }, input, () => generateRunName());
  return {
    inserted,
    bucket: {
      id: `${entityName}/${project}/${runId}`,
      name: runId,
      displayName: run.name,
      description: run.notes,
      config: JSON.stringify(wrapConfig(run.config, null)),
      sweepName: null,
      historyLineCount: await ctx.store.countHistory(run.pk),
      project: { id: `${entityName}/${project}`, name: project, entity: { id: String(entity.id), name: entityName } },
    },
  };
}

/** RunResumeStatus: the run as a resume needs it, or null when there is none the asker may see. */
async function resumeStatus(ctx: AppContext, runs: WandbRuns, vars: JsonObject, user: StoredUser): Promise<JsonObject | null> {
  const entity = optString(vars.entity) ?? user.name;
  const project = optString(vars.project) ?? "uncategorized";
  let access;
  try {
    access = await resolveAccess(ctx, "run:read", { entity, project, id: vars.name }, user);
  } catch (err) {
    if ((err as { code?: string }).code === "TRK_ERR_NOT_FOUND") return null;
    throw err;
  }
  const run = access.run!;
  // The upsert that follows is a resume: it may reopen the run if it ended.
  await runs.resumeAskedFor(run);
  const wandb = isObject(run.metadata.wandb) ? run.metadata.wandb : {};
  const [history, consoleLines] = await Promise.all([ctx.store.countHistory(run.pk), ctx.store.countConsole(run.pk)]);
  const tail = history > 0 ? await ctx.store.readHistory(run.pk, { minStep: 0, limit: history }) : [];
  const last = tail.length > 0 ? [JSON.stringify(toWandbRow(tail[tail.length - 1]))] : [];
  return {
    id: `${entity}/${project}`,
    name: project,
    entity: { id: String(access.entity!.id), name: entity },
    bucket: {
      id: `${entity}/${project}/${run.id}`,
      name: run.id,
      displayName: run.name,
      notes: run.notes,
      tags: run.tags,
      config: JSON.stringify(wrapConfig(run.config, null)),
      summaryMetrics: JSON.stringify(run.summary),
      // A run that W&B's client never started has no `t`; any run that exists here did start.
      wandbConfig: JSON.stringify({ t: isObject(wandb.t) ? wandb.t : {} }),
      historyLineCount: history,
      logLineCount: consoleLines,
      // System samples are keyed by their time: a resume that sends them again from 0 changes nothing.
      eventsLineCount: 0,
      historyTail: JSON.stringify(last),
      eventsTail: JSON.stringify([]),
    },
  };
}

/** A stored history row in W&B's units (`_timestamp` in seconds). */
function toWandbRow(row: JsonObject): JsonObject {
  return { ...row, _timestamp: typeof row._timestamp === "number" ? row._timestamp / 1000 : row._timestamp };
}

/**
 * CreateRunFiles' file names, each a relative path inside the run (`media/images/a.png`): one
 * that is absolute or steps out with `..` is refused, and so is a list with anything but names,
 * since W&B's Go client matches URLs to files by count and skips every upload when they differ.
 */
function runFileNames(files: unknown): string[] {
  if (files === undefined || files === null) return [];
  if (!Array.isArray(files) || !files.every((f): f is string => typeof f === "string")) throw errors.badRequest("files must be a list of file names");
  for (const name of files) {
    const absolute = /^[/\\]/.test(name) || /^[A-Za-z]:[/\\]/.test(name);
    if (name === "" || absolute || name.split(/[/\\]/).includes("..")) throw errors.badRequest(`file name ${JSON.stringify(name)} is not a relative path inside the run`);
  }
  return files;
}

/** CreateRunFiles: a signed upload URL per file, in the order asked (the client matches them by count). */
async function createRunFiles(ctx: AppContext, signer: UploadSigner, vars: JsonObject, user: StoredUser): Promise<JsonObject> {
  const entityName = validateEntity(optString(vars.entity) ?? user.name);
  const project = validateProject(optString(vars.project) ?? "uncategorized");
  const runId = validateRunId(vars.run);
  await writableEntity(ctx, entityName, user);
  const run = await ctx.store.getRun(entityName, project, runId);
  if (!run) throw errors.notFound(`Run ${entityName}/${project}/${runId}`);
  const files = runFileNames(vars.files);
  const expiresAt = ctx.now() + UPLOAD_URL_TTL_MS;
  const base = ctx.publicBaseUrl();
  return {
    runID: `${entityName}/${project}/${runId}`,
    uploadHeaders: [],
    files: await Promise.all(files.map(async (name) => ({ name, uploadUrl: `${base}${WANDB_UPLOAD_PREFIX}/${await signer.sign({ entity: entityName, project, runId, file: name, expiresAt })}` }))),
  };
}
