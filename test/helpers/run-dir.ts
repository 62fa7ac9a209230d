/**
 * Run directories made by hand, as a daemon (or a damaged disk) would have left them: a WAL of
 * given batches, for `trackside sync` and for a daemon that takes a run over. Also a fingerprint
 * of a directory's files, to prove that a command left them byte for byte as they were.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { WalWriter } from "../../src/daemon/wal-writer.js";
import { encodeRecords, type HistoryRow, type RunInfo, type RunRecord } from "../../src/protocol/index.js";

/** The user that the test server's first start paired with the environment's HOME. */
export function localUser(home: string, serverUrl: string): { user: string; apiKey: string } {
  return (JSON.parse(readFileSync(join(home, ".trackside", "credentials"), "utf8")) as Record<string, { user: string; apiKey: string }>)[serverUrl];
}

export function runInfo(entity: string, id: string, cwd: string, over: Partial<RunInfo> = {}): RunInfo {
  return {
    id, entity, project: "fixtures", name: `hand-made-${id}`, notes: null, tags: [], group: null, jobType: null, config: {}, createdAt: Date.now(),
    program: { executable: "node", args: [], cwd, pid: process.pid, host: "h", nodeVersion: process.version, os: "linux", tracksideVersion: "0.1.0" },
    ...over,
  };
}

/** History rows for steps from..from+n-1 (one value each). */
export function rows(from: number, n: number): HistoryRow[] {
  return Array.from({ length: n }, (_, i) => ({ _step: from + i, _timestamp: Date.now(), _runtime: 0, v: from + i }));
}

/** A run directory `<root>/run-20260101_000000-<id>` whose WAL holds `batches`; returns it and each frame's [offset, end). */
export function writeRunDir(root: string, id: string, batches: RunRecord[][]): { dir: string; wal: string; frames: Array<[number, number]> } {
  const dir = join(root, `run-20260101_000000-${id}`);
  mkdirSync(dir, { recursive: true });
  const w = new WalWriter(join(dir, `run-${id}.wal`));
  const frames: Array<[number, number]> = [];
  for (const b of batches) {
    const start = w.end;
    frames.push([start, w.append(encodeRecords(b))]);
  }
  w.close();
  return { dir, wal: w.path, frames };
}

/** Every file under `dir` (relative path -> size and sha256). */
export function fingerprint(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p, `${rel}${name}/`);
      else out[`${rel}${name}`] = `${statSync(p).size} ${createHash("sha256").update(readFileSync(p)).digest("hex")}`;
    }
  };
  walk(dir, "");
  return out;
}
