/**
 * An artifact being put together: a named, typed set of files and references that
 * `run.logArtifact()` stages and hands to the daemon. Every add checks its input at the call
 * (a missing file, a bad entry path, an entry path given twice), so that a mistake is a coded
 * error where it was made, not a failed upload later.
 */
import { readdirSync, statSync, type Stats } from "node:fs";
import { relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { errors, validateArtifactName, validateArtifactType, validateEntryPath, type JsonObject } from "../protocol/index.js";
import { checkConfigObject, cleanConfigValue } from "./values.js";
import type { StagePolicy } from "./artifact-staging.js";

/** Options of {@link artifact}. */
export interface ArtifactOptions {
  /** What the version holds, shown on its page. */
  description?: string;
  /** Facts about it (JSON: row counts, the model's accuracy...). */
  metadata?: Record<string, unknown>;
}

/** A file to stage: its absolute path on this machine, and its path inside the artifact. */
export interface PendingFile {
  path: string;
  source: string;
  policy: StagePolicy;
}

/** `policy` of addFile() and addDir() (artifact-staging.ts, StagePolicy); anything else is TRK_ERR_INVALID_ARTIFACT. */
function policyOf(policy: unknown, call: string): StagePolicy {
  if (policy === undefined) return "mutable";
  if (policy === "mutable" || policy === "immutable") return policy;
  throw errors.invalidArtifact(`${call} policy ${JSON.stringify(policy)}`, 'it is neither "mutable" nor "immutable"', 'Leave it out (the file is copied), or pass "immutable" to hard-link a file you will not rewrite until wait() resolved.');
}

/** An external object recorded by URI; `file` is the local path of a `file://` one (hashed when logged). */
export interface PendingReference {
  path: string;
  uri: string;
  file: string | null;
}

/** The URI schemes addReference() records. */
const REFERENCE_SCHEMES = new Set(["s3:", "https:", "file:"]);

/**
 * Use {@link artifact} to make one.
 * @example
 * const data = trackside.artifact("mnist", "dataset", { metadata: { rows: 70000 } });
 * data.addDir("./data/mnist");
 * data.addFile("./README.md", { name: "docs/README.md" });
 * await run.logArtifact(data, { aliases: ["best"] });
 */
export class Artifact {
  readonly name: string;
  readonly type: string;
  readonly description: string | null;
  readonly metadata: JsonObject;
  private readonly files: PendingFile[] = [];
  private readonly references: PendingReference[] = [];
  /** Every entry path taken, by files and references alike: a version's paths are unique. */
  private readonly taken = new Map<string, string>();
  /** The directories of the taken paths (`a` and `a/b` for `a/b/c`): no entry may take one. */
  private readonly dirs = new Set<string>();

  /** @internal Use trackside.artifact(). */
  constructor(name: string, type: string, opts: ArtifactOptions = {}) {
    this.name = validateArtifactName(name);
    this.type = validateArtifactType(type);
    if (opts.description !== undefined && opts.description !== null && typeof opts.description !== "string") {
      throw errors.invalidArtifact(`${name} description`, `it is a ${typeof opts.description}, not a string`, "Pass a string, or leave description out.");
    }
    this.description = opts.description ?? null;
    // A JSON copy, taken now: later changes to the caller's object do not change the version.
    if (opts.metadata !== undefined) checkConfigObject(opts.metadata, "artifact metadata");
    this.metadata = opts.metadata === undefined ? {} : (cleanConfigValue(opts.metadata, "", []) as JsonObject);
  }

  /**
   * Adds one file, as `name` inside the artifact (default: the file's own name). logArtifact()
   * copies it into the run directory (a copy-on-write clone where the file system can), so the
   * program may rewrite it at once; `policy: "immutable"` hard-links it instead (no copy of a
   * large file), a promise not to rewrite it in place until the version's wait() resolved.
   * @throws TRK_ERR_INVALID_ARTIFACT when the file is missing or not a file, or the entry path is bad or taken.
   */
  addFile(path: string, opts: { name?: string; policy?: StagePolicy } = {}): this {
    const policy = policyOf(opts.policy, "addFile()");
    const source = resolve(checkString(path, "addFile() path"));
    const st = statOf(source, "addFile()");
    if (!st.isFile()) throw errors.invalidArtifact(`file ${JSON.stringify(path)}`, "it is not a regular file", "Pass a file; for a directory use addDir().");
    const entry = opts.name ?? basename(source);
    this.take(entry, source);
    this.files.push({ path: entry, source, policy });
    return this;
  }

  /**
   * Adds every file under a directory (following its subdirectories), each as `prefix/` plus its
   * path relative to the directory. `policy` as for addFile().
   * @throws TRK_ERR_INVALID_ARTIFACT when the directory is missing, holds no file, or a path is taken.
   */
  addDir(path: string, opts: { prefix?: string; policy?: StagePolicy } = {}): this {
    const policy = policyOf(opts.policy, "addDir()");
    const root = resolve(checkString(path, "addDir() path"));
    if (!statOf(root, "addDir()").isDirectory()) throw errors.invalidArtifact(`directory ${JSON.stringify(path)}`, "it is not a directory", "Pass a directory; for one file use addFile().");
    const prefix = opts.prefix === undefined || opts.prefix === "" ? "" : `${validateEntryPath(opts.prefix.replace(/\/+$/, ""))}/`;
    const found = walk(root).map((source) => ({ path: prefix + relative(root, source).split(sep).join("/"), source, policy }));
    if (found.length === 0) throw errors.invalidArtifact(`directory ${JSON.stringify(path)}`, "it holds no file", "Add a directory with files in it.");
    // All or nothing: a taken path leaves the artifact as it was.
    const seen = new Set<string>();
    for (const f of found) {
      validateEntryPath(f.path);
      if (seen.has(f.path)) throw duplicate(f.path, f.source, f.source);
      seen.add(f.path);
      const before = this.taken.get(f.path);
      if (before !== undefined) throw duplicate(f.path, before, f.source);
      this.checkNotNested(f.path);
    }
    for (const f of found) {
      this.addDirsOf(f.path);
      this.taken.set(f.path, f.source);
      this.files.push(f);
    }
    return this;
  }

  /**
   * Records an object outside trackside by its URI (`s3://`, `https://`, `file://`), not copied. A `file://` object must exist; it is hashed when the artifact is logged.
   * @throws TRK_ERR_INVALID_ARTIFACT for another scheme, a missing `file://` file, or a taken path.
   */
  addReference(uri: string, opts: { name?: string } = {}): this {
    const text = checkString(uri, "addReference() uri");
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw errors.invalidArtifact(`reference ${JSON.stringify(uri)}`, "it is not a URI", 'Pass a URI such as "s3://bucket/key" or "https://host/file".');
    }
    if (!REFERENCE_SCHEMES.has(url.protocol)) throw errors.invalidArtifact(`reference ${JSON.stringify(uri)}`, `its scheme ${url.protocol} is not one of s3:, https:, file:`, "Add a local file with addFile() instead.");
    let file: string | null = null;
    if (url.protocol === "file:") {
      file = fileURLToPath(url);
      if (!statOf(file, "addReference()").isFile()) throw errors.invalidArtifact(`reference ${JSON.stringify(uri)}`, "it is not a regular file", "Reference a file; a directory's files can be added with addDir().");
    }
    const entry = opts.name ?? lastSegment(url);
    this.take(entry, text);
    this.references.push({ path: entry, uri: text, file });
    return this;
  }

  /** @internal The files and references added, for staging. */
  get entries(): { files: readonly PendingFile[]; references: readonly PendingReference[] } {
    return { files: this.files, references: this.references };
  }

  private take(entry: string, source: string): void {
    validateEntryPath(entry);
    const before = this.taken.get(entry);
    if (before !== undefined) throw duplicate(entry, before, source);
    this.checkNotNested(entry);
    this.addDirsOf(entry);
    this.taken.set(entry, source);
  }

  /** A path may not be another's directory: a download could not make it both a file and a directory. */
  private checkNotNested(entry: string): void {
    const fix = "Give no entry a path that another one's path is under (name: option).";
    if (this.dirs.has(entry)) throw errors.invalidArtifact(`entry path ${JSON.stringify(entry)}`, "other entries' paths are under it", fix);
    const file = dirsOf(entry).find((d) => this.taken.has(d));
    if (file !== undefined) throw errors.invalidArtifact(`entry path ${JSON.stringify(entry)}`, `it is under ${JSON.stringify(file)}, another entry's path`, fix);
  }

  private addDirsOf(entry: string): void {
    for (const d of dirsOf(entry)) this.dirs.add(d);
  }
}

/**
 * A new artifact to add files to and log with `run.logArtifact()`. `name` becomes the collection
 * (versions v0, v1... of it), `type` what it is ("dataset", "model").
 * @throws TRK_ERR_INVALID_ARTIFACT for a name or type with `/`, `:` and the like.
 * @example
 * const model = trackside.artifact("resnet", "model", { description: "after 90 epochs" });
 * model.addFile("./checkpoints/final.pt", { name: "model.pt" });
 * const logged = await run.logArtifact(model, { aliases: ["production"] });
 * console.log(await logged.wait()); // "resnet:v3" once the server has it
 */
export function artifact(name: string, type: string, opts?: ArtifactOptions): Artifact {
  return new Artifact(name, type, opts);
}

/** The directories of an entry path: `a` and `a/b` for `a/b/c`. */
function dirsOf(entry: string): string[] {
  const dirs: string[] = [];
  for (let slash = entry.indexOf("/"); slash >= 0; slash = entry.indexOf("/", slash + 1)) dirs.push(entry.slice(0, slash));
  return dirs;
}

function checkString(value: unknown, what: string): string {
  if (typeof value !== "string" || value.length === 0) throw errors.invalidArtifact(what, `${JSON.stringify(value) ?? String(value)} is not a non-empty string`, "Pass a path as a string.");
  return value;
}

function statOf(path: string, call: string): Stats {
  try {
    return statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw errors.invalidArtifact(`path ${JSON.stringify(path)} given to ${call}`, code === "ENOENT" ? "it does not exist" : `it cannot be read (${code ?? (err as Error).message})`, "Check the path (relative paths start at the working directory).");
  }
}

function duplicate(entry: string, first: string, second: string): Error {
  return errors.invalidArtifact(
    `entry path ${JSON.stringify(entry)}`,
    first === second ? `${second} was added twice` : `it is taken already (by ${first}; now ${second})`,
    "Give one of them another path inside the artifact (addFile's name, addDir's prefix).",
  );
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf(sep) + 1);
}

/** A reference's default entry path: the last segment of its URI's path (or its host). */
function lastSegment(url: URL): string {
  const segments = url.pathname.split("/").filter((s) => s !== "");
  const last = segments.length > 0 ? segments[segments.length - 1] : url.hostname;
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/**
 * Every regular file under `root`, sorted. Symbolic links to files are followed (the file's
 * bytes are what a user means); links to directories are not, so that a link cycle cannot loop.
 */
function walk(root: string): string[] {
  const out: string[] = [];
  const visit = (dir: string): void => {
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const full = `${dir}${sep}${e.name}`;
      if (e.isDirectory()) visit(full);
      else if (e.isFile()) out.push(full);
      else if (e.isSymbolicLink()) {
        try {
          if (statSync(full).isFile()) out.push(full);
        } catch {
          // a dangling link: nothing to add
        }
      }
    }
  };
  visit(root);
  return out;
}
