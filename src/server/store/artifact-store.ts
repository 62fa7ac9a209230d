/**
 * The store's part of artifacts (protocol/artifacts.ts): collections, versions, aliases and the
 * lineage between runs and versions. The bytes are not here: they are blobs in the server's
 * BlobStore (server/blobs/blob-store.ts), which a version names by digest.
 *
 * Visibility: an entity's members see every version of its projects; anyone else (`publicOnly`)
 * sees a version only when a public run of the project logged it. Such a reader sees the
 * collection made of those versions alone: its `latest` is the newest of them, and a collection
 * with none is not listed.
 *
 * Implementations: sqlite/sqlite-artifacts.ts and postgres/postgres-artifacts.ts (tables of
 * SQLite migration 14, PostgreSQL migration 7); the contract is the "artifacts" block of
 * test/server/store-contract.ts.
 */
import type { ArtifactFileEntry, ArtifactManifest, ArtifactReferenceEntry } from "../../protocol/artifacts.js";
import type { JsonObject, RunState } from "../../protocol/records.js";
import type { Privacy } from "../../protocol/api.js";

/** A version as stored (one row of its collection, with its aliases). */
export interface StoredArtifactVersion {
  id: number;
  entity: string;
  project: string;
  name: string;
  type: string;
  version: number;
  /** User aliases and `latest` on the newest version; sorted by their UTF-8 bytes. */
  aliases: string[];
  digest: string;
  size: number;
  fileCount: number;
  description: string | null;
  metadata: JsonObject;
  createdAt: number;
}

/** A run on either side of a version, with what the HTTP layer needs to check who may see it. */
export interface StoredArtifactRunLink {
  runPk: number;
  entity: string;
  project: string;
  id: string;
  name: string;
  state: RunState;
  privacy: Privacy;
}

/** A project's collection: its name and type, how many versions, the newest. */
export interface StoredArtifactCollection {
  name: string;
  type: string;
  versions: number;
  latest: StoredArtifactVersion;
}

/** Where artifacts live: an entity's project. */
export interface ArtifactScope {
  entityId: number;
  project: string;
}

export interface ArtifactStore {
  /**
   * Records that run `runPk` (of this scope) logged the manifest, whose digest is `digest`:
   * the version of the collection `manifest.name` with that digest if one exists, else a new
   * version numbered one above the newest (v0 first), which `latest` moves to. Each alias moves to
   * the answered version. The run becomes one of the version's producers (once). Applying the
   * same call again changes nothing; two calls at once (two replicas) make one version.
   * @throws TRK_ERR_CONFLICT when the collection exists with another type.
   */
  logArtifactVersion(scope: ArtifactScope, runPk: number, manifest: ArtifactManifest, digest: string, aliases: string[], now: number): Promise<StoredArtifactVersion>;
  /** Records that run `runPk` used version `versionId` (once; again changes nothing). */
  useArtifactVersion(versionId: number, runPk: number, now: number): Promise<void>;
  /** A version by `latest`, `v3` or a user alias; null when none (or not visible). */
  getArtifactVersion(scope: ArtifactScope, name: string, alias: string, publicOnly: boolean): Promise<StoredArtifactVersion | null>;
  /** The files and references of a version, sorted by path. */
  artifactEntries(versionId: number): Promise<{ files: ArtifactFileEntry[]; references: ArtifactReferenceEntry[] }>;
  /** The project's collections (of one type, or all), by name. */
  listArtifactCollections(scope: ArtifactScope, type: string | null, publicOnly: boolean): Promise<StoredArtifactCollection[]>;
  /** A collection's versions, newest first; null when it has none visible. */
  listArtifactVersions(scope: ArtifactScope, name: string, publicOnly: boolean): Promise<StoredArtifactVersion[] | null>;
  /** The runs that logged a version (first logged first) and the runs that used it (first used first). */
  artifactLineage(versionId: number): Promise<{ producedBy: StoredArtifactRunLink[]; usedBy: StoredArtifactRunLink[] }>;
  /** The versions a run logged and used, each in the order the run first logged or used it. */
  runArtifacts(runPk: number): Promise<{ outputs: StoredArtifactVersion[]; inputs: StoredArtifactVersion[] }>;
  /** Whether a version visible in the scope holds a file of that digest (the blob download's check). */
  blobInVisibleVersion(scope: ArtifactScope, digest: string, publicOnly: boolean): Promise<boolean>;
}
