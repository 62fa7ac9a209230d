/**
 * The artifact queue's files in a run directory (docs/protocol.md, "The artifact queue"):
 *
 * - `artifacts/queue/<entry>.json`: an ArtifactQueueEntry, written by the client before it asks
 *   the daemon to take it; `<entry>.done.json` beside it (ArtifactQueueResult) once it is done.
 * - `artifacts/blobs/<digest>`: the staged bytes of each file of a `log` entry, and of each blob of a `blobs` entry (media).
 * - `artifacts/uploads/<digest>.json`: a multipart upload under way (its id and the parts sent,
 *   with their ETags), so that a successor daemon resumes it instead of sending it all again.
 *
 * The daemon reads and writes them here; `persist: false` (trackside sync, which only reads a
 * run directory) keeps what it would have written in memory instead.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import {
  DIGEST_PATTERN,
  QUEUE_ENTRY_PATTERN,
  errors,
  newEntryName,
  validateAlias,
  validateArtifactName,
  validateArtifactType,
  validateEntryPath,
  type ArtifactQueueEntry,
  type ArtifactQueueResult,
} from "../protocol/index.js";

/** A multipart upload under way: what a successor needs to go on with it (S3 cannot list parts). */
export interface UploadState {
  uploadId: string;
  parts: { number: number; etag: string }[];
}

const FIX = "The client writes queue entries (run.logArtifact, run.useArtifact); log the artifact again.";

export class ArtifactFiles {
  readonly queueDir: string;
  readonly blobsDir: string;
  readonly uploadsDir: string;
  private readonly memory = new Map<string, string>();
  /** Staged blobs whose sha256 was checked, by digest: their size, mtime and ctime then (artifact-upload.ts). */
  readonly verified = new Map<string, string>();

  constructor(
    readonly runDir: string,
    /** false: nothing written back (trackside sync). */
    readonly persist = true,
  ) {
    this.queueDir = join(runDir, "artifacts", "queue");
    this.blobsDir = join(runDir, "artifacts", "blobs");
    this.uploadsDir = join(runDir, "artifacts", "uploads");
  }

  /** The staged bytes of a file of a `log` entry. */
  blobPath(digest: string): string {
    return join(this.blobsDir, digest);
  }

  /**
   * The staged blobs (`blobs/<sha256>`; a half-written one has a temp name) that no entry of the
   * queue names, done or not, with their sizes.
   */
  strayBlobs(): { digest: string; size: number }[] {
    let names: string[];
    try {
      names = readdirSync(this.blobsDir).filter((n) => DIGEST_PATTERN.test(n));
    } catch {
      return [];
    }
    if (names.length === 0) return [];
    const named = new Set<string>();
    for (const { entry } of this.list()) {
      try {
        const e = this.read(entry);
        if (e.kind === "log") for (const f of e.manifest.files) named.add(f.digest);
        else if (e.kind === "blobs") for (const b of e.blobs) named.add(b.digest);
      } catch {
        // An unreadable entry is marked done with its error by the queue; its blobs are not named by it.
      }
    }
    const stray: { digest: string; size: number }[] = [];
    for (const digest of names) {
      if (named.has(digest)) continue;
      try {
        stray.push({ digest, size: statSync(join(this.blobsDir, digest)).size });
      } catch {
        // Gone meanwhile: nothing to upload.
      }
    }
    return stray;
  }

  /** Writes a new queue entry (temp, fsync, rename) and answers its name; only where files persist. */
  writeEntry(value: ArtifactQueueEntry): string {
    if (!this.persist) throw errors.internal("a queue entry written where nothing is written back");
    const entry = newEntryName();
    mkdirSync(this.queueDir, { recursive: true });
    this.write(join(this.queueDir, `${entry}.json`), `entry:${entry}`, JSON.stringify(value));
    return entry;
  }

  /** Every entry in the queue directory, in queued order, with whether it is done. */
  list(): { entry: string; done: boolean }[] {
    let names: string[];
    try {
      names = readdirSync(this.queueDir);
    } catch {
      return []; // no artifact logged in this run
    }
    const done = new Set(names.filter((n) => n.endsWith(".done.json")).map((n) => n.slice(0, -".done.json".length)));
    return names
      .filter((n) => n.endsWith(".json") && !n.endsWith(".done.json") && QUEUE_ENTRY_PATTERN.test(n.slice(0, -".json".length)))
      .map((n) => n.slice(0, -".json".length))
      .sort()
      .map((entry) => ({ entry, done: done.has(entry) || this.memory.has(this.doneKey(entry)) }));
  }

  /**
   * The entry, read and checked (a client of this user wrote it, but a damaged or hand-made file
   * must not reach the server, nor stop the queue behind it).
   * @throws TRK_ERR_INVALID_ARTIFACT when the name, the file or its content is not an entry.
   */
  read(entry: string): ArtifactQueueEntry {
    if (typeof entry !== "string" || !QUEUE_ENTRY_PATTERN.test(entry)) throw errors.invalidArtifact(`queue entry ${JSON.stringify(entry)}`, "it is not a queue entry's name (15 digits, a dash, 8 of [a-z0-9])", FIX);
    let value: unknown;
    try {
      value = JSON.parse(readFileSync(join(this.queueDir, `${entry}.json`), "utf8"));
    } catch (err) {
      throw errors.invalidArtifact(`queue entry ${entry}`, `its file cannot be read as JSON (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, FIX);
    }
    return checkEntry(entry, value);
  }

  /** The entry's result, when it is done. */
  result(entry: string): ArtifactQueueResult | null {
    const kept = this.memory.get(this.doneKey(entry));
    if (kept !== undefined) return JSON.parse(kept) as ArtifactQueueResult;
    try {
      const r = JSON.parse(readFileSync(join(this.queueDir, `${entry}.done.json`), "utf8")) as ArtifactQueueResult;
      return { version: typeof r.version === "number" ? r.version : null, error: typeof r.error === "string" ? r.error : null };
    } catch {
      return null;
    }
  }

  /** Marks the entry done (atomically: a successor sees it done or not, never half). */
  writeResult(entry: string, result: ArtifactQueueResult): void {
    this.write(join(this.queueDir, `${entry}.done.json`), this.doneKey(entry), JSON.stringify(result));
  }

  uploadState(digest: string): UploadState | null {
    const key = `upload:${digest}`;
    try {
      const text = this.memory.get(key) ?? readFileSync(join(this.uploadsDir, `${digest}.json`), "utf8");
      const s = JSON.parse(text) as UploadState;
      if (typeof s.uploadId !== "string" || !Array.isArray(s.parts)) return null;
      return { uploadId: s.uploadId, parts: s.parts.filter((p) => Number.isSafeInteger(p?.number) && typeof p?.etag === "string") };
    } catch {
      return null;
    }
  }

  saveUploadState(digest: string, state: UploadState): void {
    this.write(join(this.uploadsDir, `${digest}.json`), `upload:${digest}`, JSON.stringify(state));
  }

  dropUploadState(digest: string): void {
    this.memory.delete(`upload:${digest}`);
    if (this.persist) rmSync(join(this.uploadsDir, `${digest}.json`), { force: true });
  }

  private doneKey(entry: string): string {
    return `done:${entry}`;
  }

  /** temp + fsync + rename, or (persist: false) into memory. */
  private write(path: string, key: string, text: string): void {
    if (!this.persist) {
      this.memory.set(key, text);
      return;
    }
    if (path.startsWith(this.uploadsDir)) mkdirSync(this.uploadsDir, { recursive: true });
    const tmp = `${path}.tmp-${process.pid}`;
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  }
}

/** The entry's content checked field by field (protocol/artifacts.ts's rules). */
function checkEntry(entry: string, value: unknown): ArtifactQueueEntry {
  const bad = (why: string) => errors.invalidArtifact(`queue entry ${entry}`, why, FIX);
  const v = value as Record<string, unknown> | null;
  if (v === null || typeof v !== "object") throw bad("it is not a JSON object");
  if (v.kind === "use") {
    if (typeof v.entity !== "string" || typeof v.project !== "string") throw bad("its entity or project is not a string");
    validateArtifactName(v.name);
    if (!Number.isSafeInteger(v.version) || (v.version as number) < 0) throw bad("its version is not a whole number from 0");
    return { kind: "use", entity: v.entity, project: v.project, name: v.name as string, version: v.version as number };
  }
  if (v.kind === "blobs") {
    if (!Array.isArray(v.blobs)) throw bad("its blobs are not a list");
    const blobs: { digest: string; size: number }[] = [];
    for (const b of v.blobs as Record<string, unknown>[]) {
      if (typeof b?.digest !== "string" || !DIGEST_PATTERN.test(b.digest)) throw bad("a blob's digest is not 64 hex characters");
      if (!Number.isSafeInteger(b.size) || (b.size as number) < 0) throw bad(`the size of blob ${b.digest} is not a whole number of bytes`);
      blobs.push({ digest: b.digest, size: b.size as number });
    }
    return { kind: "blobs", blobs };
  }
  if (v.kind !== "log") throw bad(`its kind is ${JSON.stringify(v.kind)}, not "log", "use" or "blobs"`);
  if (typeof v.digest !== "string" || !DIGEST_PATTERN.test(v.digest)) throw bad("its digest is not 64 hex characters");
  if (!Array.isArray(v.aliases)) throw bad("its aliases are not a list");
  for (const a of v.aliases) validateAlias(a);
  const m = v.manifest as Record<string, unknown> | null;
  if (m === null || typeof m !== "object") throw bad("it has no manifest");
  validateArtifactName(m.name);
  validateArtifactType(m.type);
  if (!Array.isArray(m.files) || !Array.isArray(m.references)) throw bad("its manifest has no files or references list");
  for (const f of m.files as Record<string, unknown>[]) {
    validateEntryPath(f?.path);
    if (typeof f.digest !== "string" || !DIGEST_PATTERN.test(f.digest)) throw bad(`the digest of ${String(f.path)} is not 64 hex characters`);
    if (!Number.isSafeInteger(f.size) || (f.size as number) < 0) throw bad(`the size of ${String(f.path)} is not a whole number of bytes`);
  }
  return v as unknown as ArtifactQueueEntry;
}
