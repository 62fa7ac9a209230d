/**
 * Artifact versions and their lineage over HTTP (docs/api.md, "Artifacts", "Versions and
 * lineage"); the blobs' routes are routes-blobs.ts.
 *
 * - `POST /api/v1/artifacts/:entity/:project/versions` LogVersionBody -> ArtifactVersionSummary
 * - `POST /api/v1/artifacts/:entity/:project/uses`     UseVersionBody -> `{ ok: true }`
 * - `GET  /api/v1/artifacts/:entity/:project[?type=T]` -> `{ artifacts: ArtifactCollectionSummary[] }`
 * - `GET  /api/v1/artifacts/:entity/:project/:name`    -> ArtifactCollectionDetail
 * - `GET  /api/v1/artifacts/:entity/:project/:name/:alias` -> ArtifactVersionDetail
 *
 * Writes need the right to log runs to `:entity` (a daemon's key); reads follow the runs' rule:
 * members see every version, anyone else only the versions a public run logged, and in the
 * lineage only public runs. What the asker may not see is "not found".
 *
 * fastify matches static segments first, so `.../blobs/...`, `.../versions` and `.../uses` are
 * never taken for an artifact's name (validateArtifactName refuses those three names).
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { API_PREFIX } from "../../protocol/api.js";
import {
  validateArtifactName,
  validateArtifactType,
  versionRef,
  type ArtifactCollectionDetail,
  type ArtifactCollectionSummary,
  type ArtifactVersionDetail,
  type ArtifactVersionSummary,
} from "../../protocol/artifacts.js";
import { manifestDigest } from "../../protocol/artifact-digest.js";
import { errors } from "../../protocol/errors.js";
import { may, projectPath, resolveAccess } from "./access.js";
import type { AppContext } from "./app-context.js";
import { parseAliasParam, parseLogVersion, parseUseVersion } from "./artifact-bodies.js";
import { RoleCache, toArtifactCollectionSummary, toArtifactVersionSummary } from "./artifact-views.js";
import { INGEST_BODY_LIMIT } from "./routes-ingest.js";
import type { ArtifactScope } from "../store/artifact-store.js";

/** Digests named in the "not stored" message: enough to look one up, never a megabyte of them. */
const SHOWN_DIGESTS = 10;

export function registerArtifactRoutes(app: FastifyInstance, ctx: AppContext): void {
  const base = `${API_PREFIX}/artifacts/:entity/:project`;
  const read = { config: { access: "project:read" as const } };

  /** The route's project as the store scopes artifacts, and whether the asker sees only what public runs logged. */
  function scopeOf(req: FastifyRequest): { scope: ArtifactScope; publicOnly: boolean; entity: string; project: string } {
    const { entity, project } = projectPath(req.params);
    return { scope: { entityId: ctx.entity(req).id, project }, publicOnly: !may(ctx.access(req).role, "read"), entity, project };
  }

  // A version's manifest lists every file: 1,000,000 entries of ~150 bytes do not fit the 1 MiB
  // of other JSON bodies, so this route takes what an upload of records may.
  app.post(`${base}/versions`, { config: { access: "entity:write" }, bodyLimit: INGEST_BODY_LIMIT }, async (req): Promise<ArtifactVersionSummary> => {
    const { entity, project } = projectPath(req.params);
    const body = parseLogVersion(req.body);
    const run = await ctx.store.getRun(entity, project, body.runId);
    if (!run) throw errors.notFound(`Run ${entity}/${project}/${body.runId}`);
    const scope: ArtifactScope = { entityId: ctx.entity(req).id, project };
    const { manifest } = body;

    // A collection keeps its type: refused for good here (a 400 the daemon sets aside), where the
    // store's own check (a 409, for two calls at once) would have the daemon retry it forever.
    const latest = await ctx.store.getArtifactVersion(scope, manifest.name, "latest", false);
    if (latest && latest.type !== manifest.type) {
      throw errors.invalidArtifact(
        `type ${JSON.stringify(manifest.type)}`,
        `artifact ${entity}/${project}/${manifest.name} holds versions of type ${JSON.stringify(latest.type)}`,
        "Log it with that type, or under another name.",
      );
    }

    // Every file's bytes must be stored before a version names them: a 409 (the daemon uploads
    // what is missing and asks again), never a version whose download fails.
    const digests = [...new Set(manifest.files.map((f) => f.digest))];
    const missing = digests.length === 0 ? [] : await ctx.blobs.missing({ entity, project }, digests);
    if (missing.length > 0) {
      const shown = missing.slice(0, SHOWN_DIGESTS).join(", ") + (missing.length > SHOWN_DIGESTS ? `, and ${missing.length - SHOWN_DIGESTS} more` : "");
      throw errors.conflict(
        `${missing.length} file(s) of artifact ${manifest.name} are not stored in ${entity}/${project} (sha256 ${shown})`,
        "Upload each one first (POST .../blobs/missing, then .../blobs/:digest/uploads), then log the version again.",
      );
    }

    const version = await ctx.store.logArtifactVersion(scope, run.pk, manifest, manifestDigest(manifest), body.aliases, ctx.now());
    return toArtifactVersionSummary(version);
  });

  app.post(`${base}/uses`, { config: { access: "entity:write" } }, async (req): Promise<{ ok: true }> => {
    const { entity, project } = projectPath(req.params);
    const body = parseUseVersion(req.body);
    const run = await ctx.store.getRun(entity, project, body.runId);
    if (!run) throw errors.notFound(`Run ${entity}/${project}/${body.runId}`);
    // The artifact may be in any project the asker reads: checked by the same rule as its routes.
    const a = body.artifact;
    const access = await resolveAccess(ctx, "project:read", { entity: a.entity, project: a.project }, await ctx.user(req));
    const scope: ArtifactScope = { entityId: access.entity!.id, project: a.project };
    const version = await ctx.store.getArtifactVersion(scope, a.name, `v${a.version}`, !may(access.role, "read"));
    if (!version) throw errors.notFound(`Artifact ${a.entity}/${a.project}/${versionRef(a.name, a.version)}`);
    await ctx.store.useArtifactVersion(version.id, run.pk, ctx.now());
    return { ok: true };
  });

  app.get(base, read, async (req): Promise<{ artifacts: ArtifactCollectionSummary[] }> => {
    const { scope, publicOnly } = scopeOf(req);
    const q = req.query as Record<string, unknown>;
    const type = q.type === undefined || q.type === "" ? null : validateArtifactType(q.type);
    const collections = await ctx.store.listArtifactCollections(scope, type, publicOnly);
    return { artifacts: collections.map(toArtifactCollectionSummary) };
  });

  app.get(`${base}/:name`, read, async (req): Promise<ArtifactCollectionDetail> => {
    const { scope, publicOnly, entity, project } = scopeOf(req);
    const name = validateArtifactName((req.params as { name: unknown }).name);
    const versions = await ctx.store.listArtifactVersions(scope, name, publicOnly);
    if (!versions || versions.length === 0) throw errors.notFound(`Artifact ${entity}/${project}/${name}`);
    return { name, type: versions[0].type, versions: versions.map(toArtifactVersionSummary) };
  });

  app.get(`${base}/:name/:alias`, read, async (req): Promise<ArtifactVersionDetail> => {
    const { scope, publicOnly, entity, project } = scopeOf(req);
    const params = req.params as { name: unknown; alias: unknown };
    const name = validateArtifactName(params.name);
    const alias = parseAliasParam(params.alias);
    const version = alias === null ? null : await ctx.store.getArtifactVersion(scope, name, alias, publicOnly);
    if (!version) throw errors.notFound(`Artifact ${entity}/${project}/${name}:${String(params.alias)}`);

    const [entries, lineage] = await Promise.all([ctx.store.artifactEntries(version.id), ctx.store.artifactLineage(version.id)]);
    const roles = new RoleCache(ctx, await ctx.viewer(req)).seed(entity, ctx.access(req).role);
    const [producedBy, usedBy] = await Promise.all([roles.readableRuns(lineage.producedBy), roles.readableRuns(lineage.usedBy)]);
    // One URL per blob: a version may hold the same bytes under many paths, and presigning costs.
    const urls = new Map<string, Promise<string>>();
    const urlOf = (digest: string) => {
      let url = urls.get(digest);
      if (!url) urls.set(digest, (url = ctx.blobs.downloadUrl({ entity, project }, digest, API_PREFIX)));
      return url;
    };
    const files = await Promise.all(entries.files.map(async (f) => ({ ...f, url: await urlOf(f.digest) })));
    return {
      ...toArtifactVersionSummary(version),
      description: version.description,
      metadata: version.metadata,
      files,
      references: entries.references,
      producedBy,
      usedBy,
    };
  });
}
