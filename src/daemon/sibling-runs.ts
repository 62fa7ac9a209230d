/**
 * Where the earlier processes of a run left off, from their run directories beside this one.
 * Each process of a run writes its own directory (`<dir>/trackside/run-<time>-<id>/`), and a
 * process that resumes the run numbers its records from the server's last seq + 1. An earlier
 * process's WAL that no daemon holds any more (its daemon died before the upload finished, and
 * `trackside sync` of it comes later) may hold records beyond that: had the new process reused
 * their numbers, the server, which keys records by (run, seq), would have overwritten one
 * process's records with the other's when the old directory is synced (issue #13, point 14).
 * So a new stream goes on after the highest seq and step that any sibling directory of the same
 * run holds, and the client is told so in the `opened` reply.
 */
import { lstatSync, readFileSync, readdirSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { WAL_MAGIC, decode, hasWalMagic, scanFrames, type RunInfo, type RunRecord } from "../protocol/index.js";
import { DeadLetter } from "./dead-letter.js";
import { lastOf, type CarriedSequence } from "./run-stream.js";

/**
 * The highest seq and step of the run `run` in the run directories beside `runDir` (not in it),
 * or null when there are none. A sibling whose run record names another entity or project (the
 * same id used in another project) is not the run's, and a file that cannot be read tells nothing.
 *
 * @example
 * const carried = lastOfSiblings("/w/trackside/run-20261204_101500-a1b2c3d4", info); // { lastSeq: 120, lastStep: 99 }
 */
export function lastOfSiblings(runDir: string, run: RunInfo): CarriedSequence | null {
  const parent = dirname(runDir);
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return null;
  }
  const own = basename(runDir);
  const carried: CarriedSequence = { lastSeq: 0, lastStep: -1 };
  let any = false;
  for (const name of names) {
    if (name === own || !name.startsWith("run-") || !name.endsWith(`-${run.id}`)) continue;
    const found = lastOfWal(join(parent, name, `run-${run.id}.wal`), run);
    if (!found) continue;
    any = true;
    carried.lastSeq = Math.max(carried.lastSeq, found.seq, new DeadLetter(join(parent, name)).lastSeq());
    carried.lastStep = Math.max(carried.lastStep, found.step);
  }
  return any ? carried : null;
}

/** The last client seq and step of one WAL of the run, or null when it is not one of the run's. */
function lastOfWal(path: string, run: RunInfo): { seq: number; step: number } | null {
  let buf: Buffer;
  try {
    if (!lstatSync(path).isFile()) return null;
    buf = readFileSync(path);
  } catch {
    return null;
  }
  if (!hasWalMagic(buf)) return null;
  const frames = scanFrames(buf.subarray(WAL_MAGIC.length), WAL_MAGIC.length).frames;
  if (frames.length === 0 || !isRunRecordOf(frames[0].payload, run)) return null;
  const found = { seq: 0, step: -1 };
  for (let f = frames.length - 1; f >= 0 && !lastOf(frames[f].payload, found); f--);
  return found;
}

/** Whether a WAL's first frame holds the run record of this run (same entity, project and id). */
function isRunRecordOf(payload: Uint8Array, run: RunInfo): boolean {
  try {
    const first = decode<RunRecord[]>(payload).find((r) => r.k === "run");
    return first?.k === "run" && first.run.id === run.id && first.run.entity === run.entity && first.run.project === run.project;
  } catch {
    return false;
  }
}
