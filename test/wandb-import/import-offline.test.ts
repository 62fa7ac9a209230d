/**
 * `trackside import wandb` of offline runs written by W&B's real Python SDK (0.30), into a real
 * server through the real CLI: the run's fields, config, history, summary, console and state
 * come out as the script logged them; a damaged file is a coded error that imports nothing,
 * or, with --partial, what lies before the damage, said out loud.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readWandbLog } from "../../src/cli/wandb-import/wandb-log-reader.js";
import { cli, ROOT, serverWithEnv, showRun, type TestEnv, type TestServer } from "../helpers/processes.js";
import { localUser } from "../helpers/run-dir.js";
import { wandbPythonOrSkip } from "../helpers/wandb-python.js";

interface Logged {
  id: string;
  name: string;
  config: Record<string, unknown>;
  rows: Record<string, number>[];
  summary: Record<string, unknown>;
  stdout: string[];
  stderr: string[];
}

const python = wandbPythonOrSkip();
let t: TestEnv;
let server: TestServer;
let user: { user: string; apiKey: string };
let work: string;

/** Runs the fixture script offline with exit code `code`; its run directory and what it logged. */
function offlineRun(code: number): { dir: string; logged: Logged } {
  const wandbDir = mkdtempSync(join(work, "wandb-dir-"));
  const expected = join(wandbDir, "expected.json");
  const r = spawnSync(python!, [join(ROOT, "test/fixtures/wandb-offline-run.py"), String(code), expected], {
    encoding: "utf8",
    env: { PATH: process.env.PATH, HOME: wandbDir, TMPDIR: process.env.TMPDIR, WANDB_MODE: "offline", WANDB_DIR: wandbDir, WANDB_SILENT: "true" },
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`the W&B script failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  const logged = JSON.parse(readFileSync(expected, "utf8")) as Logged;
  const runs = join(wandbDir, "wandb");
  const dir = readdirSync(runs).find((d) => d.startsWith("offline-run-") && d.endsWith(`-${logged.id}`));
  if (!dir) throw new Error(`no offline run directory for ${logged.id} in ${runs}: ${readdirSync(runs).join(", ")}`);
  return { dir: join(runs, dir), logged };
}

async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${server.url}/api/v1${path}`, { headers: { authorization: `Bearer ${user.apiKey}` } });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** A copy of the run directory whose .wandb file `damage` changed. */
function damagedCopy(dir: string, name: string, damage: (buf: Buffer) => Buffer): { dir: string; file: string } {
  const copy = join(work, name);
  mkdirSync(copy);
  const wandb = readdirSync(dir).find((f) => f.endsWith(".wandb"))!;
  copyFileSync(join(dir, wandb), join(copy, wandb));
  writeFileSync(join(copy, wandb), damage(readFileSync(join(dir, wandb))));
  return { dir: copy, file: join(copy, wandb) };
}

describe.skipIf(python === null)("trackside import wandb, of runs that W&B's Python SDK wrote offline", () => {
  let finished: { dir: string; logged: Logged };
  beforeAll(async () => {
    ({ t, server } = await serverWithEnv());
    user = localUser(t.home, server.url);
    work = mkdtempSync(join(t.runDir, "import-"));
    finished = offlineRun(0);
  });
  afterAll(() => server?.stop());

  it("a finished run: its fields, config, 120 steps of history, summary and console as the script logged them", async () => {
    const { dir, logged } = finished;
    const r = await cli(["import", "wandb", dir], t.env);
    expect(r.code, r.stderr).toBe(0);
    const path = `${user.user}/moving-over/${logged.id}`;
    expect(r.stdout).toContain(`imported ${path}: 120 steps`);
    const run = await showRun(path, t.env);
    expect(run).toMatchObject({
      name: logged.name,
      notes: "logged offline, imported later",
      tags: ["wandb", "import"],
      group: "imports",
      jobType: "train",
      state: "finished",
      exitCode: 0,
      historySteps: 120,
      config: logged.config,
    });
    expect(run.summary).toMatchObject(logged.summary);
    expect(run.summary).not.toHaveProperty("_wandb");
    expect(run.config).not.toHaveProperty("_wandb");
    expect((run.metadata as { importedFrom: unknown }).importedFrom).toMatchObject({ tracker: "wandb", sdkVersion: "0.30.0", runId: logged.id });

    const history = await api<{ rows: Record<string, unknown>[] }>(`/runs/${path}/history?keys=loss,acc,nested.x,train/epoch`);
    expect(history.rows).toEqual(logged.rows);
    const full = await api<{ rows: Record<string, unknown>[] }>(`/runs/${path}/history?minStep=7&maxStep=7`);
    expect(full.rows[0].odd).toBe("NaN");
    // W&B's seconds, as trackside's milliseconds: the steps are dated within the run.
    const created = Date.parse(run.createdAt as string);
    expect(full.rows[0]._timestamp).toBeGreaterThanOrEqual(created);
    expect(full.rows[0]._timestamp).toBeLessThan(created + 60_000);

    const logs = await cli(["logs", path], t.env);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout.split("\n").filter(Boolean)).toEqual(expect.arrayContaining([...logged.stdout, ...logged.stderr]));
    const consoleView = await api<{ lines: { stream: string; text: string }[] }>(`/runs/${path}/console`);
    expect(consoleView.lines.filter((l) => l.stream === "stderr").map((l) => l.text)).toEqual(logged.stderr);
    expect(consoleView.lines.filter((l) => l.stream === "stdout").map((l) => l.text)).toEqual(logged.stdout);

    const system = await api<{ rows: unknown[]; keys: string[] }>(`/runs/${path}/system`);
    expect(system.rows.length).toBeGreaterThan(0);
    expect(system.keys).toContain("system/cpu");
  });

  it("importing the same run again stores nothing twice", async () => {
    const { dir, logged } = finished;
    const r = await cli(["import", "wandb", dir], t.env);
    expect(r.code, r.stderr).toBe(0);
    const run = await showRun(`${user.user}/moving-over/${logged.id}`, t.env);
    expect(run).toMatchObject({ historySteps: 120, consoleLines: logged.stdout.length + logged.stderr.length, state: "finished" });
  });

  it("a run finished with exit code 3 is failed with that code, into the project and entity given", async () => {
    const { dir, logged } = offlineRun(3);
    const r = await cli(["import", "wandb", dir, "--project", "elsewhere", "--entity", user.user], t.env);
    expect(r.code, r.stderr).toBe(0);
    const run = await showRun(`${user.user}/elsewhere/${logged.id}`, t.env);
    expect(run).toMatchObject({ state: "failed", exitCode: 3, historySteps: 120, config: logged.config });
  });

  it("a flipped byte: TRK_ERR_CORRUPT_FILE naming the offset and a CRC mismatch, and nothing imported; --partial imports what precedes it, said so", async () => {
    const { logged } = finished;
    let at = 0;
    const { dir, file } = damagedCopy(finished.dir, "flipped", (buf) => {
      // A byte in the middle of a record near the file's middle, inside one chunk's payload: a
      // byte of a chunk header (its length) would be another damage, reported as such.
      const whole = readWandbLog(buf).records.filter((r) => (r.offset % (32 * 1024)) + 7 + r.bytes.length <= 32 * 1024 && r.bytes.length > 0);
      const record = whole.reduce((best, r) => (Math.abs(r.offset - buf.length / 2) < Math.abs(best.offset - buf.length / 2) ? r : best));
      at = record.offset + 7 + Math.floor(record.bytes.length / 2);
      buf[at] ^= 0x10;
      return buf;
    });
    const project = "damaged";
    const r = await cli(["import", "wandb", dir, "--project", project], t.env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(new RegExp(`TRK_ERR_CORRUPT_FILE: Cannot read ${file}: damaged at byte \\d+: CRC-32 mismatch`));
    expect(r.stderr).toContain("Nothing was imported");
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const byte = Number(/damaged at byte (\d+)/.exec(r.stderr)![1]);
    expect(byte).toBeLessThanOrEqual(at);
    expect(at - byte).toBeLessThan(32 * 1024); // the damaged chunk, not somewhere else
    const missing = await cli(["runs", "show", `${user.user}/${project}/${logged.id}`, "--json"], t.env);
    expect(missing.stderr).toContain("TRK_ERR_NOT_FOUND");

    const partial = await cli(["import", "wandb", dir, "--project", project, "--partial"], t.env);
    expect(partial.code).not.toBe(0);
    expect(partial.stderr).toMatch(/TRK_ERR_CORRUPT_FILE: .*records before the damage were imported \(--partial\)/);
    const run = await showRun(`${user.user}/${project}/${logged.id}`, t.env);
    expect(run.state).toBe("crashed");
    expect(run.error).toMatch(/damaged W&B file, at byte \d+: CRC-32 mismatch/);
    expect(run.historySteps as number).toBeGreaterThan(0);
    expect(run.historySteps as number).toBeLessThan(120);
  });

  it("a file cut short: TRK_ERR_CORRUPT_FILE says so, and nothing is imported", async () => {
    const { dir, file } = damagedCopy(finished.dir, "cut", (buf) => buf.subarray(0, buf.length - 5));
    const r = await cli(["import", "wandb", dir, "--project", "cut"], t.env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`TRK_ERR_CORRUPT_FILE: Cannot read ${file}: damaged at byte`);
    expect(r.stderr).toContain("cut short");
    const missing = await cli(["runs", "show", `${user.user}/cut/${finished.logged.id}`, "--json"], t.env);
    expect(missing.stderr).toContain("TRK_ERR_NOT_FOUND");
  });
});
