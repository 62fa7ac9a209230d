/**
 * System metrics, run metadata and console output, checked against this machine: what the
 * daemon samples and probes, and what the process printed, as the server serves them.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, runFixture, serverWithEnv, showRun, start, type Finished, type TestEnv, type TestServer } from "../helpers/processes.js";

let server: TestServer;
let t: TestEnv;

beforeAll(async () => ({ t, server } = await serverWithEnv()));
afterAll(() => server?.stop());

async function api<T>(path: string): Promise<T> {
  const creds = JSON.parse(readFileSync(join(t.home, ".trackside", "credentials"), "utf8")) as Record<string, { apiKey: string }>;
  const res = await fetch(`${server.url}/api/v1${path}`, { headers: { authorization: `Bearer ${creds[server.url].apiKey}` } });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as T;
}

type SystemRows = { keys: string[]; rows: Array<Record<string, number>> };

async function system(path: string): Promise<SystemRows> {
  const [e, p, id] = path.split("/");
  return eventually("system samples arrive", async () => {
    const r = await api<SystemRows>(`/runs/${e}/${p}/${id}/system`);
    return r.rows.length >= 2 ? r : undefined;
  }, 30_000);
}

/**
 * Runs the busy fixture until the server holds two system samples of its run (however long a
 * loaded machine takes to produce them), then lets it finish.
 */
async function busyUntilSampled(mode: "cpu" | "memory"): Promise<{ path: string; r: Finished }> {
  const p = start([join(import.meta.dirname, "../fixtures/busy.mjs"), mode], t.env);
  try {
    const { path } = JSON.parse((await p.waitFor(/\{"path":.*\}/))[0]) as { path: string };
    await system(path);
    p.child.kill("SIGUSR2");
    const r = await p.exited;
    expect(r.code, r.stderr).toBe(0);
    return { path, r };
  } finally {
    p.child.kill("SIGKILL"); // only if something above failed: it has exited otherwise
  }
}

describe("system metrics", () => {
  it("a process that keeps a core busy shows process CPU above 50 %, and the machine's keys are plausible", async () => {
    const { path, r } = await busyUntilSampled("cpu");
    const { keys, rows } = await system(path);
    const self = JSON.parse(r.stdout.trim().split("\n").pop()!) as { selfCpuPercent: number };
    const sampled = Math.max(...rows.map((x) => x["system/proc.cpu.percent"]));
    // The sample agrees with what the process measured of itself; and on a machine where the
    // busy loop really got its core (not shared with other test files), it is above 50 %.
    expect(sampled).toBeGreaterThan(self.selfCpuPercent * 0.6);
    if (self.selfCpuPercent > 75) expect(sampled).toBeGreaterThan(50);
    for (const key of ["system/cpu", "system/cpu.0.percent", "system/memory.percent", "system/memory.availableMB", "system/disk.percent", "system/disk.readMB", "system/network.sentMB", "system/proc.memory.rssMB"]) {
      expect(keys).toContain(key);
    }
    const last = rows[rows.length - 1];
    expect(last["system/memory.percent"]).toBeGreaterThan(0);
    expect(last["system/memory.percent"]).toBeLessThanOrEqual(100);
    expect(last["system/cpu"]).toBeGreaterThanOrEqual(0);
    expect(last["system/cpu"]).toBeLessThanOrEqual(100);
    expect(last["system/network.sentMB"]).toBeGreaterThanOrEqual(0);
    if (!existsNvidiaSmi()) expect(keys.some((k) => k.startsWith("system/gpu."))).toBe(false);
  });

  it("a process that holds 220 MB shows an RSS of at least 200 MB", async () => {
    const { path } = await busyUntilSampled("memory");
    const { rows } = await system(path);
    expect(Math.max(...rows.map((x) => x["system/proc.memory.rssMB"]))).toBeGreaterThanOrEqual(200);
  });
});

function existsNvidiaSmi(): boolean {
  try {
    execFileSync("nvidia-smi", ["-L"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("metadata", () => {
  it("names this machine's host, Node.js version, and the git commit of the run's working tree", async () => {
    const repo = mkdtempSync(join(tmpdir(), "trk-git-"));
    const git = (...args: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", ...args], { cwd: repo, encoding: "utf8" }).trim();
    git("init", "-q", "-b", "main");
    writeFileSync(join(repo, "train.txt"), "x");
    git("add", ".");
    git("commit", "-qm", "first");
    const commit = git("rev-parse", "HEAD");
    const p = start([join(import.meta.dirname, "../fixtures/train.mjs"), "5", "1"], t.env, { cwd: repo });
    const done = await p.exited;
    expect(done.code, done.stderr).toBe(0);
    const { path } = JSON.parse(done.stdout.split("\n")[0]) as { path: string };
    const run = await eventually("metadata arrives", async () => {
      const v = await showRun(path, t.env);
      return (v.metadata as { git?: unknown }).git ? v : undefined;
    });
    const meta = run.metadata as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(meta.host).toBe(hostname());
    expect(meta.node).toBe(process.version);
    expect(meta.git).toMatchObject({ commit, branch: "main", dirty: false });
    expect(meta.cpu.logicalCores).toBeGreaterThan(0);
    expect(meta.memory.totalMB).toBeGreaterThan(100);
    expect(meta.os.platform).toBe(process.platform);
    expect(meta.program.cwd).toBe(repo);
    expect(meta.tracksideVersion).toMatch(/^\d+\.\d+\.\d+/);
    const human = execFileSync(process.execPath, [join(import.meta.dirname, "../../dist/src/cli/main.js"), "runs", "show", path], { env: t.env, encoding: "utf8" });
    expect(human).toContain(hostname());
    expect(human).toContain(commit.slice(0, 7));
  });
});

describe("console output", () => {
  it("keeps the 100 lines a script printed before it threw, the progress bar's last state, and the error", async () => {
    const r = await runFixture("print-throw", t.env);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("line 99"); // passed through unchanged
    const { path } = JSON.parse(r.stdout.split("\n")[0]) as { path: string };
    const [e, p, id] = path.split("/");
    const lines = await eventually("the output log is complete", async () => {
      const v = await api<{ lines: Array<{ stream: string; text: string }> }>(`/runs/${e}/${p}/${id}/console?limit=1000`);
      return v.lines.some((l) => l.text.includes("the end of print-throw")) ? v.lines : undefined;
    });
    const texts = lines.map((l) => l.text);
    for (let i = 0; i < 100; i++) expect(texts).toContain(`line ${i}`);
    expect(texts).toContain("progress 100%");
    expect(texts.some((x) => x.startsWith("progress 25%"))).toBe(false);
    expect(lines.find((l) => l.text === "a warning on stderr")?.stream).toBe("stderr");
    expect(texts.some((x) => x.includes("trackside:"))).toBe(false); // our own lines are not the program's
  });
});
