#!/usr/bin/env bash
# The GPU facts and samples trackside's daemon reads (src/daemon/gpu.ts), taken on a machine with a
# real NVIDIA GPU: the exact nvidia-smi queries it runs, saved as they print (fixtures for
# test/unit/gpu.test.ts), how long each takes (the daemon runs one per sample), and, where Node.js
# is there, what gpu.ts makes of them idle and under load. Needs `dist/` (npm run build) beside it.
# Usage: OUT=dir bash scripts/device/gpu-check.sh
set -u
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
INFO=(--query-gpu=index,name,memory.total,driver_version --format=csv,noheader,nounits)
SAMPLE=(--query-gpu=index,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw --format=csv,noheader,nounits)
{
  echo "## uname"; uname -a
  echo "## node"; command -v node && node --version
  echo "## python torch"; python3 -c 'import torch; print(torch.__version__, torch.cuda.is_available())' 2>&1 | tail -1
  echo "## nvidia-smi -L"; nvidia-smi -L
  for i in 1 2 3; do /usr/bin/time -f "sample query: %e s" nvidia-smi "${SAMPLE[@]}" >/dev/null; done
  /usr/bin/time -f "banner: %e s" nvidia-smi >/dev/null
} >"$OUT/summary.txt" 2>&1
nvidia-smi "${INFO[@]}" >"$OUT/info.csv" 2>&1
nvidia-smi "${SAMPLE[@]}" >"$OUT/sample-idle.csv" 2>&1
nvidia-smi >"$OUT/banner.txt" 2>&1
load_pid=""
if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  python3 - <<'PY' &
import time, torch
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
end = time.time() + 20
while time.time() < end:
    b = a @ a
    torch.cuda.synchronize()
PY
  load_pid=$!
  sleep 8
  nvidia-smi "${SAMPLE[@]}" >"$OUT/sample-busy.csv" 2>&1
fi
if command -v node >/dev/null && [ -f dist/src/daemon/gpu.js ]; then
  node --input-type=module -e '
    const { gpuInfo, gpuSample } = await import(process.cwd() + "/dist/src/daemon/gpu.js");
    const t0 = performance.now();
    const info = await gpuInfo();
    const t1 = performance.now();
    const sample = await gpuSample();
    const t2 = performance.now();
    console.log(JSON.stringify({ info, sample, infoMs: Math.round(t1 - t0), sampleMs: Math.round(t2 - t1) }, null, 1));
  ' >"$OUT/gpu-ts.json" 2>&1
fi
[ -n "$load_pid" ] && wait "$load_pid"
cat "$OUT/summary.txt" "$OUT/info.csv" "$OUT/sample-idle.csv" "$OUT/sample-busy.csv" "$OUT/gpu-ts.json" 2>/dev/null
