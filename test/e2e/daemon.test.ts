/**
 * The daemon as an operator meets it: standalone on ipc or tcp (with a token), serving several
 * clients at once, and shrugging off malformed frames.
 */
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Dealer } from "zeromq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decode, encode } from "../../src/protocol/index.js";
import { CLI, ROOT, makeEnv, runFixture, showRun, start, startServer, type Running, type TestEnv, type TestServer } from "../helpers/processes.js";

const DAEMON_MAIN = join(ROOT, "dist/daemon/main.cjs");

let server: TestServer;
let t: TestEnv;
const daemons: Running[] = [];

beforeAll(async () => {
  t = makeEnv();
  server = await startServer(t.env);
  t.env.TRACKSIDE_BASE_URL = server.url;
});

afterAll(async () => {
  for (const d of daemons) {
    d.child.kill("SIGTERM");
    await d.exited;
  }
  await server?.stop();
});

async function standalone(listen: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<{ address: string; exported: string; daemon: Running }> {
  const daemon = start([CLI, "daemon", "--listen", listen, ...extra], { ...t.env, ...env });
  daemons.push(daemon);
  const m = await daemon.waitFor(/listening on (\S+)\nuse it with: export TRACKSIDE_DAEMON='([^']+)'/);
  return { address: m[1], exported: m[2], daemon };
}

function lastJson(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout.trim().split("\n").pop()!) as Record<string, unknown>;
}

describe("standalone daemon", () => {
  it("refuses to bind over a daemon that is listening at the same ipc path, which keeps serving", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "trk-twice-")), "sockets");
    const { exported } = await standalone(`ipc://${join(dir, "d.sock")}`);
    const second = start([CLI, "daemon", "--listen", `ipc://${join(dir, "d.sock")}`], t.env);
    const done = await second.exited;
    expect(done.code).not.toBe(0);
    expect(done.stderr.trim()).toMatch(/^trackside: TRK_ERR_DAEMON_RUNNING: Another trackside daemon already listens at ipc:\/\/\S+d\.sock\b[^\n]*$/);
    // As a spawned daemon that lost the race to start: exit code 3, one line, nothing thrown at exit.
    const spawned = start([DAEMON_MAIN, "--listen", `ipc://${join(dir, "d.sock")}`, "--spawned", "--log-file", join(dir, "lost.log")], t.env);
    const lost = await spawned.exited;
    expect(lost.code).toBe(3);
    expect(lost.stderr.trim().split("\n")).toEqual([expect.stringContaining("TRK_ERR_DAEMON_RUNNING") as string]);
    const r = await runFixture("standalone-client", { ...t.env, TRACKSIDE_DAEMON: exported });
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ state: "finished" });
  });

  it("on ipc://, in a 0700 directory, serves several client processes at once", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), "trk-shared-")), "sockets");
    const { exported } = await standalone(`ipc://${join(dir, "shared.sock")}`);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const env = { ...t.env, TRACKSIDE_DAEMON: exported };
    const results = await Promise.all([1, 2, 3].map(() => runFixture("standalone-client", env)));
    const paths = new Set<string>();
    for (const r of results) {
      const out = lastJson(r.stdout);
      expect(out, r.stderr).toMatchObject({ ok: true, state: "finished", synced: true });
      paths.add(out.path as string);
    }
    expect(paths.size).toBe(3);
    for (const path of paths) expect(await showRun(path, t.env)).toMatchObject({ state: "finished", historySteps: 20 });
  });

  it("on tcp://127.0.0.1 requires the token it prints", async () => {
    const { exported } = await standalone("tcp://127.0.0.1:*");
    expect(exported).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+#.{20,}$/);
    const good = await runFixture("standalone-client", { ...t.env, TRACKSIDE_DAEMON: exported });
    expect(lastJson(good.stdout)).toMatchObject({ ok: true, state: "finished" });
    const bad = await runFixture("standalone-client", { ...t.env, TRACKSIDE_DAEMON: exported.replace(/#.*/, "#wrong-token") });
    expect(lastJson(bad.stdout)).toMatchObject({ ok: false, code: "TRK_ERR_BAD_TOKEN" });
  });

  it("takes its token from TRACKSIDE_DAEMON_TOKEN or a file only its user can read, never from the command line", async () => {
    // From the environment: the token is not in the daemon's command line (/proc/PID/cmdline).
    const envToken = "token-from-the-environment-0123";
    const fromEnv = await standalone("tcp://127.0.0.1:*", [], { TRACKSIDE_DAEMON_TOKEN: envToken });
    expect(fromEnv.exported.endsWith(`#${envToken}`)).toBe(true);
    expect(readFileSync(`/proc/${fromEnv.daemon.child.pid}/cmdline`, "utf8")).not.toContain(envToken);
    const good = await runFixture("standalone-client", { ...t.env, TRACKSIDE_DAEMON: fromEnv.exported });
    expect(lastJson(good.stdout)).toMatchObject({ ok: true, state: "finished" });
    // A token of the right length, one character off, is refused like any other.
    const near = await runFixture("standalone-client", { ...t.env, TRACKSIDE_DAEMON: fromEnv.exported.replace(/.$/, "4") });
    expect(lastJson(near.stdout)).toMatchObject({ ok: false, code: "TRK_ERR_BAD_TOKEN" });

    // From a file: refused while others may read it, taken once it is 0600.
    const file = join(mkdtempSync(join(tmpdir(), "trk-token-")), "token");
    writeFileSync(file, "token-from-a-file-0123456789\n", { mode: 0o644 });
    chmodSync(file, 0o644);
    const open = await start([CLI, "daemon", "--listen", "tcp://127.0.0.1:*", "--token-file", file], t.env).exited;
    expect(open.code).toBe(1);
    expect(open.stderr).toMatch(/TRK_ERR_INVALID_OPTION: Invalid option --token-file=.*its mode is 644/);
    chmodSync(file, 0o600);
    const fromFile = await standalone("tcp://127.0.0.1:*", ["--token-file", file]);
    expect(fromFile.exported.endsWith("#token-from-a-file-0123456789")).toBe(true);

    // On the command line: refused, with where to put it instead.
    const argv = await start([CLI, "daemon", "--listen", "tcp://127.0.0.1:*", "--token", "a-token-on-the-command-line"], t.env).exited;
    expect(argv.code).toBe(1);
    expect(argv.stderr).toMatch(/TRK_ERR_INVALID_OPTION: .*--token-file PATH or TRACKSIDE_DAEMON_TOKEN/);
  });

  it("answers malformed frames with TRK_ERR_BAD_FRAME and keeps serving everyone else", async () => {
    const { address, exported } = await standalone(`ipc://${join(mkdtempSync(join(tmpdir(), "trk-bad-")), "d", "x.sock")}`);
    const sock = new Dealer({ linger: 0, receiveTimeout: 5000 });
    sock.connect(address);
    const replies: Array<{ t: string; error?: { code: string } }> = [];
    for (const frames of [[Buffer.from("not msgpack at all \xff\xfe")], [encode({ t: "launch-missiles", id: 1 })], [encode({ t: "records", id: 2, runPath: "a/b/c", first: 1, last: 1 })], [encode([1, 2, 3])]]) {
      await sock.send(frames);
      const [reply] = await sock.receive();
      replies.push(decode(reply));
    }
    sock.close();
    expect(replies.map((r) => [r.t, r.error?.code])).toEqual(Array(4).fill(["error", "TRK_ERR_BAD_FRAME"]));
    const after = await runFixture("standalone-client", { ...t.env, TRACKSIDE_DAEMON: exported });
    expect(lastJson(after.stdout)).toMatchObject({ ok: true, state: "finished", synced: true });
  });

  it("refuses an address that is neither ipc nor tcp", async () => {
    const d = start([CLI, "daemon", "--listen", "udp://127.0.0.1:9"], t.env);
    const r = await d.exited;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("TRK_ERR_INVALID_OPTION");
  });
});

describe("spawned daemon", () => {
  it("fails init() with TRK_ERR_DAEMON_START naming its log when the daemon cannot start", async () => {
    // A socket path longer than a Unix socket address allows (108 bytes): the daemon's bind fails.
    const longDir = join(mkdtempSync(join(tmpdir(), "trk-long-")), "x".repeat(110));
    const env = makeEnv({ HOME: t.home, TRACKSIDE_BASE_URL: server.url, TRACKSIDE_SOCKET_DIR: longDir });
    const r = await runFixture("standalone-client", env.env);
    const out = lastJson(r.stdout);
    expect(out).toMatchObject({ ok: false, code: "TRK_ERR_DAEMON_START" });
    expect(String(out.message)).toMatch(/it exited with code 1\. Its output is in \S+\.log/);
  });

  it("says which directory it cannot use for sockets", async () => {
    const env = makeEnv({ HOME: t.home, TRACKSIDE_BASE_URL: server.url, TRACKSIDE_SOCKET_DIR: "/proc/version/sockets" });
    const out = lastJson((await runFixture("standalone-client", env.env)).stdout);
    expect(out).toMatchObject({ ok: false, code: "TRK_ERR_UNSAFE_DIR" });
    expect(String(out.message)).toContain("/proc/version/sockets");
  });
});
