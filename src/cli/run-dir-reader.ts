/**
 * Reads a run directory for `trackside sync`, read-only: its WAL and any spill file that no
 * daemon took in. Nothing here writes, truncates or removes a file: a damaged run directory is
 * evidence, and what sync cannot read today a person (or a later trackside) may.
 *
 * Damage does not stop the reading. Every whole frame is found (wal-format.ts, scanAllFrames),
 * and every range that is not one is named with its file, offset, length and why: a CRC
 * mismatch, a frame cut short, a frame whose CRC holds but whose bytes are not msgpack, or
 * msgpack that is not a batch of records.
 */
import { closeSync, constants, lstatSync, openSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { WAL_MAGIC, decode, errors, hasWalMagic, lastClientSeq, scanAllFrames, type RunInfo, type RunRecord } from "../protocol/index.js";

/** A range of a file that sync could not read, and so did not upload. */
export interface Unreadable {
  file: string;
  offset: number;
  bytes: number;
  why: string;
}

/** A readable frame: its bytes as they are in the file (header and payload) and its records. */
export interface ReadFrame {
  file: string;
  offset: number;
  bytes: Buffer;
  batch: RunRecord[];
}

export interface RunDirContents {
  walPath: string;
  /** The run record's info; null when no readable frame holds it (the server then takes nothing). */
  info: RunInfo | null;
  /** The WAL's readable frames, then the spill files' frames beyond the WAL's last record, in order. */
  frames: ReadFrame[];
  unreadable: Unreadable[];
  /** Records taken from spill files. */
  spilled: number;
}

/** A spill file this old was never taken in: its daemon was gone when the process exited. */
const ORPHAN_SPILL_MS = 10_000;

const WHY: Record<string, string> = {
  crc: "not a valid frame: CRC-32 mismatch (the bytes changed after they were written)",
  truncated: "cut short (the file ends inside a frame)",
  length: "damaged frame header (its length runs past the end of the file)",
};

/**
 * Reads the run directory `dir`; throws TRK_ERR_INVALID_OPTION when it is not one. A WAL whose
 * run record cannot be read comes back with `info` null and its damage listed.
 */
export function readRunDir(dir: string): RunDirContents {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error("not a directory");
    names = readdirSync(dir);
  } catch {
    throw errors.invalidOption("run-dir", dir, "an existing run directory");
  }
  const wal = names.find((f) => /^run-.+\.wal$/.test(f));
  if (!wal) throw errors.invalidOption("run-dir", dir, "a run directory holding a run-<id>.wal file");
  const walPath = join(dir, wal);
  const unreadable: Unreadable[] = [];
  const frames = regularFile(walPath, unreadable) ? readFrames(walPath, unreadable) : [];
  const info = frames.flatMap((f) => f.batch).find((r): r is Extract<RunRecord, { k: "run" }> => r.k === "run")?.run;
  if (!info) return { walPath, info: null, frames, unreadable, spilled: 0 };
  let lastSeq = Math.max(0, ...frames.map((f) => safeLastSeq(f.batch)));
  let spilled = 0;
  const spills = names
    .filter((f) => /^spill-\d+\.wal$/.test(f) && regularFile(join(dir, f), unreadable) && Date.now() - lstatSync(join(dir, f)).mtimeMs > ORPHAN_SPILL_MS)
    .sort();
  for (const f of spills) {
    // What a process wrote on its way out while no daemon was there: the frames beyond the WAL.
    for (const frame of readFrames(join(dir, f), unreadable)) {
      const last = safeLastSeq(frame.batch);
      if (last <= lastSeq) continue;
      frames.push(frame);
      lastSeq = last;
      spilled += frame.batch.length;
    }
  }
  return { walPath, info, frames, unreadable, spilled };
}

/**
 * Whether `file` is a regular file of the directory's own. A symbolic link is not followed: a
 * run directory handed over by someone else could point it at another WAL the user can read,
 * whose records would then go up under this directory's run. It is listed as unreadable instead.
 */
function regularFile(file: string, unreadable: Unreadable[]): boolean {
  const st = lstatSync(file);
  if (st.isFile()) return true;
  unreadable.push({ file, offset: 0, bytes: st.size, why: st.isSymbolicLink() ? "a symbolic link, not followed" : "not a regular file" });
  return false;
}

/** The readable frames of one file; what cannot be read goes to `unreadable`. */
function readFrames(file: string, unreadable: Unreadable[]): ReadFrame[] {
  // O_NOFOLLOW: a link swapped in after regularFile() looked is not followed either.
  let buf: Buffer;
  try {
    const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      buf = readFileSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ELOOP") throw err;
    unreadable.push({ file, offset: 0, bytes: 0, why: "a symbolic link, not followed" });
    return [];
  }
  if (!hasWalMagic(buf)) {
    unreadable.push({ file, offset: 0, bytes: buf.length, why: "not a trackside WAL (its first bytes are not the WAL header)" });
    return [];
  }
  const scan = scanAllFrames(buf.subarray(WAL_MAGIC.length), WAL_MAGIC.length);
  const bad: Unreadable[] = scan.bad.map((r) => ({ file, offset: r.offset, bytes: r.bytes, why: WHY[r.why] }));
  const out: ReadFrame[] = [];
  for (const frame of scan.frames) {
    const range = { file, offset: frame.offset, bytes: frame.end - frame.offset };
    let batch: unknown;
    try {
      batch = decode(frame.payload);
    } catch (err) {
      bad.push({ ...range, why: `its CRC-32 holds but it is not msgpack (${(err as Error).message})` });
      continue;
    }
    if (!Array.isArray(batch) || batch.some((r) => typeof r !== "object" || r === null || typeof (r as { k?: unknown }).k !== "string")) {
      bad.push({ ...range, why: "its CRC-32 holds but it is not a batch of records" });
      continue;
    }
    out.push({ file, offset: frame.offset, bytes: buf.subarray(frame.offset, frame.end), batch: batch as RunRecord[] });
  }
  unreadable.push(...bad.sort((a, b) => a.offset - b.offset));
  return out;
}

/** The batch's last client seq; 0 when its records are too malformed to tell (the server judges them). */
function safeLastSeq(batch: RunRecord[]): number {
  try {
    const last = lastClientSeq(batch);
    return Number.isFinite(last) ? last : 0;
  } catch {
    return 0;
  }
}
