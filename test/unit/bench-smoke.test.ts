import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { findPostgresBin } from "../helpers/postgres.js";
import { ROOT } from "../helpers/processes.js";
import { wandbPythonOrSkip } from "../helpers/wandb-python.js";

// The benchmarks stay out of `npm test`, but run here at a tiny size so that they cannot rot.
describe("benchmarks (smoke size)", () => {
  // About 80 s on 2 cores under load (the media benchmarks added about 25 s of it).
  it("run end to end and print every figure beside its baseline", { timeout: 210_000 }, () => {
    const r = spawnSync(process.execPath, ["dist/scripts/bench/run.js"], { cwd: ROOT, env: { ...process.env, BENCH_SMOKE: "1" }, encoding: "utf8", timeout: 180_000 });
    expect(r.status, r.stderr).toBe(0);
    // The W&B profile: gated (as W&B's harness times it where Python forks), from the spawn,
    // and from the spawn without NODE_EXTRA_CA_CERTS where it is set.
    const wandbRows = process.env.NODE_EXTRA_CA_CERTS ? ["wandb-profile", "wandb-profile", "wandb-profile"] : ["wandb-profile", "wandb-profile"];
    const rows = r.stdout.split("\n").filter((l) => l.startsWith("| ") && !l.startsWith("| figure") && !l.startsWith("| ---"));
    // The workspace in Chromium (issue 16): left out where Debian's Chromium is not installed.
    // Then the artifacts (issue 18): logged, until the server holds them, again, downloaded.
    // Then media (issue 19): an image per step (4 rows) and a histogram per step (3), each run
    // checked on the server, and the image panel in Chromium (4; left out without it).
    const chromium = existsSync("/usr/bin/chromium");
    const workspaceRows = chromium ? ["workspace", "workspace", "workspace", "workspace", "live", "live"] : [];
    const media = ["media", "media", "media", "media", "media", "media", "media", ...(chromium ? ["media", "media", "media", "media"] : [])];
    expect(rows.map((l) => l.split("|")[1].trim().split(" ")[0])).toEqual(["log()", "log()", "cold", "warm", "server", "system", "history-buckets", "history-buckets", "readHistory:", "runs-table", "end-to-end", "empty-run", "empty-run", ...wandbRows, "daemon-rss", "daemon-rss", ...workspaceRows, "log", "log", "log", "download", ...media]);
    const mediaRows = (prefix: string) => rows.filter((l) => l.startsWith(`| media ${prefix}`)).length;
    expect([mediaRows("a 256x256 RGB image"), mediaRows("a 1,000-bin histogram"), mediaRows("web")]).toEqual([4, 3, chromium ? 4 : 0]);
    for (const row of rows) expect(row).toMatch(/\| \d+\.\d\dx \|/);
  });

  // Issue 15's benchmarks, SQLite beside PostgreSQL (its figures left out where it is not installed).
  it("run the store benchmarks (runs-table page, ingest through replicas, reads during ingest, load test, chart query) at a tiny size", { timeout: 150_000 }, () => {
    const pg = findPostgresBin() !== null;
    const one = (name: string, args: number[]) => {
      const r = spawnSync(process.execPath, ["dist/scripts/bench/run.js", "--one", name, JSON.stringify(args)], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
      expect(r.status, r.stderr).toBe(0);
      const figures = JSON.parse(r.stdout.trim().split("\n").pop()!) as { name: string; value: number; baseline: number; unit: string }[];
      for (const f of figures) expect(Number.isFinite(f.value) && Number.isFinite(f.baseline), f.name).toBe(true);
      return figures;
    };
    const pages = one("benchRunsPage", [1, 120]);
    expect(pages.filter((f) => f.name.includes("SQLite"))).toHaveLength(3);
    // PostgreSQL's first and middle pages again after a VACUUM, and once grown with autovacuum alone, with that middle page's index walk.
    expect(pages.filter((f) => f.name.includes("PostgreSQL"))).toHaveLength(pg ? 8 : 0);
    expect(one("benchReplicaIngest", [8192, 1]).map((f) => f.name.includes("two replicas"))).toEqual(pg ? [false, false, false, false, true] : [false, false, false]);
    expect(one("benchIngestReads", [8192, 1]).map((f) => f.unit)).toEqual(["rows/s", "ms", "ms", "ms", "reads", "rows/s"]);
    const load = one("benchLoadTest", [3, 10, 1]);
    expect(load).toHaveLength(pg ? 4 : 0);
    if (pg) expect(load[0].value, "rows lost").toBe(0);
    expect(one("benchChartQuery", [5000, 1]).map((f) => f.name.split(":")[0])).toEqual([
      "chart query cold, SQLite",
      "chart query warm (cached columns), SQLite",
      ...(pg ? ["chart query cold, PostgreSQL", "chart query warm (cached columns), PostgreSQL"] : []),
    ]);
  });

  // Issue 17's side by side: W&B's Python SDK beside trackside, online and offline (no figures,
  // with a warning, where the SDK cannot be had).
  it("run W&B's Python SDK beside trackside at a tiny size", { timeout: 150_000 }, () => {
    const python = wandbPythonOrSkip();
    const r = spawnSync(process.execPath, ["dist/scripts/bench/run.js", "--one", "benchWandbSideBySide", "[2,5,100,1]"], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const figures = JSON.parse(r.stdout.trim().split("\n").pop()!) as { name: string; value: number; baseline: number }[];
    expect(figures.map((f) => f.name.split(",")[0])).toEqual(python === null ? [] : ["side-by-side: 2 processes × 5 steps × 100 floats", "side-by-side: 1 process", "side-by-side: 1 process"]);
    for (const f of figures) expect(f.value > 0 && f.baseline > 0, f.name).toBe(true);
  });
});
