/**
 * `trackside runs` and `trackside server` against a real server. The commands are driven in
 * process through commander; when the built CLI exists (npm test builds it first), the same is
 * checked end to end by spawning `node dist/src/cli/main.js`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { registerRunsCommands } from "../../src/cli/runs-command.js";
import { runCliInProcess } from "../helpers/in-process-cli.js";
import type { RunView } from "../../src/protocol/api.js";
import { readCredential } from "../../src/protocol/local-config.js";
import { startServer, type RunningServer } from "../../src/server/index.js";
import { rows, runInfo, T0 } from "./helpers.js";

const CLI = fileURLToPath(new URL("../../dist/src/cli/main.js", import.meta.url));

let home: string;
let savedHome: string | undefined;
let server: RunningServer | null = null;
const children: ChildProcess[] = [];

beforeEach(() => {
  savedHome = process.env.HOME;
  home = mkdtempSync(join(tmpdir(), "trackside-cli-"));
  process.env.HOME = home;
});
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await server?.close();
  server = null;
  process.env.HOME = savedHome;
  rmSync(home, { recursive: true, force: true });
});

/** A server with one finished run of the local user; returns its path. */
async function serverWithRun(): Promise<{ url: string; path: string }> {
  server = await startServer({ port: 0, dataDir: join(home, "server") });
  const { apiKey, user } = readCredential(server.url)!;
  const res = await fetch(`${server.url}/api/v1/runs/${user}/mnist/cli00001/records`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify([
      { k: "run", seq: 0, run: runInfo("cli00001", { entity: user, tags: ["baseline"] }) },
      { k: "history", seq: 1, rows: rows(0, 4) },
      { k: "exit", seq: 5, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: T0 + 65_000 },
    ]),
  });
  expect(res.status).toBe(200);
  return { url: server.url, path: `${user}/mnist/cli00001` };
}

/** Runs `trackside <args>` in process; what the command printed. */
const runCli = (args: string[]): Promise<string> => runCliInProcess([registerRunsCommands], args);

const RUN_VIEW_FIELDS = ["id", "name", "entity", "project", "path", "state", "exitCode", "notes", "tags", "privacy", "author", "jobType", "group", "createdAt", "finishedAt", "durationSeconds", "config", "summary", "metadata", "historySteps"];

describe("trackside runs (in process)", () => {
  it("runs show --json prints exactly one JSON object, the run's RunView", async () => {
    const { url, path } = await serverWithRun();
    const out = await runCli(["runs", "show", path, "--json", "--base-url", url]);
    const run = JSON.parse(out) as RunView;
    for (const field of RUN_VIEW_FIELDS) expect(run, field).toHaveProperty(field);
    expect(run).toMatchObject({ path, state: "finished", exitCode: 0, historySteps: 4, durationSeconds: 65, tags: ["baseline"] });
  });

  it("runs show says how many records the server refused and why, and the unknown kinds it keeps", async () => {
    const { url, path } = await serverWithRun();
    const { apiKey } = readCredential(url)!;
    const res = await fetch(`${url}/api/v1/runs/${path}/records`, {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body: JSON.stringify([
        { k: "refused", seq: 0, at: T0 + 1, records: 12, bytes: 1200, error: "TRK_ERR_TOO_LARGE: too big" },
        { k: "video", seq: 0, at: T0 + 2, path: "images/0.png" },
      ]),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const out = await runCli(["runs", "show", path, "--base-url", url]);
    expect(out).toMatch(/^Refused: +12 records were refused by the server: TRK_ERR_TOO_LARGE: too big$/m);
    expect(out).toMatch(/^Unknown kinds: +video: 1$/m);
    const run = JSON.parse(await runCli(["runs", "show", path, "--json", "--base-url", url])) as RunView;
    expect(run.refused).toMatchObject({ records: 12, reports: 1 });
    expect(run.unknownRecords).toEqual([{ kind: "video", count: 1 }]);
  });

  it("runs list prints a table with id, name, state, created, duration and tags", async () => {
    const { url, path } = await serverWithRun();
    const out = await runCli(["runs", "list", path.split("/").slice(0, 2).join("/"), "--base-url", url]);
    const [header, line] = out.trimEnd().split("\n");
    expect(header.split(/\s+/)).toEqual(["ID", "NAME", "STATE", "CREATED", "DURATION", "TAGS"]);
    expect(line).toContain("cli00001");
    expect(line).toContain("likely-lion-9");
    expect(line).toContain("finished");
    expect(line).toContain("2024-05-01 12:00:00 UTC");
    expect(line).toContain("1m 5s");
    expect(line).toContain("baseline");
  });

  it("throws coded errors: an unreachable server, a bad path, a missing run", async () => {
    const { url, path } = await serverWithRun();
    const closed = server!.url;
    await expect(runCli(["runs", "show", `${path}x`, "--base-url", url])).rejects.toMatchObject({ code: "TRK_ERR_NOT_FOUND" });
    await expect(runCli(["runs", "show", "only/two", "--base-url", url])).rejects.toMatchObject({ code: "TRK_ERR_INVALID_OPTION" });
    await server!.close();
    await expect(runCli(["runs", "show", path, "--base-url", closed])).rejects.toMatchObject({ code: "TRK_ERR_SERVER_UNREACHABLE" });
  });
});

/** Resolves with the child's stdout once it matches, rejecting with all output on exit or deadline. */
function waitForOutput(child: ChildProcess, pattern: RegExp, deadlineMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${deadlineMs} ms; output:\n${seen}`)), deadlineMs);
    const onData = (d: Buffer) => {
      seen += d.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolve(seen);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code}) before ${pattern}; output:\n${seen}`));
    });
  });
}

function exited(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, stdout, stderr })));
}

const cli = (args: string[]) => {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, HOME: home, TRACKSIDE_API_KEY: "" } });
  children.push(child);
  return child;
};

describe.skipIf(!existsSync(CLI))("the built trackside command", () => {
  it("trackside server prints where it listens, serves runs show --json, and exits 0 on SIGTERM", async () => {
    const srv = cli(["server", "--port", "0", "--data-dir", join(home, "srv")]);
    const line = await waitForOutput(srv, /listening on (http:\/\/\S+) \(data: .*\)\n/);
    const url = /listening on (http:\/\/\S+)/.exec(line)![1];
    expect(line).toBe(`trackside server listening on ${url} (data: ${join(home, "srv")})\n`);

    const { apiKey, user } = readCredential(url)!;
    const up = await fetch(`${url}/api/v1/runs/${user}/p/spawn001/records`, {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body: JSON.stringify([{ k: "run", seq: 0, run: runInfo("spawn001", { entity: user, project: "p" }) }]),
    });
    expect(up.status).toBe(200);
    const show = await exited(cli(["runs", "show", `${user}/p/spawn001`, "--json", "--base-url", url]));
    expect(show.code).toBe(0);
    expect(JSON.parse(show.stdout)).toMatchObject({ id: "spawn001", state: "running" });

    const done = exited(srv);
    srv.kill("SIGTERM");
    expect((await done).code).toBe(0);
  });

  it("trackside server refuses to start over a corrupt credentials file, leaving it byte for byte, in one coded line", async () => {
    const file = join(home, ".trackside", "credentials");
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const text = '{"https://team.example.com": {"apiKey": "trk_team", "user": "alice"},\n'; // cut short
    writeFileSync(file, text, { mode: 0o600 });
    const srv = cli(["server", "--port", "0", "--data-dir", join(home, "srv")]);
    const deadline = setTimeout(() => srv.kill("SIGKILL"), 15_000); // a server that started anyway fails below
    const res = await exited(srv);
    clearTimeout(deadline);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe("");
    expect(res.stderr.startsWith(`trackside: TRK_ERR_CORRUPT_FILE: Cannot read ${file}: it is not valid JSON`)).toBe(true);
    expect(res.stderr).toMatch(/It was left as it is/);
    expect(res.stderr.trim().split("\n")).toHaveLength(1); // no stack trace
    expect(readFileSync(file, "utf8")).toBe(text);
  });

  it("prints the error code on stderr and exits 1 when the server is down", async () => {
    const res = await exited(cli(["runs", "list", "alice/mnist", "--base-url", "http://127.0.0.1:9"]));
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("TRK_ERR_SERVER_UNREACHABLE");
    expect(res.stdout).toBe("");
  });
});
