#!/usr/bin/env bash
# Packs what one benchmark needs to run on a machine without Node.js or node_modules (the device
# machine: 16 cores, where the 2-core figures can be taken again with cores to spare): the
# Node.js binary, dist/, and the files of node_modules the benchmark and its server processes
# load, found by running it once here, small, with a loader hook that records every file
# resolved. Writes .devpack/app.tar.xz (about 28 MB; .devpack/ is for .git/info/exclude).
# Usage: npm run build && bash scripts/device/pack-bench.sh benchReplicaIngest '[100000,1]'
# There: tar -xJf .devpack/app.tar.xz && cd app && BENCH_NO_POSTGRES=1 ./node dist/scripts/bench/run.js --one NAME ARGS
set -euo pipefail
name=$1 args=$2
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/trace.mjs" <<'JS'
import Module, { register } from "node:module";
import { appendFileSync } from "node:fs";
const out = process.env.PACK_TRACE;
register("data:text/javascript," + encodeURIComponent(`import { appendFileSync } from "node:fs";
export async function resolve(s, c, n) { const r = await n(s, c); if (r.url.startsWith("file:")) appendFileSync(${JSON.stringify(out)}, r.url + "\\n"); return r; }`));
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (...a) {
  const r = resolveFilename.apply(this, a);
  if (typeof r === "string" && r.startsWith("/")) appendFileSync(out, r + "\n");
  return r;
};
JS
PACK_TRACE="$work/files" NODE_OPTIONS="--import=$work/trace.mjs" BENCH_NO_POSTGRES=1 node dist/scripts/bench/run.js --one "$name" "$args" >/dev/null
mkdir -p "$work/app"
# Each node_modules file loaded, with the package.json of every package on its path.
sed 's#^file://##' "$work/files" | python3 -c '
import os, sys, urllib.parse
root = sys.argv[1]
seen = set()
for line in sys.stdin:
    p = urllib.parse.unquote(line.strip())
    if not p.startswith(root + "/node_modules/"): continue
    rel = os.path.relpath(p, root)
    seen.add(rel)
    parts = rel.split("/")
    for i in range(1, len(parts)):
        pj = "/".join(parts[:i] + ["package.json"])
        if os.path.isfile(os.path.join(root, pj)): seen.add(pj)
print("\n".join(sorted(seen)))' "$root" >"$work/list"
(cd "$root" && tar -cf - -T "$work/list") | tar -C "$work/app" -xf -
# zeromq picks its addon through a manifest: its Linux x64 glibc builds, not the other platforms'.
mkdir -p "$work/app/node_modules/zeromq/build/linux/x64/node"
cp "$root/node_modules/zeromq/build/manifest.json" "$work/app/node_modules/zeromq/build/"
cp -r "$root"/node_modules/zeromq/build/linux/x64/node/glibc-* "$work/app/node_modules/zeromq/build/linux/x64/node/"
cp -r dist package.json "$work/app/"
cp "$(readlink -f "$(command -v node)")" "$work/app/node"
mkdir -p .devpack
tar -C "$work" -cJf .devpack/app.tar.xz app
ls -l .devpack/app.tar.xz
