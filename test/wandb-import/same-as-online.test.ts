/**
 * The third "done when": the same W&B script (test/fixtures/wandb-offline-run.py, unmodified
 * W&B Python SDK 0.30) logged online against `trackside server`, and logged offline then brought in
 * by `trackside import wandb`, gives the same run: the same config, the same history rows (every
 * step, every key; only `_timestamp` and `_runtime` differ between two runs) and the same summary
 * (times left out). The two paths into trackside (src/server/wandb/ and src/cli/wandb-import/) share
 * their mapping (src/protocol/wandb-mapping.ts); this test holds them to it. Skipped with a warning
 * where the machine has no local Python package index (test/helpers/wandb-python.ts).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readWandbLog } from "../../src/cli/wandb-import/wandb-log-reader.js";
import { decodeWandbRecord } from "../../src/cli/wandb-import/wandb-schema.js";
import { cli, ROOT, serverWithEnv, showRun, type TestEnv, type TestServer } from "../helpers/processes.js";
import { localUser } from "../helpers/run-dir.js";
import { wandbPythonOrSkip } from "../helpers/wandb-python.js";

const python = wandbPythonOrSkip();
const SCRIPT = join(ROOT, "test/fixtures/wandb-offline-run.py");
/** What differs between two runs of one script: when it ran. */
const TIMES = ["_timestamp", "_runtime"];

let t: TestEnv;
let server: TestServer;
let user: { user: string; apiKey: string };

/** Runs the fixture to its end with `env` (online: W&B pointed at the server; offline: WANDB_MODE); its run id and W&B dir. */
function runScript(mode: "online" | "offline"): Promise<{ id: string; dir: string }> {
  const dir = mkdtempSync(join(t.runDir, `wandb-${mode}-`));
  const expected = join(dir, "expected.json");
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: dir, TMPDIR: process.env.TMPDIR, WANDB_DIR: dir, WANDB_SILENT: "true" };
  if (mode === "offline") env.WANDB_MODE = "offline";
  else Object.assign(env, { WANDB_BASE_URL: server.url, WANDB_API_KEY: user.apiKey });
  const child = spawn(python!, [SCRIPT, "0", expected], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d));
  child.stderr.on("data", (d: Buffer) => (out += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
  return new Promise((resolve, reject) =>
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`the W&B script (${mode}) exited ${code}:\n${out}`));
      resolve({ id: (JSON.parse(readFileSync(expected, "utf8")) as { id: string }).id, dir });
    }),
  );
}

async function history(path: string): Promise<Record<string, unknown>[]> {
  const res = await fetch(`${server.url}/api/v1/runs/${path}/history`, { headers: { authorization: `Bearer ${user.apiKey}` } });
  if (!res.ok) throw new Error(`GET history of ${path}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { rows: Record<string, unknown>[] }).rows;
}

/** Whether the W&B SDK wrote its hardware probe (an environment record with the core count) into the offline run's `.wandb` file. */
function hardwareRecorded(runDir: string): boolean {
  const file = readdirSync(runDir).find((f) => f.endsWith(".wandb"));
  if (!file) throw new Error(`no .wandb file in ${runDir}`);
  return readWandbLog(readFileSync(join(runDir, file))).records.some((r) => decodeWandbRecord(r.bytes).environment?.cpu_count !== undefined);
}

/** `obj` without the keys that say when the run ran. */
function withoutTimes(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([k]) => !TIMES.includes(k)));
}

describe.skipIf(python === null)("trackside import wandb of an offline run, beside the same script logged online", () => {
  beforeAll(async () => {
    ({ t, server } = await serverWithEnv());
    user = localUser(t.home, server.url);
  });
  afterAll(() => server?.stop());

  it("shows the same config, history (all steps, all keys) and summary, times aside", async () => {
    const [online, offline] = await Promise.all([runScript("online"), runScript("offline")]);
    const runs = join(offline.dir, "wandb");
    const runDir = readdirSync(runs).find((d) => d.startsWith("offline-run-") && d.endsWith(`-${offline.id}`));
    expect(runDir, readdirSync(runs).join(", ")).toBeDefined();
    const imported = await cli(["import", "wandb", join(runs, runDir!)], t.env);
    expect(imported.code, imported.stderr).toBe(0);

    const onlinePath = `${user.user}/moving-over/${online.id}`;
    const offlinePath = `${user.user}/moving-over/${offline.id}`;
    const [a, b] = await Promise.all([showRun(onlinePath, t.env), showRun(offlinePath, t.env)]);
    expect(b.config).toEqual(a.config);
    expect(withoutTimes(b.summary as Record<string, unknown>)).toEqual(withoutTimes(a.summary as Record<string, unknown>));
    expect(b).toMatchObject({ state: a.state, historySteps: a.historySteps, name: a.name, notes: a.notes, tags: a.tags, group: a.group, jobType: a.jobType });

    const [rowsA, rowsB] = await Promise.all([history(onlinePath), history(offlinePath)]);
    expect(rowsA).toHaveLength(120);
    expect(rowsB.map(withoutTimes)).toEqual(rowsA.map(withoutTimes));
    expect(rowsA[9]).toMatchObject({ big: "Infinity", small: "-Infinity", flag: true, phase: "warmup", "nested.deep.y": -9 });
    // The times, in ms both ways: the rows within the run, the summary's with its last row.
    for (const [run, rows] of [[a, rowsA], [b, rowsB]] as const) {
      const created = Date.parse(run.createdAt as string);
      for (const r of rows) expect(r._timestamp as number).toBeGreaterThanOrEqual(created - 1000);
      expect(Math.abs(((run.summary as Record<string, number>)._timestamp) - (rows[119]._timestamp as number))).toBeLessThan(60_000);
    }
    // The environment, as the run's overview shows it.
    const facts = (m: unknown) => {
      const { program, host, os, python: py, git, gpus } = m as Record<string, { executable?: unknown } | undefined>;
      return { executable: program?.executable, host, os, python: py, git, gpus };
    };
    expect(facts(b.metadata)).toEqual(facts(a.metadata));
    // The hardware (cores, memory, disk) is W&B's second environment record, which its SDK probes
    // "on a best-effort basis" in the background and drops when the run finishes first (a short
    // run on a loaded machine). Compared where both clients wrote it; the import never drops it.
    const hardware = (m: unknown) => {
      const { cpu, memory, disk } = m as Record<string, unknown>;
      return { cpu, memory, disk };
    };
    if (hardwareRecorded(join(runs, runDir!))) {
      expect(hardware(b.metadata).memory, "the offline file has the hardware record; the import lost it").toBeDefined();
      if (hardware(a.metadata).memory !== undefined) expect(hardware(b.metadata)).toEqual(hardware(a.metadata));
    }
    const [overviewA, overviewB] = await Promise.all([cli(["runs", "show", onlinePath], t.env), cli(["runs", "show", offlinePath], t.env)]);
    const command = (text: string) => /Command:\s+(\S+)/.exec(text)?.[1];
    expect(command(overviewB.stdout)).toBe(command(overviewA.stdout));
  });
});
