/**
 * The daemon's GPU facts and samples (src/daemon/gpu.ts) read from what a real NVIDIA H200 printed
 * (test/fixtures/nvidia-smi-h200, taken with scripts/device/gpu-check.sh), through a stand-in
 * `nvidia-smi` on PATH that prints those files for the daemon's queries. This machine has no GPU;
 * stats-console.test.ts checks that no GPU keys appear where nvidia-smi is absent.
 */
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { metadataFacts } from "../../src/cli/metadata-facts.js";

const FIXTURES = resolve(import.meta.dirname, "../fixtures/nvidia-smi-h200");
let gpu: typeof import("../../src/daemon/gpu.js");
let sampleFile: string;

beforeAll(async () => {
  const bin = mkdtempSync(join(tmpdir(), "trk-nvidia-smi-"));
  sampleFile = join(bin, "sample");
  // Prints the fixture that answers the query it is given, as the real one would.
  writeFileSync(
    join(bin, "nvidia-smi"),
    `#!/bin/sh
case "$1" in
  --query-gpu=index,name,*) cat "${FIXTURES}/info.csv" ;;
  --query-gpu=index,utilization.gpu,*) cat "$(cat "${sampleFile}")" ;;
  "") cat "${FIXTURES}/banner.txt" ;;
  *) echo "unexpected query: $*" >&2; exit 2 ;;
esac
`,
  );
  chmodSync(join(bin, "nvidia-smi"), 0o755);
  process.env.PATH = `${bin}${delimiter}${process.env.PATH ?? ""}`;
  // gpu.ts looks nvidia-smi up once per process: imported only now that it is on PATH.
  gpu = await import("../../src/daemon/gpu.js");
});

describe("an NVIDIA H200 as nvidia-smi reports it", () => {
  it("gives its name, memory, driver and CUDA version, and the overview shows them", async () => {
    const info = await gpu.gpuInfo();
    expect(info).toEqual([{ index: 0, name: "NVIDIA H200", memoryMB: 143771, driver: "580.159.04", cuda: "13.0" }]);
    expect(metadataFacts({ gpus: info })).toContainEqual(["GPU", expect.stringMatching(/^NVIDIA H200, 140\.\d GB, driver 580\.159\.04, CUDA 13\.0$/)]);
  });

  it("samples utilisation, memory, temperature and power, idle and busy", async () => {
    writeFileSync(sampleFile, join(FIXTURES, "sample-idle.csv"));
    expect(await gpu.gpuSample()).toEqual({ "gpu.0.gpu": 0, "gpu.0.memoryMB": 0, "gpu.0.memory": 0, "gpu.0.temp": 39, "gpu.0.powerWatts": 81.29 });
    writeFileSync(sampleFile, join(FIXTURES, "sample-busy.csv"));
    const busy = await gpu.gpuSample();
    expect(busy).toMatchObject({ "gpu.0.gpu": 98, "gpu.0.memoryMB": 1011, "gpu.0.temp": 61, "gpu.0.powerWatts": 692.52 });
    expect(busy["gpu.0.memory"]).toBeCloseTo((100 * 1011) / 143771, 6);
  });
});
