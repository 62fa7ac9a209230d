/**
 * Where init() puts the shared daemon's socket when nothing names a directory: in
 * $XDG_RUNTIME_DIR, out of other users' reach, and never behind a symbolic link that someone
 * planted at the chosen path (the run then fails with TRK_ERR_UNSAFE_DIR, nothing written
 * through the link).
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, statSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { daemonSockets, madeEnvs, makeEnv, runFixture, startServer, type TestServer } from "../helpers/processes.js";

let server: TestServer;
let home: string;

beforeAll(async () => {
  const base = makeEnv();
  home = base.home; // where the server wrote its key
  server = await startServer(base.env);
});
afterAll(async () => {
  await server?.stop();
});

/** An environment without TRACKSIDE_SOCKET_DIR, whose XDG_RUNTIME_DIR is a fresh private directory. */
function xdgEnv() {
  const t = makeEnv({ HOME: home, TRACKSIDE_BASE_URL: server.url });
  delete t.env.TRACKSIDE_SOCKET_DIR;
  t.env.XDG_RUNTIME_DIR = t.socketDir;
  // Cleanup (test/helpers/cleanup.ts) stops the daemons of the directory they really use.
  madeEnvs.push({ ...t, socketDir: join(t.socketDir, "trackside") });
  return t;
}

function lastJson(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout.trim().split("\n").pop() as string) as Record<string, unknown>;
}

describe("the socket directory of the shared daemon", () => {
  it("is $XDG_RUNTIME_DIR/trackside, mode 0700, when that is set", async () => {
    const t = xdgEnv();
    const out = lastJson((await runFixture("standalone-client", t.env)).stdout);
    expect(out).toMatchObject({ ok: true, state: "finished", synced: true });
    const dir = join(t.socketDir, "trackside");
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(daemonSockets(dir)).toHaveLength(1);
    expect(readdirSync(join(home, ".trackside"))).not.toContain("run");
  });

  it("refuses a symbolic link planted there: init() fails with TRK_ERR_UNSAFE_DIR and nothing lands behind the link", async () => {
    const t = xdgEnv();
    const target = mkdtempSync(join(tmpdir(), "trk-planted-"));
    chmodSync(target, 0o777);
    mkdirSync(t.socketDir, { recursive: true });
    symlinkSync(target, join(t.socketDir, "trackside"));
    const out = lastJson((await runFixture("standalone-client", t.env)).stdout);
    expect(out).toMatchObject({ ok: false, code: "TRK_ERR_UNSAFE_DIR" });
    expect(String(out.message)).toContain(join(t.socketDir, "trackside"));
    expect(String(out.message)).toMatch(/symbolic link/);
    expect(readdirSync(target)).toEqual([]);
    expect(statSync(target).mode & 0o777).toBe(0o777);
  });
});
