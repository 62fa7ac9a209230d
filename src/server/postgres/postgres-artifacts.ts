/**
 * Artifacts in the PostgreSQL store (sqlite-artifacts.ts is the same for SQLite). Replicas log
 * at once: a log locks its collection's row (made first if need be, ON CONFLICT DO NOTHING)
 * before it looks for the digest, so of two logs of one manifest the second waits, then finds
 * the first's version; of two different manifests, each gets its own number.
 */
import type { Sql } from "postgres";
import type { ArtifactFileEntry, ArtifactManifest, ArtifactReferenceEntry } from "../../protocol/artifacts.js";
import { LATEST_ALIAS } from "../../protocol/artifacts.js";
import { errors } from "../../protocol/errors.js";
import type { ArtifactScope, StoredArtifactCollection, StoredArtifactRunLink, StoredArtifactVersion } from "../store/artifact-store.js";
import {
  aliasesByVersion,
  entryRows,
  splitEntries,
  typeConflict,
  VERSION_COLUMNS,
  VERSION_JOINS,
  versionNumber,
  versionTotals,
  withAliases,
  type EntryRow,
  type VersionRow,
} from "../store/artifact-rows.js";

/** Whether version `v` is visible ($1: publicOnly): to members always, else when a public run logged it. */
const VISIBLE = `(NOT $1 OR EXISTS (SELECT 1 FROM artifact_outputs o JOIN runs r ON r.pk = o.run_pk
  WHERE o.version_id = v.id AND r.privacy = 'public'))`;
/** The scope ($2 entity id, $3 project name). */
const IN_SCOPE = "p.entity_id = $2 AND p.name = $3";
const RUN_LINK = `r.pk AS "runPk", e.name AS entity, p.name AS project, r.run_id AS id, r.name, r.state, r.privacy
  FROM runs r JOIN projects p ON p.id = r.project_id JOIN entities e ON e.id = p.entity_id`;

export class PostgresArtifacts {
  constructor(private readonly sql: Sql) {}

  private async all<T>(query: string, params: unknown[], sql: Sql = this.sql): Promise<T[]> {
    return (await sql.unsafe(query, params as never[])) as unknown as T[];
  }

  async log(scope: ArtifactScope, runPk: number, manifest: ArtifactManifest, digest: string, aliases: string[], now: number): Promise<StoredArtifactVersion> {
    return (await this.sql.begin(async (t) => {
      const [run] = await t<{ projectId: number }[]>`
        SELECT r.project_id AS "projectId" FROM runs r JOIN projects p ON p.id = r.project_id
        WHERE r.pk = ${runPk} AND p.entity_id = ${scope.entityId} AND p.name = ${scope.project}`;
      if (!run) throw errors.notFound(`Run ${runPk} of project ${scope.project}`);
      await t`INSERT INTO artifact_collections (project_id, name, type, created_at) VALUES (${run.projectId}, ${manifest.name}, ${manifest.type}, ${now})
              ON CONFLICT (project_id, name) DO NOTHING`;
      // The lock that makes two replicas' logs into this collection take turns.
      const [collection] = await t<{ id: number; type: string }[]>`
        SELECT id, type FROM artifact_collections WHERE project_id = ${run.projectId} AND name = ${manifest.name} FOR UPDATE`;
      if (collection.type !== manifest.type) throw typeConflict(manifest.name, collection.type, manifest.type);
      let [version] = await t<{ id: number }[]>`SELECT id FROM artifact_versions WHERE collection_id = ${collection.id} AND digest = ${digest}`;
      if (!version) {
        const totals = versionTotals(manifest);
        [version] = await t<{ id: number }[]>`
          INSERT INTO artifact_versions (collection_id, version, digest, size, file_count, description, metadata, created_at)
          SELECT ${collection.id}, coalesce(max(version) + 1, 0), ${digest}, ${totals.size}, ${totals.fileCount},
                 ${manifest.description}, ${JSON.stringify(manifest.metadata)}, ${now}
          FROM artifact_versions WHERE collection_id = ${collection.id}
          RETURNING id`;
        // One statement for all entries, however many: a JSON array of rows.
        await t.unsafe(
          `INSERT INTO artifact_entries (version_id, ord, path, digest, size, uri)
           SELECT $1, ord, path, digest, size, uri FROM json_to_recordset($2::text::json) AS x(ord integer, path text, digest text, size bigint, uri text)`,
          [version.id, JSON.stringify(entryRows(manifest))] as never[],
        );
      }
      for (const alias of aliases) {
        if (alias === LATEST_ALIAS) continue;
        await t`INSERT INTO artifact_aliases (collection_id, alias, version_id) VALUES (${collection.id}, ${alias}, ${version.id})
                ON CONFLICT (collection_id, alias) DO UPDATE SET version_id = excluded.version_id`;
      }
      await t`INSERT INTO artifact_outputs (version_id, run_pk, logged_at) VALUES (${version.id}, ${runPk}, ${now}) ON CONFLICT DO NOTHING`;
      const rows = await this.all<VersionRow>(`SELECT ${VERSION_COLUMNS} FROM ${VERSION_JOINS} WHERE v.id = $1`, [version.id], t as unknown as Sql);
      return (await this.decorate(rows, false, t as unknown as Sql))[0];
    })) as StoredArtifactVersion;
  }

  async use(versionId: number, runPk: number, now: number): Promise<void> {
    await this.sql`INSERT INTO artifact_inputs (version_id, run_pk, used_at) VALUES (${versionId}, ${runPk}, ${now}) ON CONFLICT DO NOTHING`;
  }

  async version(scope: ArtifactScope, name: string, alias: string, publicOnly: boolean): Promise<StoredArtifactVersion | null> {
    const base = `SELECT ${VERSION_COLUMNS} FROM ${VERSION_JOINS}`;
    const where = `${IN_SCOPE} AND c.name = $4 AND ${VISIBLE}`;
    const params = [publicOnly, scope.entityId, scope.project, name];
    const n = versionNumber(alias);
    const rows =
      alias === LATEST_ALIAS
        ? await this.all<VersionRow>(`${base} WHERE ${where} ORDER BY v.version DESC LIMIT 1`, params)
        : n !== null
          ? await this.all<VersionRow>(`${base} WHERE ${where} AND v.version = $5`, [...params, n])
          : await this.all<VersionRow>(`${base} JOIN artifact_aliases a ON a.version_id = v.id AND a.collection_id = c.id WHERE ${where} AND a.alias = $5`, [...params, alias]);
    return rows.length === 0 ? null : (await this.decorate(rows, publicOnly))[0];
  }

  async entries(versionId: number): Promise<{ files: ArtifactFileEntry[]; references: ArtifactReferenceEntry[] }> {
    return splitEntries(await this.all<Omit<EntryRow, "ord">>("SELECT path, digest, size, uri FROM artifact_entries WHERE version_id = $1 ORDER BY ord", [versionId]));
  }

  async collections(scope: ArtifactScope, type: string | null, publicOnly: boolean): Promise<StoredArtifactCollection[]> {
    const rows = await this.all<{ name: string; type: string; versions: number; newest: number }>(
      `SELECT c.name, c.type, count(*)::bigint AS versions, max(v.version) AS newest
       FROM ${VERSION_JOINS} WHERE ${IN_SCOPE} AND ($4::text IS NULL OR c.type = $4) AND ${VISIBLE}
       GROUP BY c.id ORDER BY c.name COLLATE "C"`,
      [publicOnly, scope.entityId, scope.project, type],
    );
    const out: StoredArtifactCollection[] = [];
    for (const c of rows) {
      out.push({ name: c.name, type: c.type, versions: c.versions, latest: (await this.version(scope, c.name, `v${c.newest}`, publicOnly)) as StoredArtifactVersion });
    }
    return out;
  }

  async versions(scope: ArtifactScope, name: string, publicOnly: boolean): Promise<StoredArtifactVersion[] | null> {
    const rows = await this.all<VersionRow>(
      `SELECT ${VERSION_COLUMNS} FROM ${VERSION_JOINS} WHERE ${IN_SCOPE} AND c.name = $4 AND ${VISIBLE} ORDER BY v.version DESC`,
      [publicOnly, scope.entityId, scope.project, name],
    );
    return rows.length === 0 ? null : this.decorate(rows, publicOnly);
  }

  async lineage(versionId: number): Promise<{ producedBy: StoredArtifactRunLink[]; usedBy: StoredArtifactRunLink[] }> {
    return {
      producedBy: await this.all<StoredArtifactRunLink>(`SELECT ${RUN_LINK} JOIN artifact_outputs x ON x.run_pk = r.pk WHERE x.version_id = $1 ORDER BY x.id`, [versionId]),
      usedBy: await this.all<StoredArtifactRunLink>(`SELECT ${RUN_LINK} JOIN artifact_inputs x ON x.run_pk = r.pk WHERE x.version_id = $1 ORDER BY x.id`, [versionId]),
    };
  }

  async runArtifacts(runPk: number): Promise<{ outputs: StoredArtifactVersion[]; inputs: StoredArtifactVersion[] }> {
    const of = async (table: string) =>
      this.decorate(await this.all<VersionRow>(`SELECT ${VERSION_COLUMNS} FROM ${VERSION_JOINS} JOIN ${table} x ON x.version_id = v.id WHERE x.run_pk = $1 ORDER BY x.id`, [runPk]), false);
    return { outputs: await of("artifact_outputs"), inputs: await of("artifact_inputs") };
  }

  async blobInVisibleVersion(scope: ArtifactScope, digest: string, publicOnly: boolean): Promise<boolean> {
    const rows = await this.all(
      `SELECT 1 FROM ${VERSION_JOINS} JOIN artifact_entries n ON n.version_id = v.id
       WHERE n.digest = $4 AND n.uri IS NULL AND ${IN_SCOPE} AND ${VISIBLE} LIMIT 1`,
      [publicOnly, scope.entityId, scope.project, digest],
    );
    return rows.length > 0;
  }

  /** Rows with their aliases: two lookups for the lot, whatever their number. */
  private async decorate(rows: VersionRow[], publicOnly: boolean, sql: Sql = this.sql): Promise<StoredArtifactVersion[]> {
    if (rows.length === 0) return [];
    const aliases = aliasesByVersion(
      await this.all<{ versionId: number; alias: string }>(`SELECT version_id AS "versionId", alias FROM artifact_aliases WHERE version_id = ANY($1::bigint[])`, [rows.map((r) => r.id)], sql),
    );
    const newest = await this.all<{ collectionId: number; newest: number }>(
      `SELECT v.collection_id AS "collectionId", max(v.version) AS newest FROM artifact_versions v
       WHERE v.collection_id = ANY($2::bigint[]) AND ${VISIBLE} GROUP BY v.collection_id`,
      [publicOnly, [...new Set(rows.map((r) => r.collectionId))]],
      sql,
    );
    return rows.map((r) => withAliases(r, aliases, new Map(newest.map((n) => [n.collectionId, n.newest]))));
  }
}
