/**
 * Artifacts (issue 18 point 7), each beside `cp -r` of the same files to the same disk, in the
 * same run: logging a directory of one large file and 1,000 small ones (until logArtifact()
 * returns, the files staged; and until the server holds the version), logging it again unchanged
 * (nothing to upload) as a share of the first, and downloading it with useArtifact().
 */
import { spawnSync } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { benchRoot, clientEnv, reapDaemons, runProbe, startServerProcess } from "./procs.js";
import { median, type Figure } from "./stats.js";

const probe = fileURLToPath(new URL("./artifact-probe.js", import.meta.url));
const SMALL_FILES = 1000;

/** `totalMiB` of random bytes: 1,000 files of 64 KiB (or less) and one large file with the rest. */
function makeDataset(dir: string, totalMiB: number): void {
  const smallBytes = Math.min(64 * 1024, Math.floor((totalMiB * 1024 * 1024) / (2 * SMALL_FILES)));
  mkdirSync(join(dir, "small"), { recursive: true });
  const block = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < SMALL_FILES; i++) {
    const fd = openSync(join(dir, "small", `${String(i).padStart(4, "0")}.bin`), "w");
    writeSync(fd, randomFillSync(block, 0, smallBytes), 0, smallBytes);
    closeSync(fd);
  }
  const largeBytes = totalMiB * 1024 * 1024 - SMALL_FILES * smallBytes;
  const fd = openSync(join(dir, "large.bin"), "w");
  for (let left = largeBytes; left > 0; left -= block.length) writeSync(fd, randomFillSync(block), 0, Math.min(left, block.length));
  closeSync(fd);
}

function cpMs(from: string, to: string): number {
  const t0 = performance.now();
  const r = spawnSync("cp", ["-r", from, to]);
  if (r.status !== 0) throw new Error(`cp -r failed: ${r.stderr.toString()}`);
  const ms = performance.now() - t0;
  rmSync(to, { recursive: true, force: true });
  return ms;
}

export async function benchArtifacts(totalMiB: number, samples: number): Promise<Figure[]> {
  const root = benchRoot("artifacts");
  const sockets: string[] = [];
  const staged: number[] = [];
  const stored: number[] = [];
  const again: number[] = [];
  const download: number[] = [];
  const cp: number[] = [];
  try {
    const data = join(root, "data");
    makeDataset(data, totalMiB);
    for (let i = 0; i < samples; i++) {
      // A fresh server each time: the first log must upload everything.
      const server = await startServerProcess(root);
      try {
        const run = async (args: string[]) => {
          const { env, socketDir } = clientEnv(server, root);
          sockets.push(socketDir);
          return runProbe<{ stagedMs: number; storedMs: number; downloadMs: number; version: string }>(probe, args, env);
        };
        cp.push(cpMs(data, join(root, "copy")));
        const first = await run(["log", data]);
        staged.push(first.stagedMs);
        stored.push(first.storedMs);
        const second = await run(["log", data]);
        if (second.version !== first.version) throw new Error(`the same directory logged again gave ${second.version}, not ${first.version}`);
        again.push(second.storedMs / first.storedMs);
        const out = join(root, "download");
        download.push((await run(["use", out])).downloadMs);
        rmSync(out, { recursive: true, force: true });
      } finally {
        await server.close();
      }
    }
  } finally {
    await reapDaemons(sockets);
    rmSync(root, { recursive: true, force: true });
  }
  const what = `${totalMiB} MiB (1 file + ${SMALL_FILES} small)`;
  const copy = median(cp);
  return [
    { name: `log artifact ${what}: logArtifact() returns (staged)`, value: median(staged), baseline: copy, baselineName: "cp -r", unit: "ms", better: "lower", samples },
    { name: `log artifact ${what}: until the server holds it`, value: median(stored), baseline: copy, baselineName: "cp -r", unit: "ms", better: "lower", samples },
    { name: `log the same ${what} again: time as a share of the first`, value: median(again), baseline: 1, baselineName: "the first log", unit: "x", better: "lower", samples },
    { name: `download ${what} (useArtifact + download)`, value: median(download), baseline: copy, baselineName: "cp -r", unit: "ms", better: "lower", samples },
  ];
}
