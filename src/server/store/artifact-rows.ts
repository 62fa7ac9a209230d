/**
 * What both stores' artifact code shares (sqlite-artifacts.ts, postgres-artifacts.ts): the
 * entries' stored order, the rows a version is read from, and the aliases a version shows.
 */
import { LATEST_ALIAS, manifestSize, type ArtifactFileEntry, type ArtifactManifest, type ArtifactReferenceEntry } from "../../protocol/artifacts.js";
import type { JsonObject } from "../../protocol/records.js";
import { errors } from "../../protocol/errors.js";
import type { StoredArtifactVersion } from "./artifact-store.js";

const utf8 = (s: string) => Buffer.from(s, "utf8");

/** One stored entry: a file (uri null) or a reference. */
export interface EntryRow {
  ord: number;
  path: string;
  digest: string | null;
  size: number | null;
  uri: string | null;
}

/**
 * A manifest's entries in their stored order: files and references together, by path (its UTF-8
 * bytes, as the store compares text: store.ts), so that reading back by `ord` gives each list
 * sorted by path on every backend.
 */
export function entryRows(m: Pick<ArtifactManifest, "files" | "references">): EntryRow[] {
  const all: Omit<EntryRow, "ord">[] = [
    ...m.files.map((f) => ({ path: f.path, digest: f.digest, size: f.size, uri: null })),
    ...m.references.map((r) => ({ path: r.path, digest: r.digest, size: r.size, uri: r.uri })),
  ];
  const keys = new Map(all.map((e) => [e, utf8(e.path)]));
  all.sort((a, b) => Buffer.compare(keys.get(a) as Buffer, keys.get(b) as Buffer));
  return all.map((e, ord) => ({ ord, ...e }));
}

/** Stored entries (in `ord` order) back into the manifest's two lists. */
export function splitEntries(rows: Omit<EntryRow, "ord">[]): { files: ArtifactFileEntry[]; references: ArtifactReferenceEntry[] } {
  const files: ArtifactFileEntry[] = [];
  const references: ArtifactReferenceEntry[] = [];
  for (const r of rows) {
    if (r.uri === null) files.push({ path: r.path, digest: r.digest as string, size: r.size as number });
    else references.push({ path: r.path, uri: r.uri, digest: r.digest, size: r.size });
  }
  return { files, references };
}

/** The size and file count a version row keeps (the files': references are not stored). */
export function versionTotals(m: Pick<ArtifactManifest, "files">): { size: number; fileCount: number } {
  return { size: manifestSize(m), fileCount: m.files.length };
}

/** A version as both stores' queries select it (metadata as JSON text), before its aliases. */
export interface VersionRow {
  id: number;
  collectionId: number;
  entity: string;
  project: string;
  name: string;
  type: string;
  version: number;
  digest: string;
  size: number;
  fileCount: number;
  description: string | null;
  metadata: string;
  createdAt: number;
}

/** The select list of VersionRow over `artifact_versions v`, `artifact_collections c`, `projects p`, `entities e`. */
export const VERSION_COLUMNS = `v.id, v.collection_id AS "collectionId", e.name AS entity, p.name AS project, c.name, c.type,
  v.version, v.digest, v.size, v.file_count AS "fileCount", v.description, v.metadata, v.created_at AS "createdAt"`;

/** The joins from a version to its entity, for VERSION_COLUMNS. */
export const VERSION_JOINS = `artifact_versions v JOIN artifact_collections c ON c.id = v.collection_id
  JOIN projects p ON p.id = c.project_id JOIN entities e ON e.id = p.entity_id`;

/**
 * A version row with its aliases: its user aliases, and `latest` when it is the newest version of
 * its collection that the reader sees (`newest`: collection id -> version number).
 */
export function withAliases(row: VersionRow, userAliases: Map<number, string[]>, newest: Map<number, number>): StoredArtifactVersion {
  const aliases = [...(userAliases.get(row.id) ?? [])];
  if (newest.get(row.collectionId) === row.version) aliases.push(LATEST_ALIAS);
  aliases.sort((a, b) => Buffer.compare(utf8(a), utf8(b)));
  const { collectionId: _collection, metadata, ...rest } = row;
  return { ...rest, aliases, metadata: JSON.parse(metadata) as JsonObject };
}

/** Groups (version id, alias) rows by version. */
export function aliasesByVersion(rows: { versionId: number; alias: string }[]): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const r of rows) {
    const list = out.get(r.versionId);
    if (list) list.push(r.alias);
    else out.set(r.versionId, [r.alias]);
  }
  return out;
}

/** The conflict of logging a collection under another type than its own. */
export function typeConflict(name: string, has: string, wanted: string): Error {
  return errors.conflict(
    `Artifact "${name}" is a ${JSON.stringify(has)} in this project, not a ${JSON.stringify(wanted)}`,
    `Log it with type ${JSON.stringify(has)}, or under another name.`,
  );
}

/** A version number alias (`v3`) as its number, else null. */
export function versionNumber(alias: string): number | null {
  const m = /^v(\d{1,15})$/.exec(alias);
  return m ? Number(m[1]) : null;
}
