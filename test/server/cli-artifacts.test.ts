/**
 * `trackside artifacts list|show|get` and the artifacts of `trackside runs show` against a real
 * server (port 0, SQLite, the filesystem blob store), with versions seeded through the HTTP
 * routes as the daemon uploads them. The commands are driven in process through commander; the
 * built CLI (when it exists: npm test builds it first) downloads a version end to end.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerArtifactsCommands } from "../../src/cli/artifacts-command.js";
import { registerRunsCommands } from "../../src/cli/runs-command.js";
import { runCliInProcess } from "../helpers/in-process-cli.js";
import type { ArtifactVersionDetail } from "../../src/protocol/artifacts.js";
import { readCredential } from "../../src/protocol/local-config.js";
import { startServer, type RunningServer } from "../../src/server/index.js";
import { logVersion, sha256, useVersion } from "../helpers/artifact-seed.js";
import { runInfo, T0 } from "./helpers.js";

const CLI = fileURLToPath(new URL("../../dist/src/cli/main.js", import.meta.url));

const FILES = { "a.txt": "alpha\n", "sub/b.bin": "\u0000\u0001bravo!" };
const MODEL = { "weights.bin": "w".repeat(2048) };

let home: string;
let savedHome: string | undefined;
let server: RunningServer;
let url: string;
let apiKey: string;
let user: string;

/** Runs `trackside <args>` in process; what the command printed. */
const runCli = (args: string[]): Promise<string> => runCliInProcess([registerRunsCommands, registerArtifactsCommands], [...args, "--base-url", url]);

async function run(id: string) {
  const res = await fetch(`${url}/api/v1/runs/${user}/mnist/${id}/records`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify([
      { k: "run", seq: 0, run: runInfo(id, { entity: user, name: `run-${id}` }) },
      { k: "exit", seq: 1, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: T0 + 1000 },
    ]),
  });
  expect(res.status, await res.clone().text()).toBe(200);
}

beforeAll(async () => {
  savedHome = process.env.HOME;
  home = mkdtempSync(join(tmpdir(), "trackside-cli-artifacts-"));
  process.env.HOME = home;
  server = await startServer({ port: 0, dataDir: join(home, "server") });
  url = server.url;
  ({ apiKey, user } = readCredential(url)!);
  await run("maker001");
  await run("user0001");
  await logVersion(url, apiKey, { entity: user, project: "mnist", runId: "maker001" }, { name: "dataset", type: "dataset", files: FILES, description: "two files", metadata: { rows: 2 } }, ["best"]);
  await logVersion(url, apiKey, { entity: user, project: "mnist", runId: "maker001" }, { name: "model", type: "model", files: MODEL });
  await useVersion(url, apiKey, { entity: user, project: "mnist", runId: "user0001" }, { entity: user, project: "mnist", name: "dataset", version: 0 });
});

afterAll(async () => {
  await server?.close();
  process.env.HOME = savedHome;
  rmSync(home, { recursive: true, force: true });
});

const size = (files: Record<string, string>) => Object.values(files).reduce((n, f) => n + Buffer.byteLength(f), 0);

describe("trackside runs show", () => {
  it("--json lists the run's artifactOutputs and artifactInputs as {name, version, type, aliases, digest, size}", async () => {
    const maker = JSON.parse(await runCli(["runs", "show", `${user}/mnist/maker001`, "--json"])) as Record<string, unknown>;
    const dataset = JSON.parse(await runCli(["artifacts", "show", `${user}/mnist/dataset`, "--json"])) as ArtifactVersionDetail;
    expect(maker.artifactOutputs).toEqual([
      { name: "dataset", version: "v0", type: "dataset", aliases: ["best", "latest"], digest: dataset.digest, size: size(FILES) },
      { name: "model", version: "v0", type: "model", aliases: ["latest"], digest: expect.stringMatching(/^[0-9a-f]{64}$/), size: 2048 },
    ]);
    expect(maker.artifactInputs).toEqual([]);
    const consumer = JSON.parse(await runCli(["runs", "show", `${user}/mnist/user0001`, "--json"])) as Record<string, unknown>;
    expect(consumer.artifactOutputs).toEqual([]);
    expect(consumer.artifactInputs).toEqual([{ name: "dataset", version: "v0", type: "dataset", aliases: ["best", "latest"], digest: dataset.digest, size: size(FILES) }]);
  });

  it("lists them in its text too", async () => {
    const out = await runCli(["runs", "show", `${user}/mnist/user0001`]);
    expect(out).toMatch(new RegExp(`^Artifacts in: +${user}/mnist/dataset:v0 \\(dataset, best, latest; 14 B\\)$`, "m"));
  });
});

describe("trackside artifacts", () => {
  it("list prints the project's artifacts with their latest version; --type keeps one type", async () => {
    const [header, ...lines] = (await runCli(["artifacts", "list", `${user}/mnist`])).trimEnd().split("\n");
    expect(header.split(/\s+/)).toEqual(["NAME", "TYPE", "VERSIONS", "LATEST", "ALIASES", "SIZE", "FILES"]);
    expect(lines.map((l) => l.split(/\s+/)).sort()).toEqual([
      ["dataset", "dataset", "1", "v0", "best,latest", "14", "B", "2"],
      ["model", "model", "1", "v0", "latest", "2.00", "KiB", "1"],
    ]);
    const models = (await runCli(["artifacts", "list", `${user}/mnist`, "--type", "model"])).trimEnd().split("\n");
    expect(models.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(["model"]);
    expect(await runCli(["artifacts", "list", `${user}/mnist`, "--type", "table"])).toBe(`No artifacts of type table in ${user}/mnist.\n`);
  });

  it("show prints a version by alias: its files with sizes and digests, metadata, and the runs that logged and used it", async () => {
    const out = await runCli(["artifacts", "show", `${user}/mnist/dataset:best`]);
    expect(out).toMatch(new RegExp(`^Artifact: +${user}/mnist/dataset:v0$`, "m"));
    expect(out).toMatch(/^Aliases: +best, latest$/m);
    expect(out).toMatch(/^Description: +two files$/m);
    expect(out).toMatch(new RegExp(`^Logged by: +${user}/mnist/maker001 \\(run-maker001, finished\\)$`, "m"));
    expect(out).toMatch(new RegExp(`^Used by: +${user}/mnist/user0001 \\(run-user0001, finished\\)$`, "m"));
    expect(out).toMatch(new RegExp(`^  a\\.txt +6 B +${sha256(FILES["a.txt"])}$`, "m"));
    expect(out).toMatch(new RegExp(`^  sub/b\\.bin +8 B +${sha256(FILES["sub/b.bin"])}$`, "m"));
    expect(out).toMatch(/^Metadata:\n {2}\{\n {4}"rows": 2\n {2}\}$/m);
  });

  it("get downloads every file byte for byte, into ./artifacts/NAME-vN by default or --dir", async () => {
    const dir = join(home, "got");
    const out = await runCli(["artifacts", "get", `${user}/mnist/dataset:v0`, "--dir", dir]);
    expect(out).toBe(`Downloaded ${user}/mnist/dataset:v0 (2 files, 14 B, sha256 checked) to ${dir}\n`);
    for (const [path, content] of Object.entries(FILES)) expect(readFileSync(join(dir, path), "utf8"), path).toBe(content);
    const cwd = process.cwd();
    process.chdir(home);
    try {
      await runCli(["artifacts", "get", `${user}/mnist/model`]);
    } finally {
      process.chdir(cwd);
    }
    expect(readFileSync(join(home, "artifacts", "model-v0", "weights.bin"), "utf8")).toBe(MODEL["weights.bin"]);
  });

  it("get refuses a file whose bytes on the server do not match its digest, and keeps nothing of it", async () => {
    // Corrupt the stored blob of a.txt (the filesystem store: <dataDir>/artifacts/blobs/<entity>/<project>/<2>/<digest>).
    const digest = sha256(FILES["a.txt"]);
    const blob = join(home, "server", "artifacts", "blobs", user, "mnist", digest.slice(0, 2), digest);
    expect(existsSync(blob), blob).toBe(true);
    const kept = readFileSync(blob);
    writeFileSync(blob, "ALPHA\n");
    const dir = join(home, "bad");
    try {
      await expect(runCli(["artifacts", "get", `${user}/mnist/dataset`, "--dir", dir])).rejects.toMatchObject({ code: "TRK_ERR_DIGEST_MISMATCH" });
    } finally {
      writeFileSync(blob, kept);
    }
    expect(existsSync(join(dir, "a.txt"))).toBe(false);
    // No temporary file of it left behind either.
    expect(existsSync(dir) ? readdirSync(dir).filter((f) => f !== "sub") : []).toEqual([]);
  });

  it("throws coded errors: a reference without its project, a missing version", async () => {
    await expect(runCli(["artifacts", "show", "dataset:v0"])).rejects.toMatchObject({ code: "TRK_ERR_INVALID_OPTION" });
    await expect(runCli(["artifacts", "show", `${user}/mnist/da#ta`])).rejects.toMatchObject({ code: "TRK_ERR_INVALID_ARTIFACT" });
    await expect(runCli(["artifacts", "show", `${user}/mnist/dataset:v7`])).rejects.toMatchObject({ code: "TRK_ERR_NOT_FOUND" });
    await expect(runCli(["artifacts", "get", `${user}/mnist/nothing`, "--dir", join(home, "none")])).rejects.toMatchObject({ code: "TRK_ERR_NOT_FOUND" });
    expect(existsSync(join(home, "none"))).toBe(false);
  });
});

describe.skipIf(!existsSync(CLI))("the built trackside command", () => {
  it("artifacts get downloads a version and exits 0", async () => {
    const dir = join(home, "spawned");
    const child = spawn(process.execPath, [CLI, "artifacts", "get", `${user}/mnist/dataset:best`, "--dir", dir, "--base-url", url], { env: { ...process.env, HOME: home } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    expect(stdout).toBe(`Downloaded ${user}/mnist/dataset:v0 (2 files, 14 B, sha256 checked) to ${dir}\n`);
    expect(readFileSync(join(dir, "sub", "b.bin"), "utf8")).toBe(FILES["sub/b.bin"]);
  });
});
