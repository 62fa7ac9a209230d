/**
 * Staging: what `run.logArtifact()` does before it hands a version to the daemon, so that the
 * upload no longer needs the user's process nor the user's files as they are later.
 *
 * Each file is copied (a copy-on-write clone where the file system makes one: btrfs, XFS) or,
 * for files added with `policy: "immutable"`, hard-linked (else copied) to a temporary name in `<runDir>/artifacts/blobs/`, the
 * staged bytes are hashed (sha256), and the file is renamed to `blobs/<digest>`; a digest staged
 * before keeps its file and the new one is dropped. The digest is always of the staged bytes, the
 * ones the daemon uploads, never of a second read of the user's file. Then the queue entry is
 * written (temp, fsync, rename), after the blobs it names, so the daemon never sees an entry
 * whose bytes are not there yet.
 *
 * Copying is the default because most programs save a file by truncating and rewriting it in
 * place (fs.writeFile, Python's open(..., "w"), torch.save): through a hard link that would change
 * the staged bytes too, and a checkpoint saved again every epoch would lose the versions the
 * daemon had not uploaded yet (the upload refuses them, TRK_ERR_DIGEST_MISMATCH, rather than
 * storing wrong bytes). `immutable` is the caller's promise that the file is not rewritten until
 * `wait()` resolved: a gigabyte staged without a copy. A change seen while
 * the file is hashed makes a private copy at once. Blobs are not fsynced: the promise is that a
 * crash of the user's process loses nothing; a power loss that tore a blob is caught by the same
 * digest check.
 */
import { createReadStream } from "node:fs";
import { constants } from "node:fs";
import { copyFile, link, mkdir, open, realpath, rename, rm, stat, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  errors,
  generateRunId,
  manifestDigest,
  manifestSize,
  MAX_ARTIFACT_ENTRIES,
  type ArtifactFileEntry,
  type ArtifactManifest,
  type ArtifactQueueEntry,
  type ArtifactReferenceEntry,
} from "../protocol/index.js";
import type { Artifact } from "./artifact.js";

/** Files staged at once: enough to overlap one file's hashing with another's link or open. */
const STAGE_CONCURRENCY = 4;

/** What staging made of an artifact. */
export interface StagedArtifact {
  manifest: ArtifactManifest;
  digest: string;
  /** Bytes of its files. */
  size: number;
  fileCount: number;
}

/** Injection points for tests: how a file is linked, and moments to change the staged bytes. */
export interface StageHooks {
  link?: (source: string, dest: string) => Promise<void>;
  /** After the link or copy, before hashing. */
  staged?: (tmp: string) => Promise<void> | void;
  /** After hashing, before the staged file is checked for changes. */
  hashed?: (tmp: string) => Promise<void> | void;
}

/** How one file was staged. */
export interface StagedFile {
  digest: string;
  size: number;
  how: "link" | "copy";
}

/** `<runDir>/artifacts/blobs`: staged file bytes, by sha256. */
export const blobsDir = (runDir: string): string => join(runDir, "artifacts", "blobs");
/** `<runDir>/artifacts/queue`: the daemon's work, one `<entry>.json` each. */
export const queueDir = (runDir: string): string => join(runDir, "artifacts", "queue");

/**
 * Stages every file of `a` and hashes its `file://` references; the manifest and its digest.
 * With `runDir` null (a disabled run) the files are only hashed, not staged.
 * @throws TRK_ERR_INVALID_ARTIFACT when a file has gone since it was added.
 */
export async function stageArtifact(runDir: string | null, a: Artifact, hooks: StageHooks = {}): Promise<StagedArtifact> {
  const { files, references } = a.entries;
  if (files.length + references.length === 0) throw errors.invalidArtifact(`${a.name}`, "it has no files", "Add files with addFile(), addDir() or addReference() first.");
  if (files.length + references.length > MAX_ARTIFACT_ENTRIES) throw errors.invalidArtifact(`${a.name}`, `it has ${files.length + references.length} entries (at most ${MAX_ARTIFACT_ENTRIES})`, "Split it into several artifacts.");
  const blobs = runDir === null ? null : blobsDir(runDir);
  if (blobs !== null) await mkdir(blobs, { recursive: true });
  // One source added under two paths is staged (and hashed) once.
  const bySource = new Map<string, Promise<StagedFile>>();
  const stageOnce = (source: string, policy: StagePolicy): Promise<StagedFile> => {
    let p = bySource.get(`${policy}:${source}`);
    if (!p) {
      p = blobs === null ? hashFile(source).then((h) => ({ ...h, how: "copy" as const }), (err: unknown) => Promise.reject(gone(source, err))) : stageFile(blobs, source, hooks, policy);
      bySource.set(`${policy}:${source}`, p);
    }
    return p;
  };
  const fileEntries = await mapLimited(files, STAGE_CONCURRENCY, async (f): Promise<ArtifactFileEntry> => {
    const s = await stageOnce(f.source, f.policy);
    return { path: f.path, digest: s.digest, size: s.size };
  });
  const refEntries = await mapLimited(references, STAGE_CONCURRENCY, async (r): Promise<ArtifactReferenceEntry> => {
    if (r.file === null) return { path: r.path, uri: r.uri, digest: null, size: null };
    const h = await hashFile(r.file).catch((err: unknown) => {
      throw gone(r.file as string, err);
    });
    return { path: r.path, uri: r.uri, digest: h.digest, size: h.size };
  });
  const manifest: ArtifactManifest = {
    name: a.name,
    type: a.type,
    description: a.description,
    metadata: a.metadata,
    files: fileEntries.sort(byPath),
    references: refEntries.sort(byPath),
  };
  return { manifest, digest: manifestDigest(manifest), size: manifestSize(manifest), fileCount: manifest.files.length };
}

/**
 * How a file is staged: `mutable` (the default) copies it, so the user's program may rewrite it
 * at once; `immutable` hard-links it where it can (the caller will not rewrite it in place).
 */
export type StagePolicy = "mutable" | "immutable";

/** Stages one file in `blobs` (see the file's comment); its digest, size, and whether it was linked. */
export async function stageFile(blobs: string, source: string, hooks: StageHooks = {}, policy: StagePolicy = "mutable"): Promise<StagedFile> {
  const tmp = join(blobs, `.staging-${process.pid}-${generateRunId()}`);
  let how: StagedFile["how"] = "link";
  const copy = () =>
    copyFile(source, tmp, constants.COPYFILE_FICLONE).catch((err: unknown) => {
      throw gone(source, err);
    });
  try {
    // link() of a symbolic link links the link itself (Linux), whose relative target names
    // another file from blobs/, or none: the file it points to is staged instead.
    source = await realpath(source).catch((err: unknown) => {
      throw gone(source, err);
    });
    if (policy === "mutable") {
      await copy();
      how = "copy";
    } else {
      try {
        await (hooks.link ?? link)(source, tmp);
      } catch {
        // Another device (EXDEV), a file system without links, a file of another user
        // (protected_hardlinks): a copy is as good, only slower.
        await copy();
        how = "copy";
      }
    }
    await hooks.staged?.(tmp);
    let hashed = await hashUnchanged(tmp, hooks);
    if (hashed === null) {
      // Being written as it was hashed, through the link: a copy of our own holds still.
      await rm(tmp, { force: true });
      await copyFile(source, tmp);
      how = "copy";
      hashed = await hashFile(tmp);
    }
    const dest = join(blobs, hashed.digest);
    if (await exists(dest)) await rm(tmp, { force: true });
    else await rename(tmp, dest);
    return { ...hashed, how };
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** The file's sha256 and size, or null when it changed while it was read (size or times moved). */
async function hashUnchanged(path: string, hooks: StageHooks): Promise<{ digest: string; size: number } | null> {
  const before = await stat(path);
  const h = await hashFile(path);
  await hooks.hashed?.(path);
  const after = await stat(path);
  const same = before.size === after.size && before.mtimeMs === after.mtimeMs && before.ctimeMs === after.ctimeMs && h.size === after.size;
  return same ? h : null;
}

/** sha256 (hex) and size of a file, streamed. */
export function hashFile(path: string): Promise<{ digest: string; size: number }> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    let size = 0;
    createReadStream(path, { highWaterMark: 1 << 20 })
      .on("data", (chunk) => {
        size += chunk.length;
        hash.update(chunk);
      })
      .on("error", reject)
      .on("end", () => resolve({ digest: hash.digest("hex"), size }));
  });
}


/**
 * Writes `<runDir>/artifacts/queue/<name>.json` atomically and durably (temp, fsync, rename,
 * fsync of the directory): once this returns, the entry survives the process and the machine.
 */
export async function writeQueueEntry(runDir: string, name: string, entry: ArtifactQueueEntry): Promise<string> {
  const dir = queueDir(runDir);
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${name}.json`);
  const tmp = `${path}.tmp`;
  await writeFile(tmp, JSON.stringify(entry));
  const fh = await open(tmp, "r+");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  const d = await open(dir, "r");
  try {
    await d.sync();
  } catch {
    // some file systems cannot fsync a directory; the rename is done either way
  } finally {
    await d.close();
  }
  return path;
}

function gone(path: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  return errors.invalidArtifact(`file ${JSON.stringify(path)}`, code === "ENOENT" ? "it was removed after it was added" : `it could not be read (${code ?? (err as Error).message})`, "Keep the file in place until logArtifact() has returned.");
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function byPath(a: { path: string }, b: { path: string }): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/** `fn` over `items`, at most `limit` at a time, results in order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
