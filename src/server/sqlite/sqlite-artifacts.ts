/**
 * Artifacts in the SQLite store (store/artifact-store.ts; postgres-artifacts.ts is the same for
 * PostgreSQL). A log is one transaction: SQLite has one writer, so two logs of the same manifest
 * run one after the other and the second finds the first's version by its digest.
 */
import type Database from "better-sqlite3";
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

/** Whether version `v` is visible: to members always (@publicOnly = 0), else when a public run logged it. */
const VISIBLE = `(@publicOnly = 0 OR EXISTS (SELECT 1 FROM artifact_outputs o JOIN runs r ON r.pk = o.run_pk
  WHERE o.version_id = v.id AND r.privacy = 'public'))`;
const IN_SCOPE = "p.entity_id = @entityId AND p.name = @project";
const RUN_LINK = `r.pk AS runPk, e.name AS entity, p.name AS project, r.run_id AS id, r.name, r.state, r.privacy
  FROM runs r JOIN projects p ON p.id = r.project_id JOIN entities e ON e.id = p.entity_id`;

type Flag = 0 | 1;
const flag = (b: boolean): Flag => (b ? 1 : 0);

export class SqliteArtifacts {
  private readonly s;

  constructor(private readonly db: Database.Database) {
    const p = (sql: string) => db.prepare(sql);
    this.s = {
      runProject: p(`SELECT r.project_id AS projectId FROM runs r JOIN projects p ON p.id = r.project_id WHERE r.pk = @runPk AND ${IN_SCOPE}`),
      collection: p("SELECT id, type FROM artifact_collections WHERE project_id = ? AND name = ?"),
      insertCollection: p("INSERT INTO artifact_collections (project_id, name, type, created_at) VALUES (?, ?, ?, ?)"),
      versionByDigest: p("SELECT id FROM artifact_versions WHERE collection_id = ? AND digest = ?"),
      nextVersion: p("SELECT coalesce(max(version) + 1, 0) AS n FROM artifact_versions WHERE collection_id = ?"),
      insertVersion: p(`INSERT INTO artifact_versions (collection_id, version, digest, size, file_count, description, metadata, created_at)
                        VALUES (@collectionId, @version, @digest, @size, @fileCount, @description, @metadata, @now)`),
      insertEntry: p("INSERT INTO artifact_entries (version_id, ord, path, digest, size, uri) VALUES (@versionId, @ord, @path, @digest, @size, @uri)"),
      moveAlias: p(`INSERT INTO artifact_aliases (collection_id, alias, version_id) VALUES (?, ?, ?)
                    ON CONFLICT (collection_id, alias) DO UPDATE SET version_id = excluded.version_id`),
      addOutput: p("INSERT OR IGNORE INTO artifact_outputs (version_id, run_pk, logged_at) VALUES (?, ?, ?)"),
      addInput: p("INSERT OR IGNORE INTO artifact_inputs (version_id, run_pk, used_at) VALUES (?, ?, ?)"),
      byId: p(`SELECT ${VERSION_COLUMNS} FROM ${VERSION_JOINS} WHERE v.id = ?`),
      latest: p(`SELECT ${VERSION_COLUMNS} FROM ${VERSION_JOINS} WHERE ${IN_SCOPE} AND c.name = @name AND ${VISIBLE}
                 ORDER BY v.version DESC LIMIT 1`),
      byNumber: p(`SELECT ${VERSION_COLUMNS} FROM ${VERSION_JOINS} WHERE ${IN_SCOPE} AND c.name = @name AND v.version = @version AND ${VISIBLE}`),
      byAlias: p(`SELECT ${VERSION_COLUMNS} FROM ${VERSION_JOINS} JOIN artifact_aliases a ON a.version_id = v.id
                  WHERE ${IN_SCOPE} AND c.name = @name AND a.collection_id = c.id AND a.alias = @alias AND ${VISIBLE}`),
      versions: p(`SELECT ${VERSION_COLUMNS} FROM ${VERSION_JOINS} WHERE ${IN_SCOPE} AND c.name = @name AND ${VISIBLE} ORDER BY v.version DESC`),
      collections: p(`SELECT c.id, c.name, c.type, count(*) AS versions, max(v.version) AS newest
                      FROM ${VERSION_JOINS} WHERE ${IN_SCOPE} AND (@type IS NULL OR c.type = @type) AND ${VISIBLE}
                      GROUP BY c.id ORDER BY c.name`),
      aliases: p("SELECT version_id AS versionId, alias FROM artifact_aliases WHERE version_id IN (SELECT value FROM json_each(?))"),
      newest: p(`SELECT v.collection_id AS collectionId, max(v.version) AS newest FROM artifact_versions v
                 WHERE v.collection_id IN (SELECT value FROM json_each(@ids)) AND ${VISIBLE} GROUP BY v.collection_id`),
      entries: p("SELECT path, digest, size, uri FROM artifact_entries WHERE version_id = ? ORDER BY ord"),
      producedBy: p(`SELECT ${RUN_LINK} JOIN artifact_outputs x ON x.run_pk = r.pk WHERE x.version_id = ? ORDER BY x.id`),
      usedBy: p(`SELECT ${RUN_LINK} JOIN artifact_inputs x ON x.run_pk = r.pk WHERE x.version_id = ? ORDER BY x.id`),
      outputs: p(`SELECT ${VERSION_COLUMNS} FROM ${VERSION_JOINS} JOIN artifact_outputs x ON x.version_id = v.id WHERE x.run_pk = ? ORDER BY x.id`),
      inputs: p(`SELECT ${VERSION_COLUMNS} FROM ${VERSION_JOINS} JOIN artifact_inputs x ON x.version_id = v.id WHERE x.run_pk = ? ORDER BY x.id`),
      blob: p(`SELECT 1 FROM ${VERSION_JOINS} JOIN artifact_entries n ON n.version_id = v.id
               WHERE n.digest = @digest AND n.uri IS NULL AND ${IN_SCOPE} AND ${VISIBLE} LIMIT 1`),
    };
  }

  log(scope: ArtifactScope, runPk: number, manifest: ArtifactManifest, digest: string, aliases: string[], now: number): StoredArtifactVersion {
    return this.db.transaction(() => {
      const run = this.s.runProject.get({ runPk, ...scope }) as { projectId: number } | undefined;
      if (!run) throw errors.notFound(`Run ${runPk} of project ${scope.project}`);
      let collection = this.s.collection.get(run.projectId, manifest.name) as { id: number; type: string } | undefined;
      if (collection && collection.type !== manifest.type) throw typeConflict(manifest.name, collection.type, manifest.type);
      if (!collection) {
        const { lastInsertRowid } = this.s.insertCollection.run(run.projectId, manifest.name, manifest.type, now);
        collection = { id: Number(lastInsertRowid), type: manifest.type };
      }
      let version = this.s.versionByDigest.get(collection.id, digest) as { id: number } | undefined;
      if (!version) {
        const { n } = this.s.nextVersion.get(collection.id) as { n: number };
        const { lastInsertRowid } = this.s.insertVersion.run({
          collectionId: collection.id,
          version: n,
          digest,
          ...versionTotals(manifest),
          description: manifest.description,
          metadata: JSON.stringify(manifest.metadata),
          now,
        });
        version = { id: Number(lastInsertRowid) };
        for (const e of entryRows(manifest)) this.s.insertEntry.run({ versionId: version.id, ...e });
      }
      for (const alias of aliases) if (alias !== LATEST_ALIAS) this.s.moveAlias.run(collection.id, alias, version.id);
      this.s.addOutput.run(version.id, runPk, now);
      return this.decorate([this.s.byId.get(version.id) as VersionRow], false)[0];
    }).immediate();
  }

  use(versionId: number, runPk: number, now: number): void {
    this.s.addInput.run(versionId, runPk, now);
  }

  version(scope: ArtifactScope, name: string, alias: string, publicOnly: boolean): StoredArtifactVersion | null {
    const params = { ...scope, name, publicOnly: flag(publicOnly) };
    const n = versionNumber(alias);
    const row = (alias === LATEST_ALIAS
      ? this.s.latest.get(params)
      : n !== null
        ? this.s.byNumber.get({ ...params, version: n })
        : this.s.byAlias.get({ ...params, alias })) as VersionRow | undefined;
    return row ? this.decorate([row], publicOnly)[0] : null;
  }

  entries(versionId: number): { files: ArtifactFileEntry[]; references: ArtifactReferenceEntry[] } {
    return splitEntries(this.s.entries.all(versionId) as Omit<EntryRow, "ord">[]);
  }

  collections(scope: ArtifactScope, type: string | null, publicOnly: boolean): StoredArtifactCollection[] {
    const rows = this.s.collections.all({ ...scope, type, publicOnly: flag(publicOnly) }) as { id: number; name: string; type: string; versions: number; newest: number }[];
    return rows.map((c) => ({
      name: c.name,
      type: c.type,
      versions: c.versions,
      latest: this.version(scope, c.name, `v${c.newest}`, publicOnly) as StoredArtifactVersion,
    }));
  }

  versions(scope: ArtifactScope, name: string, publicOnly: boolean): StoredArtifactVersion[] | null {
    const rows = this.s.versions.all({ ...scope, name, publicOnly: flag(publicOnly) }) as VersionRow[];
    return rows.length === 0 ? null : this.decorate(rows, publicOnly);
  }

  lineage(versionId: number): { producedBy: StoredArtifactRunLink[]; usedBy: StoredArtifactRunLink[] } {
    return {
      producedBy: this.s.producedBy.all(versionId) as StoredArtifactRunLink[],
      usedBy: this.s.usedBy.all(versionId) as StoredArtifactRunLink[],
    };
  }

  runArtifacts(runPk: number): { outputs: StoredArtifactVersion[]; inputs: StoredArtifactVersion[] } {
    return {
      outputs: this.decorate(this.s.outputs.all(runPk) as VersionRow[], false),
      inputs: this.decorate(this.s.inputs.all(runPk) as VersionRow[], false),
    };
  }

  blobInVisibleVersion(scope: ArtifactScope, digest: string, publicOnly: boolean): boolean {
    return this.s.blob.get({ ...scope, digest, publicOnly: flag(publicOnly) }) !== undefined;
  }

  /** Rows with their aliases: two lookups for the lot, whatever their number. */
  private decorate(rows: VersionRow[], publicOnly: boolean): StoredArtifactVersion[] {
    if (rows.length === 0) return [];
    const aliases = aliasesByVersion(this.s.aliases.all(JSON.stringify(rows.map((r) => r.id))) as { versionId: number; alias: string }[]);
    const ids = JSON.stringify([...new Set(rows.map((r) => r.collectionId))]);
    const newest = new Map((this.s.newest.all({ ids, publicOnly: flag(publicOnly) }) as { collectionId: number; newest: number }[]).map((r) => [r.collectionId, r.newest]));
    return rows.map((r) => withAliases(r, aliases, newest));
  }
}
