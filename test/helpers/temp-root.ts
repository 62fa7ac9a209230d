/**
 * Vitest global setup: every temporary directory of the run goes under one root, removed at the
 * end. Tests, and the daemons, servers and browsers they start, make theirs with os.tmpdir(),
 * which follows TMPDIR; the forked test workers inherit it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), "trk-test-"));
  process.env.TMPDIR = root;
  return () => {
    rmSync(root, { recursive: true, force: true });
  };
}
