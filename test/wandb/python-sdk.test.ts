/**
 * W&B's Python SDK (wandb 0.30 from the local package index, unmodified) against a real
 * `trackside server`, pointed at it by WANDB_BASE_URL and WANDB_API_KEY alone: a run with a
 * name, notes, tags, nested config and 120 steps that exits 0, and one that exits with code 3.
 * `runs show --json` and `trackside logs` show what the script logged and printed (a progress bar
 * as its last state), and its system metrics are the run's; a run SIGKILLed is marked crashed once
 * its heartbeats stop. Skipped with a
 * warning where the machine has no local package index (test/helpers/wandb-python.ts).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readCredential } from "../../src/protocol/local-config.js";
import { mintApiKey } from "../../src/server/http/auth.js";
import { startServer as startInProcess, type RunningServer } from "../../src/server/start-server.js";
import { cli, eventually, ROOT, serverWithEnv, showRun, type Finished, type TestEnv, type TestServer } from "../helpers/processes.js";
import { wandbPythonOrSkip } from "../helpers/wandb-python.js";

const python = wandbPythonOrSkip();
const SCRIPT = join(ROOT, "test/fixtures/wandb/python-run.py");

let t: TestEnv;
let server: TestServer;

/** Starts a Python script with W&B pointed at `url` with `key`. */
function spawnPython(script: string, args: string[], url: string, key: string) {
  const cwd = mkdtempSync(join(tmpdir(), "trk-wandb-py-"));
  const env = { PATH: process.env.PATH, HOME: cwd, WANDB_BASE_URL: url, WANDB_API_KEY: key, WANDB_DIR: cwd };
  return spawn(python!, [script, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
}

/** Runs the script with W&B pointed at the server; it ends with `exitCode`. */
function runScript(exitCode: number): Promise<Finished> {
  return finished(spawnPython(SCRIPT, [String(exitCode)], server.url, readCredential(server.url, t.env)!.apiKey));
}

/** Runs Python with `args` (a script or `-m wandb ...`) in `cwd` with `extra` environment, to its end. */
function runPython(args: string[], cwd: string, extra: NodeJS.ProcessEnv): Promise<Finished> {
  const env = { PATH: process.env.PATH, HOME: cwd, WANDB_DIR: cwd, WANDB_BASE_URL: server.url, WANDB_API_KEY: readCredential(server.url, t.env)!.apiKey, ...extra };
  return finished(spawn(python!, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] }));
}

function finished(child: ReturnType<typeof spawn>): Promise<Finished> {
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d));
  child.stderr!.on("data", (d: Buffer) => (stderr += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
  return new Promise((resolve) =>
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    }),
  );
}

describe.skipIf(python === null)("W&B's Python SDK", () => {
  beforeAll(async () => {
    ({ t, server } = await serverWithEnv());
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("logs a run that exits 0 (finished) and one that exits 3 (failed), with name, notes, tags, plain config, summary, console and system metrics", async () => {
    const [ok, failed] = await Promise.all([runScript(0), runScript(3)]);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(failed.code, failed.stdout + failed.stderr).toBe(3);
    for (const [r, state, exitCode] of [[ok, "finished", 0], [failed, "failed", 3]] as const) {
      const path = /RUN (\S+)/.exec(r.stdout)![1];
      const run = await showRun(path, t.env);
      expect(run).toMatchObject({
        state,
        exitCode,
        name: `py-exit-${exitCode}`,
        notes: "logged by the W&B Python SDK",
        tags: ["wandb", "python"],
        historySteps: 120,
        config: { lr: 0.001, optimizer: { name: "adam", beta1: 0.9 }, layers: [64, 32] },
        summary: { best_acc: 0.97, _step: 119, loss: 1 / 120 },
        metadata: { python: expect.stringMatching(/^CPython 3/) },
      });
      expect(Object.keys(run.config as object).sort()).toEqual(["layers", "lr", "optimizer"]);
      // The overview's environment, from W&B's metadata.
      const overview = await cli(["runs", "show", path], t.env);
      expect(overview.stdout).toMatch(/Python:\s+CPython 3/);
      expect(overview.stdout).toMatch(/Command:\s+\S*python-run\.py \d/);
      const logs = await cli(["logs", path], t.env);
      expect(logs.code, logs.stderr).toBe(0);
      expect(logs.stdout).toContain("hello from stdout");
      expect(logs.stdout).toContain("hello from stderr");
      expect(logs.stdout).toContain(`RUN ${path}`);
      // The progress bar redrawn with \r is one line, at its last state.
      expect(logs.stdout).toContain("progress 100%");
      expect(logs.stdout).not.toContain("progress  40%");
      // W&B's system metrics, under trackside's system/ keys.
      const key = readCredential(server.url, t.env)!.apiKey;
      const system = (await (await fetch(`${server.url}/api/v1/runs/${path}/system`, { headers: { authorization: `Bearer ${key}` } })).json()) as { keys: string[] };
      expect(system.keys).toEqual(expect.arrayContaining(["system/cpu", "system/proc.memory.rssMB"]));
    }
  });
  it('resumes an existing run with resume="allow": the second process adds its steps after the first\'s', async () => {
    const cwd = mkdtempSync(join(tmpdir(), "trk-wandb-resume-"));
    const script = join(ROOT, "test/fixtures/wandb/python-resume.py");
    const first = await runPython([script, "0"], cwd, {});
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const second = await runPython([script, "10"], cwd, {});
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(second.stdout).toContain("resumed=True");
    const path = /RUN (\S+)/.exec(second.stdout)![1];
    const run = await showRun(path, t.env);
    expect(run).toMatchObject({ state: "finished", historySteps: 20, config: { phase: 10 }, summary: { _step: 19 } });
  });

  it("`wandb sync` of an offline run directory uploads it as a finished run", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "trk-wandb-offline-"));
    const offline = await runPython([SCRIPT, "0"], cwd, { WANDB_MODE: "offline" });
    expect(offline.code, offline.stdout + offline.stderr).toBe(0);
    const id = /RUN \S*\/wbpy\/(\S+)/.exec(offline.stdout)![1];
    const dir = join(cwd, "wandb", readdirSync(join(cwd, "wandb")).find((d) => d.startsWith("offline-run-"))!);
    const sync = await runPython(["-m", "wandb", "sync", dir], cwd, {});
    expect(sync.code, sync.stdout + sync.stderr).toBe(0);
    const user = readCredential(server.url, t.env)!.user;
    const run = await showRun(`${user}/wbpy/${id}`, t.env);
    expect(run).toMatchObject({ state: "finished", name: "py-exit-0", historySteps: 120, config: { lr: 0.001 }, summary: { best_acc: 0.97 } });
  });
});

describe.skipIf(python === null)("W&B's Python SDK, killed", () => {
  let home: string;
  let live: RunningServer;
  let key: string;
  let savedHome: string | undefined;
  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), "trk-wandb-kill-"));
    // The server writes its local user's key under HOME: a temporary one, not the tester's.
    savedHome = process.env.HOME;
    process.env.HOME = home;
    // A short heartbeat timeout and sweep: the crash shows in seconds, not minutes.
    live = await startInProcess({ port: 0, dataDir: join(home, "server"), heartbeatTimeoutS: 2, sweepIntervalMs: 200 });
    const user = await live.store.createUser("kim");
    const minted = mintApiKey();
    await live.store.addApiKey(user.id, minted.hash, minted.prefix);
    key = minted.key;
  });
  afterAll(async () => {
    await live?.close();
    process.env.HOME = savedHome;
  });

  it("a run whose process is SIGKILLed is marked crashed once its heartbeats stop", async () => {
    const child = spawnPython(join(ROOT, "test/fixtures/wandb/python-sleep.py"), [], live.url, key);
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d));
    const exited = new Promise((resolve) => child.on("close", resolve));
    const path = await eventually("the script's RUN line", () => /RUN (\S+)\/(\S+)\/(\S+)/.exec(out) ?? undefined, 60_000);
    child.kill("SIGKILL");
    await exited;
    const run = await eventually(
      "the run marked crashed",
      async () => {
        const r = await live.store.getRun(path[1], path[2], path[3]);
        return r?.state === "crashed" ? r : undefined;
      },
      20_000,
    );
    expect(run).toMatchObject({ name: "py-killed", state: "crashed", error: expect.stringContaining("no heartbeat") });
    expect(run.sweeperCrashedAt).not.toBeNull();
  });
});
