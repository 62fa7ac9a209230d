/**
 * Artifacts: versioned sets of files (datasets, models) that runs log and use. What the client,
 * the daemon, the server, the CLI and the web app share about them: names, the manifest, its
 * digest, the daemon's queue entries, and the HTTP API's bodies and answers (docs/api.md,
 * "Artifacts").
 *
 * A version's identity is its manifest's digest: the sha256 of its entries (path, file digest,
 * size; references by URI), not of its description or metadata. Logging a manifest whose digest
 * an existing version of the collection has adds no version: the call answers that version.
 *
 * (manifestDigest is in artifact-digest.ts: it needs node:crypto, which the web app has not.)
 *
 * File bytes are blobs addressed by their sha256, stored once per project in the server's blob
 * store (the data directory, or an S3-compatible bucket).
 */
import { errors } from "./errors.js";
import type { JsonObject } from "./records.js";

/** Longest artifact name, type or alias. */
export const MAX_ARTIFACT_NAME = 128;
/** Most entries (files and references) in one version. */
export const MAX_ARTIFACT_ENTRIES = 1_000_000;
/** Longest path of an entry inside an artifact. */
export const MAX_ARTIFACT_PATH = 1024;
/**
 * Size of one part of a multipart blob upload (the last part may be smaller). A blob of at most
 * this size is uploaded in one PUT. S3 wants parts of 5 MiB at least and 10,000 at most: 64 MiB
 * parts carry blobs up to 625 GiB.
 */
export const ARTIFACT_PART_BYTES = 64 * 1024 * 1024;

/** A sha256 digest as 64 lower-case hex characters. */
export const DIGEST_PATTERN = /^[0-9a-f]{64}$/;

/** The alias every collection's newest version carries; it moves by itself. */
export const LATEST_ALIAS = "latest";

/** A file of a version: its path inside the artifact, and its bytes' sha256 and size. */
export interface ArtifactFileEntry {
  path: string;
  digest: string;
  size: number;
}

/**
 * An object outside trackside recorded by its URI (`s3://`, `https://`, `file://`), not copied.
 * `digest` (sha256 hex) and `size` where known: a `file://` reference is hashed when added.
 */
export interface ArtifactReferenceEntry {
  path: string;
  uri: string;
  digest: string | null;
  size: number | null;
}

/** What a version holds, as the client builds it. */
export interface ArtifactManifest {
  name: string;
  type: string;
  description: string | null;
  metadata: JsonObject;
  /** Sorted by path; paths unique across files and references. */
  files: ArtifactFileEntry[];
  references: ArtifactReferenceEntry[];
}

/** The total size of a manifest's files (references are not counted: they are not stored). */
export function manifestSize(m: Pick<ArtifactManifest, "files">): number {
  let size = 0;
  for (const f of m.files) size += f.size;
  return size;
}

const NAME_FORBIDDEN = /[/\\:#?%\u0000-\u001f\u007f]/;
const VERSION_ALIAS = /^v\d+$/;

function checkText(what: string, value: unknown, fix: string): string {
  if (typeof value !== "string") throw errors.invalidArtifact(what, `it is a ${value === null ? "null" : typeof value}, not a string`, fix);
  if (value.length === 0) throw errors.invalidArtifact(what, "it is empty", fix);
  if (value.length > MAX_ARTIFACT_NAME) throw errors.invalidArtifact(what, `it is ${value.length} characters long (at most ${MAX_ARTIFACT_NAME})`, fix);
  if (value.trim() !== value) throw errors.invalidArtifact(what, "it starts or ends with whitespace", fix);
  const bad = NAME_FORBIDDEN.exec(value);
  if (bad) throw errors.invalidArtifact(what, `it contains ${JSON.stringify(bad[0])}`, fix);
  if (value === "." || value === "..") throw errors.invalidArtifact(what, `"${value}" names a directory in a URL path`, fix);
  return value;
}

/**
 * Names that the HTTP API's paths take after `/artifacts/:entity/:project/`: fastify matches
 * static segments first, so an artifact named `blobs` could not be read at `.../blobs/latest`.
 */
const RESERVED_NAMES: ReadonlySet<string> = new Set(["blobs", "versions", "uses"]);

/** Returns the artifact name unchanged, or throws TRK_ERR_INVALID_ARTIFACT (a `/` or `:` in it, a reserved name...). */
export function validateArtifactName(name: unknown): string {
  const fix = "Use 1 to 128 characters without / \\ : # ? % (e.g. \"mnist-train\").";
  checkText(`name ${JSON.stringify(name)}`, name, fix);
  if (RESERVED_NAMES.has(name as string)) throw errors.invalidArtifact(`name ${JSON.stringify(name)}`, "the server's API uses it in its paths (blobs, versions and uses are taken)", "Choose another name, such as \"mnist-train\".");
  return name as string;
}

/** Returns the artifact type unchanged ("dataset", "model", ...), or throws TRK_ERR_INVALID_ARTIFACT. */
export function validateArtifactType(type: unknown): string {
  return checkText(`type ${JSON.stringify(type)}`, type, "Use a short word such as \"dataset\" or \"model\".");
}

/**
 * Returns a user alias unchanged, or throws TRK_ERR_INVALID_ARTIFACT: an alias may not look like
 * a version (`v3`) nor be `latest` (the server moves that one itself).
 */
export function validateAlias(alias: unknown): string {
  const fix = "Use a word such as \"best\" or \"production\"; versions (v0, v1...) and latest are given by the server.";
  checkText(`alias ${JSON.stringify(alias)}`, alias, fix);
  if (VERSION_ALIAS.test(alias as string)) throw errors.invalidArtifact(`alias ${JSON.stringify(alias)}`, "it looks like a version", fix);
  if (alias === LATEST_ALIAS) throw errors.invalidArtifact(`alias ${JSON.stringify(alias)}`, "latest is moved by the server to the newest version", fix);
  return alias as string;
}

/**
 * Returns an entry's path unchanged, or throws TRK_ERR_INVALID_ARTIFACT: relative, `/`-separated,
 * without `.` or `..` segments, empty segments or control characters (it becomes a file's path
 * under the directory the artifact is downloaded to).
 */
export function validateEntryPath(path: unknown): string {
  const what = `entry path ${JSON.stringify(path)}`;
  const fix = "Use a relative path such as \"images/0001.png\" (name: option of addFile).";
  if (typeof path !== "string" || path.length === 0) throw errors.invalidArtifact(what, "it is not a non-empty string", fix);
  if (path.length > MAX_ARTIFACT_PATH) throw errors.invalidArtifact(what, `it is ${path.length} characters long (at most ${MAX_ARTIFACT_PATH})`, fix);
  if (/[\u0000-\u001f\u007f\\]/.test(path)) throw errors.invalidArtifact(what, "it contains a control character or a backslash", fix);
  for (const segment of path.split("/")) {
    if (segment === "" || segment === "." || segment === "..") throw errors.invalidArtifact(what, "it is absolute, or has an empty, . or .. segment", fix);
  }
  return path;
}

/** Where a version is: `alias` is "latest", "v3" or a user alias. */
export interface ArtifactRef {
  entity: string | null;
  project: string | null;
  name: string;
  alias: string;
}

/**
 * Parses `name`, `name:alias`, `entity/project/name` or `entity/project/name:alias` (the alias
 * defaults to `latest`; `project/name` is refused as ambiguous).
 * @throws TRK_ERR_INVALID_ARTIFACT for any other shape.
 */
export function parseArtifactRef(ref: unknown): ArtifactRef {
  const fix = 'Write "name", "name:alias" or "entity/project/name:alias" (alias: latest, v3, or one you gave).';
  if (typeof ref !== "string") throw errors.invalidArtifact(`reference ${JSON.stringify(ref)}`, "it is not a string", fix);
  const colon = ref.lastIndexOf(":");
  const pathPart = colon < 0 ? ref : ref.slice(0, colon);
  const alias = colon < 0 ? LATEST_ALIAS : ref.slice(colon + 1);
  const parts = pathPart.split("/");
  if (parts.length !== 1 && parts.length !== 3) throw errors.invalidArtifact(`reference ${JSON.stringify(ref)}`, "it is neither name[:alias] nor entity/project/name[:alias]", fix);
  const name = validateArtifactName(parts[parts.length - 1]);
  if (alias !== LATEST_ALIAS && !VERSION_ALIAS.test(alias)) validateAlias(alias);
  return { entity: parts.length === 3 ? parts[0] : null, project: parts.length === 3 ? parts[1] : null, name, alias };
}

/** `name:v3`: how a version is written. */
export const versionRef = (name: string, version: number): string => `${name}:v${version}`;

// ---- The daemon's queue (files under <runDir>/artifacts/queue/) ----

/** The name of a queue entry: 15 digits of ms since epoch, a dash, 8 of [a-z0-9]. Sorted = queued order. */
export const QUEUE_ENTRY_PATTERN = /^\d{15}-[a-z0-9]{8}$/;

/**
 * One piece of artifact work the client hands to the daemon, written (atomically) as
 * `<runDir>/artifacts/queue/<entry>.json` before the client asks the daemon to take it:
 * - `log`: a version to upload. Each file's bytes are staged at `<runDir>/artifacts/blobs/<digest>`.
 * - `use`: a version the run used, to record as its input (already resolved to a number).
 * - `blobs`: bytes without a version (media a run logged, protocol/media.ts), staged like a `log`
 *   entry's files: the ones the project's store lacks are uploaded; done is `{version: null, error: null}`.
 * The daemon writes `<entry>.done.json` (ArtifactQueueResult) when the server has it.
 */
export type ArtifactQueueEntry =
  | { kind: "log"; manifest: ArtifactManifest; digest: string; aliases: string[] }
  | { kind: "use"; entity: string; project: string; name: string; version: number }
  | { kind: "blobs"; blobs: { digest: string; size: number }[] };

/** What the daemon writes to `<entry>.done.json`: the version logged or used (null for `blobs`), or why it could not be. */
export interface ArtifactQueueResult {
  version: number | null;
  error: string | null;
}

// ---- HTTP API (docs/api.md, "Artifacts"); paths under /api/v1 ----

/** POST /artifacts/:entity/:project/blobs/missing: which of these digests the project's store lacks. */
export interface MissingBlobsBody {
  digests: string[];
}
export interface MissingBlobsAnswer {
  missing: string[];
}

/** POST /artifacts/:entity/:project/blobs/:digest/uploads: how to upload a blob of `size` bytes. */
export interface BlobUploadBody {
  size: number;
  /** An upload begun before (a successor daemon resuming): the plan of the same upload. */
  uploadId?: string | null;
}

/**
 * An upload plan. `exists`: the store has the blob already, nothing to send. Otherwise PUT each
 * part's bytes (`ARTIFACT_PART_BYTES` each, the last smaller) to its `url`: a path on this server
 * (send the API key) or an absolute presigned URL of the object store (send no credentials).
 * With `uploadId` null there is one part and the PUT completes the blob; otherwise POST
 * `.../uploads/:uploadId/complete` with every part's ETag (the PUT's `etag` header).
 */
export interface BlobUploadPlan {
  exists: boolean;
  uploadId: string | null;
  partBytes: number;
  parts: { number: number; url: string }[];
}

/** POST /artifacts/:entity/:project/blobs/:digest/uploads/:uploadId/complete. Answers `{ digest, size }`. */
export interface CompleteUploadBody {
  parts: { number: number; etag: string }[];
}

/** POST /artifacts/:entity/:project/versions: a run logged a version (the daemon, once every blob is stored). */
export interface LogVersionBody {
  runId: string;
  manifest: ArtifactManifest;
  aliases: string[];
}

/** POST /artifacts/:entity/:project/uses: a run (of :entity/:project) used a version (of any project it may read). */
export interface UseVersionBody {
  runId: string;
  artifact: { entity: string; project: string; name: string; version: number };
}

/** A version in lists and in a run's outputs and inputs. */
export interface ArtifactVersionSummary {
  entity: string;
  project: string;
  name: string;
  type: string;
  version: number;
  /** `name:v3` */
  ref: string;
  /** User aliases and `latest` where it is the newest version; sorted. */
  aliases: string[];
  digest: string;
  size: number;
  fileCount: number;
  createdAt: number;
}

/** A run on either side of a version. */
export interface ArtifactRunLink {
  entity: string;
  project: string;
  id: string;
  name: string;
  state: string;
}

/** GET /artifacts/:entity/:project/:name/:alias: one version, whole. */
export interface ArtifactVersionDetail extends ArtifactVersionSummary {
  description: string | null;
  metadata: JsonObject;
  /** Each file with where to download it (a path on this server, or an absolute presigned URL). */
  files: (ArtifactFileEntry & { url: string })[];
  references: ArtifactReferenceEntry[];
  /** The runs that logged this version (the first one made it). */
  producedBy: ArtifactRunLink[];
  /** The runs that used it. */
  usedBy: ArtifactRunLink[];
}

/** GET /artifacts/:entity/:project[?type=T]: the project's collections, newest version first. */
export interface ArtifactCollectionSummary {
  name: string;
  type: string;
  versions: number;
  latest: ArtifactVersionSummary;
}

/** GET /artifacts/:entity/:project/:name: a collection's versions, newest first. */
export interface ArtifactCollectionDetail {
  name: string;
  type: string;
  versions: ArtifactVersionSummary[];
}
