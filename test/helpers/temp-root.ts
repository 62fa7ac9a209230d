/**
 * Vitest global setup: every temporary directory of the run goes under one root, removed at the
 * end. Tests make theirs with os.tmpdir(), which follows TMPDIR: the forked test workers inherit
 * it, and the processes they start get it with their environment (makeEnv() passes it on).
 * What is worth keeping between runs (W&B's Python SDK venv, test/helpers/wandb-python.ts) goes
 * under TRACKSIDE_TEST_CACHE, in the temp dir the run started with.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export default function setup(): () => void {
  process.env.TRACKSIDE_TEST_CACHE ??= join(tmpdir(), "trackside-test-cache");
  const root = mkdtempSync(join(tmpdir(), "trk-test-"));
  process.env.TMPDIR = root;
  return () => {
    // Retried: a browser or daemon of the last test file may still be closing its files.
    rmSync(root, { recursive: true, force: true, maxRetries: 5 });
  };
}
