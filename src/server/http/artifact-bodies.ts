/**
 * The JSON bodies of the artifact routes (routes-artifacts.ts), checked field by field before
 * anything is stored: a shape fault is TRK_ERR_BAD_REQUEST naming the field, a bad name, alias,
 * path or digest TRK_ERR_INVALID_ARTIFACT (the checks of protocol/artifacts.ts, the same the
 * client made at the call), a value over a limit TRK_ERR_TOO_LARGE. Never a 500: the daemon sets
 * aside an entry the server refuses with a 4xx, and retries one it answers with a 5xx forever.
 */
import {
  DIGEST_PATTERN,
  LATEST_ALIAS,
  MAX_ARTIFACT_ENTRIES,
  validateAlias,
  validateArtifactName,
  validateArtifactType,
  validateEntryPath,
  type ArtifactFileEntry,
  type ArtifactManifest,
  type ArtifactReferenceEntry,
  type LogVersionBody,
  type UseVersionBody,
} from "../../protocol/artifacts.js";
import { errors } from "../../protocol/errors.js";
import { validateEntity, validateProject, validateRunId } from "../../protocol/ids.js";
import { MAX_DEPTH, MAX_NOTES, MAX_OBJECT_BYTES, objectCost } from "../../protocol/limits.js";
import type { JsonObject } from "../../protocol/records.js";
import { fieldsOf } from "./body-fields.js";

/** Aliases one call may give a version: a handful in practice ("best", "production"); 100 is a list nobody reads. */
export const MAX_ARTIFACT_ALIASES = 100;
/** Longest reference URI: a presigned URL with its query is a few KiB; 8 Ki characters leaves room. */
export const MAX_REFERENCE_URI = 8 * 1024;
/** The schemes of references, as the client's addReference takes them (client/artifact.ts). */
const REFERENCE_SCHEMES = new Set(["s3:", "gs:", "https:", "http:", "file:"]);

function arrayOf(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw errors.badRequest(`${what} must be an array`);
  return value;
}

/** A byte count: a whole number from 0 (a JSON number past 2^53 is no file's size). */
function size(value: unknown, what: string): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) throw errors.badRequest(`${what} must be a whole number of bytes from 0, not ${JSON.stringify(value)}`);
  return value as number;
}

function digest(value: unknown, what: string): string {
  if (typeof value !== "string" || !DIGEST_PATTERN.test(value)) {
    throw errors.invalidArtifact(what, `its digest ${JSON.stringify(value)} is not a sha256 as 64 lower-case hex characters`, "Send the sha256 of the file's bytes in hex.");
  }
  return value;
}

/**
 * Metadata: a JSON object, nested at most MAX_DEPTH levels below it and MAX_OBJECT_BYTES as objectCost counts it
 * (the limits of a run's config). The depth is checked first and without recursion, so a body of
 * 100,000 nested arrays costs a loop, not the stack.
 */
function metadata(value: unknown): JsonObject {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw errors.badRequest("manifest.metadata must be a JSON object");
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (depth > MAX_DEPTH) throw errors.tooLarge("The artifact's metadata", `nested deeper than ${MAX_DEPTH} levels`, `${MAX_DEPTH} levels`);
    for (const item of Object.values(v)) stack.push([item, depth + 1]);
  }
  const cost = objectCost(value, MAX_OBJECT_BYTES);
  if (cost > MAX_OBJECT_BYTES) throw errors.tooLarge("The artifact's metadata", `over ${MAX_OBJECT_BYTES} bytes as JSON`, `${MAX_OBJECT_BYTES} bytes`);
  return value as JsonObject;
}

function description(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") throw errors.badRequest("manifest.description must be a string or null");
  if (value.includes("\u0000")) throw errors.badRequest("manifest.description holds the character U+0000, which no stored text holds");
  if (value.length > MAX_NOTES) throw errors.tooLarge("The artifact's description", `${value.length} characters`, MAX_NOTES);
  return value;
}

function fileEntry(value: unknown, i: number): ArtifactFileEntry {
  const what = `manifest.files[${i}]`;
  const f = fieldsOf(value, ["path", "digest", "size"], what);
  const path = validateEntryPath(f.path);
  return { path, digest: digest(f.digest, `file ${JSON.stringify(path)}`), size: size(f.size, `${what}.size`) };
}

function referenceEntry(value: unknown, i: number): ArtifactReferenceEntry {
  const what = `manifest.references[${i}]`;
  const r = fieldsOf(value, ["path", "uri", "digest", "size"], what);
  const path = validateEntryPath(r.path);
  const fix = 'Record an object by a URI such as "s3://bucket/key" or "https://host/file".';
  if (typeof r.uri !== "string" || r.uri.length === 0) throw errors.invalidArtifact(`reference ${JSON.stringify(path)}`, "its uri is not a non-empty string", fix);
  if (r.uri.length > MAX_REFERENCE_URI) throw errors.tooLarge(`The uri of reference ${JSON.stringify(path)}`, `${r.uri.length} characters`, MAX_REFERENCE_URI);
  // new URL() percent-encodes them, but the URI is kept as sent: PostgreSQL cannot store a NUL.
  if (/[\u0000-\u001f\u007f]/.test(r.uri)) throw errors.invalidArtifact(`reference ${JSON.stringify(path)}`, "its uri holds a control character", "Percent-encode it (%00).");
  let scheme: string;
  try {
    scheme = new URL(r.uri).protocol;
  } catch {
    throw errors.invalidArtifact(`reference ${JSON.stringify(path)}`, `${JSON.stringify(r.uri)} is not a URI`, fix);
  }
  if (!REFERENCE_SCHEMES.has(scheme)) throw errors.invalidArtifact(`reference ${JSON.stringify(path)}`, `its scheme ${scheme} is not one of ${[...REFERENCE_SCHEMES].join(", ")}`, fix);
  return {
    path,
    uri: r.uri,
    digest: r.digest === undefined || r.digest === null ? null : digest(r.digest, `reference ${JSON.stringify(path)}`),
    size: r.size === undefined || r.size === null ? null : size(r.size, `${what}.size`),
  };
}

const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** The manifest of a LogVersionBody: every field checked, files and references sorted by path, paths unique. */
export function parseManifest(value: unknown): ArtifactManifest {
  const m = fieldsOf(value, ["name", "type", "description", "metadata", "files", "references"], "manifest");
  const name = validateArtifactName(m.name);
  const type = validateArtifactType(m.type);
  const rawFiles = arrayOf(m.files, "manifest.files");
  const rawRefs = m.references === undefined ? [] : arrayOf(m.references, "manifest.references");
  const entries = rawFiles.length + rawRefs.length;
  if (entries > MAX_ARTIFACT_ENTRIES) throw errors.tooLarge(`Artifact ${name}`, `${entries} files and references`, MAX_ARTIFACT_ENTRIES);
  const files = rawFiles.map(fileEntry).sort(byPath);
  const references = rawRefs.map(referenceEntry).sort(byPath);
  const paths = new Set<string>();
  for (const e of [...files, ...references]) {
    if (paths.has(e.path)) throw errors.invalidArtifact(`entry path ${JSON.stringify(e.path)}`, "two entries of the manifest have it", "Give each file and reference its own path.");
    paths.add(e.path);
  }
  // A path may not be another's directory: a download could not make `a` both a file and a directory.
  for (const path of paths) {
    for (let slash = path.indexOf("/"); slash >= 0; slash = path.indexOf("/", slash + 1)) {
      const dir = path.slice(0, slash);
      if (paths.has(dir)) throw errors.invalidArtifact(`entry path ${JSON.stringify(path)}`, `it is under ${JSON.stringify(dir)}, another entry's path`, "Give no entry a path that another one's path is under.");
    }
  }
  return { name, type, description: description(m.description), metadata: metadata(m.metadata), files, references };
}

/** Aliases as given, each checked (not `latest`, not a version), duplicates dropped, sorted. */
function aliases(value: unknown): string[] {
  if (value === undefined) return [];
  const list = arrayOf(value, "aliases");
  if (list.length > MAX_ARTIFACT_ALIASES) throw errors.tooLarge("The list of aliases", `${list.length} aliases`, MAX_ARTIFACT_ALIASES);
  return [...new Set(list.map(validateAlias))].sort();
}

/** `POST /artifacts/:entity/:project/versions`: `{ runId, manifest, aliases? }`. */
export function parseLogVersion(body: unknown): LogVersionBody {
  const b = fieldsOf(body, ["runId", "manifest", "aliases"], "the body");
  return { runId: validateRunId(b.runId), manifest: parseManifest(b.manifest), aliases: aliases(b.aliases) };
}

/** `POST /artifacts/:entity/:project/uses`: `{ runId, artifact: { entity, project, name, version } }`. */
export function parseUseVersion(body: unknown): UseVersionBody {
  const b = fieldsOf(body, ["runId", "artifact"], "the body");
  const a = fieldsOf(b.artifact, ["entity", "project", "name", "version"], "artifact");
  if (!Number.isSafeInteger(a.version) || (a.version as number) < 0) throw errors.badRequest(`artifact.version must be a version's number (3 for v3), not ${JSON.stringify(a.version)}`);
  return {
    runId: validateRunId(b.runId),
    artifact: { entity: validateEntity(a.entity), project: validateProject(a.project), name: validateArtifactName(a.name), version: a.version as number },
  };
}

/**
 * The `:alias` of a route as the store looks it up: `latest`, a version written `v<N>` (leading
 * zeros dropped), or a user alias (checked). Null for a version past any that can exist: the
 * route answers "not found" for it, as for any other version that is not there.
 */
export function parseAliasParam(value: unknown): string | null {
  if (value === LATEST_ALIAS) return value;
  if (typeof value === "string" && /^v\d+$/.test(value)) {
    const n = Number(value.slice(1));
    return Number.isSafeInteger(n) ? `v${n}` : null;
  }
  return validateAlias(value);
}
