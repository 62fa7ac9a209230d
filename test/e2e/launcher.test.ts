/**
 * bin/trackside, the `trackside` command as npm installs it: Node.js running the CLI in the same
 * process, with V8's --single-threaded-gc for `trackside server` on a machine of at most two
 * cores (TRACKSIDE_SINGLE_THREADED_GC). Linux: a process's command line is read from /proc.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CLI, makeEnv, ROOT, start, type Running } from "../helpers/processes.js";

const BIN = join(ROOT, "bin", "trackside");
const FLAG = "--single-threaded-gc";
const onLinux = process.platform === "linux";

/** The command linked as npm links it: node_modules/.bin/trackside -> ../trackside/bin/trackside, relative. */
function linkedCommand(): string {
  // The real path: a link is read from where it lies (macOS's /var is /private/var).
  const dir = mkdtempSync(join(realpathSync(tmpdir()), "trk-bin-"));
  const binDir = join(dir, "node_modules", ".bin");
  mkdirSync(binDir, { recursive: true });
  const link = join(binDir, "trackside");
  symlinkSync(relative(binDir, BIN), link);
  return link;
}

/**
 * Whether bin/trackside's auto adds the flag here, counted as it counts: nproc (without OpenMP's
 * variables; a newer nproc also obeys its cgroup's quota), capped by a cgroup v2 CPU quota at
 * /sys/fs/cgroup/cpu.max, rounded up.
 */
function smallMachine(): boolean {
  const env = { ...process.env };
  delete env.OMP_NUM_THREADS;
  delete env.OMP_THREAD_LIMIT;
  let cores = Number(execFileSync("nproc", { env, encoding: "utf8" }).trim());
  try {
    const [quota, period] = readFileSync("/sys/fs/cgroup/cpu.max", "utf8").trim().split(/\s+/);
    if (quota !== "max" && Number(period) > 0 && Number(quota) > 0) cores = Math.min(cores, Math.ceil(Number(quota) / Number(period)));
  } catch {
    // No cgroup v2 quota to read: no cap.
  }
  return cores >= 1 && cores <= 2;
}

/** A process's command line, its arguments in order. */
function commandLine(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter((a) => a !== "");
}

const running: Running[] = [];
afterAll(async () => {
  for (const r of running) if (r.child.exitCode === null) r.child.kill("SIGKILL");
});

describe("the trackside command (bin/trackside)", () => {
  const command = linkedCommand();

  it("runs the CLI through npm's link to it", async () => {
    const t = makeEnv();
    const r = await start(["--version"], t.env, { program: command }).exited;
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe((JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version);
  });

  it.runIf(onLinux)(
    "starts `trackside server` in its own process, with --single-threaded-gc where the machine has at most two cores (auto), or as TRACKSIDE_SINGLE_THREADED_GC says",
    async () => {
      // OpenMP's variable, common on training machines, must not make a big machine look small.
      const cases: Array<[string, boolean]> = [
        ["auto", smallMachine()],
        ["on", true],
        ["off", false],
      ];
      for (const [mode, flagged] of cases) {
        const t = makeEnv({ TRACKSIDE_SINGLE_THREADED_GC: mode, OMP_NUM_THREADS: "1" });
        const server = start(["server", "--port", "0", "--data-dir", join(t.home, "data")], t.env, { program: command });
        running.push(server);
        await server.waitFor(/listening on http:\/\/\S+/);
        // The process the command started is Node.js running the server (exec, not a child):
        // a signal to it, as a service manager sends, reaches the server.
        const args = commandLine(server.child.pid!);
        const main = args.findIndex((a) => a.endsWith("main.js"));
        expect(realpathSync(resolve(args[main]))).toBe(realpathSync(CLI));
        expect(args.slice(main + 1)).toEqual(["server", "--port", "0", "--data-dir", join(t.home, "data")]);
        expect(args.slice(0, main).includes(FLAG), `TRACKSIDE_SINGLE_THREADED_GC=${mode}: ${args.join(" ")}`).toBe(flagged);
        server.child.kill("SIGTERM");
        const ended = await server.exited;
        expect(ended, ended.stderr).toMatchObject({ code: 0, signal: null });
        // Its log (flushed once it has stopped) names Node.js's flags.
        const log = readFileSync(join(t.home, "data", "logs", "server.log"), "utf8");
        const line = JSON.parse(log.split("\n").find((l) => l.includes("trackside server listening"))!) as { nodeFlags: string[] };
        expect(line.nodeFlags.includes(FLAG)).toBe(flagged);
      }
    },
    60_000,
  );

  it("runs the CLI when Node.js runs the command itself (pm2, Yarn's runner), without the flag", async () => {
    const t = makeEnv();
    const r = await start([command, "--version"], t.env).exited;
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("says that TRACKSIDE_SINGLE_THREADED_GC=on does nothing where Node.js was started without the flag", async () => {
    const t = makeEnv({ TRACKSIDE_SINGLE_THREADED_GC: "on" });
    const server = start([CLI, "server", "--port", "0", "--data-dir", join(t.home, "data")], t.env);
    running.push(server);
    await server.waitFor(/TRACKSIDE_SINGLE_THREADED_GC=on has no effect here/);
    expect(server.stderr()).toContain("node --single-threaded-gc");
    server.child.kill("SIGTERM");
    expect((await server.exited).code).toBe(0);
  });

  it("refuses a TRACKSIDE_SINGLE_THREADED_GC other than auto, on or off, naming it", async () => {
    const t = makeEnv({ TRACKSIDE_SINGLE_THREADED_GC: "yes" });
    const r = await start(["server", "--port", "0", "--data-dir", join(t.home, "data")], t.env, { program: command }).exited;
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('TRK_ERR_INVALID_OPTION: Invalid option TRACKSIDE_SINGLE_THREADED_GC="yes"');
    expect(r.stderr).toContain("auto, on or off");
  });
});
