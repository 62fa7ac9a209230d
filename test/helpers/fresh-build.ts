/**
 * Vitest global setup: refuses to run against stale bundles. Processes load the client and the
 * daemon from dist/client and dist/daemon (rolldown, `npm run build`); a bare `tsc` updates
 * dist/src only, and the tests would then exercise yesterday's code without a word.
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const DIST = fileURLToPath(new URL("../../dist", import.meta.url));

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : e.name.endsWith(".js") ? statSync(p).mtimeMs : 0);
  }
  return t;
}

export default function setup(): void {
  let sources: number;
  let bundles: number;
  try {
    sources = Math.max(...["client", "daemon", "protocol"].map((d) => newest(join(DIST, "src", d))));
    bundles = Math.min(statSync(join(DIST, "client", "index.js")).mtimeMs, statSync(join(DIST, "daemon", "main.cjs")).mtimeMs);
  } catch {
    throw new Error("No build in dist/: run `npm run build` (or `npm test`, which builds first).");
  }
  if (sources > bundles) throw new Error("dist/client or dist/daemon is older than dist/src: run `npm run build` (a bare tsc does not rebuild the bundles).");
}
