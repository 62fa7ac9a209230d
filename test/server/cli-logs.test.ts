/**
 * `trackside logs` and the environment lines of `trackside runs show`, against a real server on
 * port 0. Commands run in process through commander; when the built CLI exists (npm test builds
 * it first), `logs` is also checked end to end by spawning `node dist/src/cli/main.js`.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { registerLogsCommand } from "../../src/cli/logs-command.js";
import { registerRunsCommands } from "../../src/cli/runs-command.js";
import { runCliInProcess } from "../helpers/in-process-cli.js";
import { readCredential } from "../../src/protocol/local-config.js";
import type { RunView } from "../../src/protocol/api.js";
import type { ConsoleLine, RunRecord } from "../../src/protocol/records.js";
import { startServer, type RunningServer } from "../../src/server/index.js";
import { PROBED_METADATA, runInfo, T0 } from "./helpers.js";

const CLI = fileURLToPath(new URL("../../dist/src/cli/main.js", import.meta.url));

let home: string;
let savedHome: string | undefined;
let server: RunningServer | null = null;

beforeEach(() => {
  savedHome = process.env.HOME;
  home = mkdtempSync(join(tmpdir(), "trackside-cli-logs-"));
  process.env.HOME = home;
});
afterEach(async () => {
  await server?.close();
  server = null;
  process.env.HOME = savedHome;
  rmSync(home, { recursive: true, force: true });
});

const EXIT: RunRecord = { k: "exit", seq: 1_000_000, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: T0 + 60_000 };

function consoleLines(from: number, texts: string[], stream: ConsoleLine["stream"] = "stdout"): RunRecord {
  return { k: "console", seq: from, lines: texts.map((text, i) => ({ at: T0 + (from + i) * 1000, stream, text })) };
}

/** A server and a function that uploads records to run `logs0001` of the local user. */
async function serverWithRun(records: RunRecord[]) {
  server = await startServer({ port: 0, dataDir: join(home, "server") });
  const { apiKey, user } = readCredential(server.url)!;
  const url = server.url;
  const upload = async (body: RunRecord[]) => {
    const res = await fetch(`${url}/api/v1/runs/${user}/mnist/logs0001/records`, {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
  };
  await upload([{ k: "run", seq: 0, run: runInfo("logs0001", { entity: user }) }, ...records]);
  return { url, path: `${user}/mnist/logs0001`, upload };
}

/** Runs `trackside <args>` in process; what it printed. `onOut` sees each write as it happens. */
const runCli = (args: string[], onOut?: (text: string) => void): Promise<string> =>
  runCliInProcess([registerRunsCommands, (program, io) => registerLogsCommand(program, io, { pollIntervalMs: 10 })], args, onOut);

describe("trackside logs (in process)", () => {
  it("prints stdout and stderr lines merged in the order written, as written", async () => {
    const { url, path } = await serverWithRun([consoleLines(1, ["epoch 1", "epoch 2"]), consoleLines(3, ["Error: boom"], "stderr"), consoleLines(4, ["  at main"], "stderr"), EXIT]);
    expect(await runCli(["logs", path, "--base-url", url])).toBe("epoch 1\nepoch 2\nError: boom\n  at main\n");
  });

  it("pages through more lines than one request holds", async () => {
    const texts = Array.from({ length: 10_005 }, (_, i) => `l${i}`);
    const { url, path } = await serverWithRun([consoleLines(1, texts), EXIT]);
    const out = await runCli(["logs", path, "--base-url", url]);
    expect(out.split("\n").slice(0, -1)).toEqual(texts);
  });

  it("prefixes time and stream with --timestamps, and prints only the last lines with --tail", async () => {
    const { url, path } = await serverWithRun([consoleLines(1, ["a", "b"]), consoleLines(3, ["c"], "stderr"), EXIT]);
    expect(await runCli(["logs", path, "--timestamps", "--base-url", url])).toBe(
      `${new Date(T0 + 1000).toISOString()} stdout a\n${new Date(T0 + 2000).toISOString()} stdout b\n${new Date(T0 + 3000).toISOString()} stderr c\n`,
    );
    expect(await runCli(["logs", path, "--tail", "2", "--base-url", url])).toBe("b\nc\n");
  });

  it("--follow prints lines as they arrive and returns once the run is no longer running", async () => {
    const { url, path, upload } = await serverWithRun([consoleLines(1, ["first"])]);
    let later: Promise<void> | null = null;
    const out = await runCli(["logs", path, "--follow", "--base-url", url], () => {
      // Once the first line is out, the run writes more and ends.
      later ??= upload([consoleLines(2, ["second", "third"]), { ...EXIT, seq: 4 }]);
    });
    await later;
    expect(out).toBe("first\nsecond\nthird\n");
  });

  it("--tail with --follow prints the last lines, then what comes after them", async () => {
    const { url, path, upload } = await serverWithRun([consoleLines(1, ["a", "b", "c"])]);
    let later: Promise<void> | null = null;
    const out = await runCli(["logs", path, "--tail", "1", "--follow", "--base-url", url], () => {
      later ??= upload([consoleLines(4, ["d"]), { ...EXIT, seq: 5 }]);
    });
    await later;
    expect(out).toBe("c\nd\n");
  });

  it("throws coded errors: a missing run, a bad --tail, an unreachable server", async () => {
    const { url, path } = await serverWithRun([]);
    await expect(runCli(["logs", `${path}x`, "--base-url", url])).rejects.toMatchObject({ code: "TRK_ERR_NOT_FOUND" });
    await expect(runCli(["logs", path, "--tail", "0", "--base-url", url])).rejects.toMatchObject({ code: "TRK_ERR_INVALID_OPTION" });
    await server!.close();
    await expect(runCli(["logs", path, "--base-url", url])).rejects.toMatchObject({ code: "TRK_ERR_SERVER_UNREACHABLE" });
  });
});

describe("trackside runs show", () => {
  it("prints the probed environment as readable lines", async () => {
    const { url, path } = await serverWithRun([{ k: "meta", seq: 0, metadata: PROBED_METADATA }, consoleLines(1, ["x"]), EXIT]);
    const out = await runCli(["runs", "show", path, "--base-url", url]);
    const line = (label: string) => out.split("\n").find((l) => l.startsWith(`${label}:`))?.slice(label.length + 1).trim();
    expect(line("Host")).toBe("gpu-box-1");
    expect(line("User")).toBe("alice");
    expect(line("OS")).toBe("linux 6.1.0 (Ubuntu 22.04, x64)");
    expect(line("Node.js")).toBe("v20.11.0");
    expect(line("Command")).toBe("/usr/bin/node train.js --epochs 3");
    expect(line("Working dir")).toBe("/home/alice/proj");
    expect(line("Git remote")).toBe("git@github.com:alice/mnist.git");
    expect(line("Git commit")).toBe("3f2a9c1e (branch main, uncommitted changes)");
    expect(line("CPU")).toBe("AMD EPYC 7763 (16 cores, 32 threads)");
    expect(line("Memory")).toBe("64.0 GB");
    expect(line("Disk")).toBe("120.5 GB used of 500 GB (/home)");
    expect(line("GPUs")).toBe("2 x NVIDIA H100 80GB HBM3, 79.6 GB, driver 550.54, CUDA 12.4");
    expect(line("Container")).toBe("docker");
    expect(line("SLURM")).toBe("job_id=1234, partition=gpu");
    expect(line("trackside")).toBe("0.1.0");
    expect(line("Console lines")).toBe("1");
    expect(line("CI")).toBeUndefined();

    const json = JSON.parse(await runCli(["runs", "show", path, "--json", "--base-url", url]));
    expect(json.metadata).toMatchObject({ host: "gpu-box-1", gpus: PROBED_METADATA.gpus });
  });
});

function exited(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, HOME: home, TRACKSIDE_API_KEY: "" } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, stdout, stderr })));
}

describe.skipIf(!existsSync(CLI))("the built trackside logs", () => {
  it("prints a finished run's lines and exits 0; exits 1 with the code when the server is down", async () => {
    const { url, path } = await serverWithRun([consoleLines(1, ["hello", "world"]), EXIT]);
    // The key lives in this test's HOME, where the spawned command finds it too.
    const ok = await exited(["logs", path, "--follow", "--base-url", url]);
    expect(ok).toMatchObject({ code: 0, stdout: "hello\nworld\n", stderr: "" });

    const down = await exited(["logs", path, "--base-url", "http://127.0.0.1:9"]);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain("TRK_ERR_SERVER_UNREACHABLE");
    expect(down.stdout).toBe("");
  });
});

/** Text a run's process chose, with what a terminal would act on: a title, a clear screen, C1, bidi. */
const EVIL = {
  name: "evil\x1b]0;pwned\x07\x1b[2J\x1b[Hname",
  tags: ["t\x1b[31mred", "rtl\u202eabc"],
  notes: "line one\nline\ttwo\x1b[2J\u009b2Jc1\x7fdel",
  lines: ["\x1b[32mgreen\x1b[0m", "bar\r50%", "\u2066isolated\u2069\x1bc"],
};
/** What must never reach a terminal from stored text: C0 but newline and tab, DEL, C1, bidi controls. */
const TERMINAL_CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe.skipIf(!existsSync(CLI))("the built trackside with stored text that holds terminal control codes", () => {
  it("runs list, runs show and logs print them as visible escapes; --json and logs --raw keep the exact text", async () => {
    const { url, path } = await serverWithRun([
      { k: "update", seq: 1, name: EVIL.name, tags: EVIL.tags, notes: EVIL.notes },
      consoleLines(2, EVIL.lines),
      { ...EXIT, error: "Error: boom\x1b[2J\n    at main" },
    ]);
    const project = path.split("/").slice(0, 2).join("/");
    const run = async (args: string[]) => {
      const r = await exited([...args, "--base-url", url]);
      expect(r, args.join(" ")).toMatchObject({ code: 0, stderr: "" });
      return r.stdout;
    };

    const list = await run(["runs", "list", project]);
    expect(list).not.toMatch(TERMINAL_CONTROLS);
    expect(list).toContain("evil\\x1b]0;pwned\\x07\\x1b[2J\\x1b[Hname");
    expect(list).toContain("t\\x1b[31mred,rtl\\u202eabc");
    expect(list.trimEnd().split("\n")).toHaveLength(2); // one header, one row: the table holds

    const show = await run(["runs", "show", path]);
    expect(show).not.toMatch(TERMINAL_CONTROLS);
    expect(show).toContain("evil\\x1b]0;pwned\\x07\\x1b[2J\\x1b[Hname");
    expect(show).toContain("line one\nline\ttwo\\x1b[2J\\x9b2Jc1\\x7fdel"); // notes keep their lines
    expect(show).toContain("Error: boom\\x1b[2J\n    at main");

    const logs = await run(["logs", path]);
    expect(logs).toBe("\\x1b[32mgreen\\x1b[0m\nbar\\x0d50%\n\\u2066isolated\\u2069\\x1bc\n");
    expect(await run(["logs", path, "--raw"])).toBe(EVIL.lines.join("\n") + "\n");

    for (const json of [await run(["runs", "show", path, "--json"]), await run(["runs", "list", project, "--json"])]) {
      expect(json).not.toMatch(TERMINAL_CONTROLS); // JSON escapes them ...
      const view = (JSON.parse(json) as { runs?: RunView[] }).runs?.[0] ?? (JSON.parse(json) as RunView);
      expect(view.name).toBe(EVIL.name); // ... and gives the exact text back
      expect(view.tags).toEqual(EVIL.tags);
    }
    expect((JSON.parse(await run(["runs", "show", path, "--json"])) as RunView).notes).toBe(EVIL.notes);
  });
});
