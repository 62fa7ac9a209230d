/**
 * The per-user files of protocol/local-config.ts, on the real filesystem: the credentials file
 * (only a missing file is empty; anything unreadable is TRK_ERR_CORRUPT_FILE and is never
 * rewritten) and the socket directory (chosen out of other users' reach, checked without
 * following links, refused when another user owns it).
 */
import { chownSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ROOT } from "../helpers/processes.js";
import { credentialsPath, readCredential, removeCredential, socketDir, socketDirPath, writeCredential } from "../../src/protocol/local-config.js";

let home: string;
let env: NodeJS.ProcessEnv;
const savedHome = process.env.HOME;
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), "trk-lc-"));
  env = { HOME: home, TMPDIR: process.env.TMPDIR };
  process.env.HOME = home; // whatever a function reads by default is this test's too, never the real home
});
afterEach(() => {
  process.env.HOME = savedHome;
});

function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error("expected a throw");
}

const A = "http://127.0.0.1:8421";
const B = "https://tracking.example.com";

describe("the credentials file", () => {
  it("is empty when missing; a write creates it 0600 in a 0700 directory, with no temporary file left", () => {
    expect(readCredential(A, env)).toBeNull();
    const file = writeCredential(A, { apiKey: "trk_a", user: "alice" }, env);
    expect(file).toBe(credentialsPath(env));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, ".trackside")).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(home, ".trackside"))).toEqual(["credentials"]);
    expect(readCredential(`${A}/`, env)).toEqual({ apiKey: "trk_a", user: "alice" });
  });

  it("keeps every other server's key when one is written", () => {
    writeCredential(A, { apiKey: "trk_a", user: "alice" }, env);
    writeCredential(B, { apiKey: "trk_b", user: "alice2" }, env);
    writeCredential(A, { apiKey: "trk_a2", user: "alice" }, env);
    expect(readCredential(A, env)?.apiKey).toBe("trk_a2");
    expect(readCredential(B, env)?.apiKey).toBe("trk_b");
  });

  it("removes one server's key (logout), keeping the others, 0600 and with no temporary file left; false when there was none", () => {
    writeCredential(A, { apiKey: "trk_a", user: "alice" }, env);
    writeCredential(B, { apiKey: "trk_b", user: "bob" }, env);
    expect(removeCredential(`${A}/`, env)).toBe(true);
    expect(readCredential(A, env)).toBeNull();
    expect(readCredential(B, env)).toEqual({ apiKey: "trk_b", user: "bob" });
    expect(statSync(credentialsPath(env)).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(home, ".trackside"))).toEqual(["credentials"]);
    const before = readFileSync(credentialsPath(env), "utf8");
    expect(removeCredential(A, env)).toBe(false);
    expect(readFileSync(credentialsPath(env), "utf8")).toBe(before);
  });

  it("keeps every entry when several processes write at once (two servers started together, a login beside them)", async () => {
    // Each process stores 15 servers' keys; without a lock, each write puts back what its
    // process read, and another's entry written in between is lost.
    const writers = 6;
    const each = 15;
    const module = join(ROOT, "dist/src/protocol/local-config.js");
    const script = `const { writeCredential } = await import(${JSON.stringify(module)});
      const w = Number(process.argv[1]);
      for (let i = 0; i < ${each}; i++) writeCredential("http://127.0.0.1:" + (20000 + w * 100 + i), { apiKey: "trk_" + w + "_" + i, user: "u" });`;
    const exits = Array.from({ length: writers }, (_, w) => {
      const child = spawn(process.execPath, ["--input-type=module", "-e", script, String(w)], { env: { ...env, PATH: process.env.PATH }, stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d));
      return new Promise<string>((resolve) => child.on("close", (code) => resolve(`${code} ${stderr}`)));
    });
    expect(await Promise.all(exits)).toEqual(Array(writers).fill("0 "));
    const stored = JSON.parse(readFileSync(credentialsPath(env), "utf8")) as Record<string, unknown>;
    expect(Object.keys(stored)).toHaveLength(writers * each);
    expect(readdirSync(join(home, ".trackside")).sort()).toEqual(["credentials"]);
  });

  it("removing from a missing file is false and creates nothing", () => {
    expect(removeCredential(A, env)).toBe(false);
    expect(readdirSync(home)).toEqual([]);
  });

  const corrupt: Array<[string, string, RegExp]> = [
    ["bad JSON", `{"${B}": {"apiKey": "trk_b", "user": "bob"},`, /not valid JSON/],
    ["an array", `[{"apiKey": "trk_b"}]`, /holds an array, not an object/],
    ["null", "null", /holds null/],
    ["a number", "42", /holds a number/],
  ];
  for (const [what, text, why] of corrupt) {
    it(`refuses a file holding ${what} with TRK_ERR_CORRUPT_FILE naming it, and never rewrites it`, () => {
      const file = credentialsPath(env);
      mkdirSync(join(home, ".trackside"), { mode: 0o700 });
      writeFileSync(file, text, { mode: 0o600 });
      const read = thrown(() => readCredential(B, env));
      expect(read.code).toBe("TRK_ERR_CORRUPT_FILE");
      expect(read.message).toContain(file);
      expect(read.message).toMatch(why);
      const write = thrown(() => writeCredential(A, { apiKey: "trk_a", user: "alice" }, env));
      expect(write.code).toBe("TRK_ERR_CORRUPT_FILE");
      expect(thrown(() => removeCredential(B, env)).code).toBe("TRK_ERR_CORRUPT_FILE");
      expect(readFileSync(file, "utf8")).toBe(text); // byte for byte
      expect(readdirSync(join(home, ".trackside"))).toEqual(["credentials"]);
    });
  }

  it("refuses a directory where the file should be", () => {
    mkdirSync(credentialsPath(env), { recursive: true });
    const err = thrown(() => readCredential(A, env));
    expect(err.code).toBe("TRK_ERR_CORRUPT_FILE");
    expect(err.message).toMatch(/is a directory/);
    expect(thrown(() => writeCredential(A, { apiKey: "trk_a", user: "alice" }, env)).code).toBe("TRK_ERR_CORRUPT_FILE");
  });

  // root reads any file whatever its mode: the case exists only for other users.
  it.skipIf(process.getuid?.() === 0)("refuses a file it may not read (EACCES)", () => {
    writeCredential(A, { apiKey: "trk_a", user: "alice" }, env);
    chmodSync(credentialsPath(env), 0o000);
    const err = thrown(() => readCredential(A, env));
    expect(err.code).toBe("TRK_ERR_CORRUPT_FILE");
    expect(err.message).toMatch(/EACCES/);
  });
});

describe("the socket directory", () => {
  it("prefers $XDG_RUNTIME_DIR/trackside, created 0700", () => {
    const runtime = mkdtempSync(join(tmpdir(), "trk-xdg-"));
    const dir = socketDir({ ...env, XDG_RUNTIME_DIR: runtime });
    expect(dir).toBe(join(runtime, "trackside"));
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it("is ~/.trackside/run without XDG_RUNTIME_DIR, and TRACKSIDE_SOCKET_DIR overrides both", () => {
    expect(socketDir(env)).toBe(join(home, ".trackside", "run"));
    expect(statSync(join(home, ".trackside", "run")).mode & 0o777).toBe(0o700);
    const own = join(home, "mine");
    expect(socketDir({ ...env, XDG_RUNTIME_DIR: home, TRACKSIDE_SOCKET_DIR: own })).toBe(own);
  });

  it("passes over a home too long for a socket address for $TMPDIR/trackside-<uid>", () => {
    const longHome = join(home, "h".repeat(90));
    expect(socketDirPath({ HOME: longHome, TMPDIR: home })).toBe(join(home, `trackside-${process.getuid?.() ?? 0}`));
    expect(socketDirPath({ HOME: longHome, TMPDIR: home, XDG_RUNTIME_DIR: "relative/run" })).toBe(join(home, `trackside-${process.getuid?.() ?? 0}`));
  });

  it("refuses a symbolic link planted at the chosen path, without following it", () => {
    const runtime = mkdtempSync(join(tmpdir(), "trk-xdg-"));
    const target = mkdtempSync(join(tmpdir(), "trk-target-"));
    chmodSync(target, 0o755);
    symlinkSync(target, join(runtime, "trackside"));
    const err = thrown(() => socketDir({ ...env, XDG_RUNTIME_DIR: runtime }));
    expect(err.code).toBe("TRK_ERR_UNSAFE_DIR");
    expect(err.message).toMatch(/symbolic link/);
    expect(err.message).toContain("TRACKSIDE_SOCKET_DIR");
    expect(statSync(target).mode & 0o777).toBe(0o755); // not tightened through the link
    // The same through the override: a link is refused wherever it is met.
    expect(thrown(() => socketDir({ ...env, TRACKSIDE_SOCKET_DIR: join(runtime, "trackside") })).code).toBe("TRK_ERR_UNSAFE_DIR");
  });

  it("refuses a directory that another user created first, naming the fix", () => {
    const tmp = mkdtempSync(join(tmpdir(), "trk-shared-"));
    const squatted = join(tmp, `trackside-${process.getuid?.() ?? 0}`);
    mkdirSync(squatted);
    chmodSync(squatted, 0o777);
    chownSync(squatted, 65534, 65534); // nobody (the tests run as root)
    const err = thrown(() => socketDir({ HOME: join(home, "h".repeat(90)), TMPDIR: tmp }));
    expect(err.code).toBe("TRK_ERR_UNSAFE_DIR");
    expect(err.message).toContain(squatted);
    expect(err.message).toMatch(/belongs to uid 65534/);
    expect(err.message).toMatch(/Set TRACKSIDE_SOCKET_DIR to a directory that only you own/);
    expect(statSync(squatted).mode & 0o777).toBe(0o777); // someone else's: left alone
  });

  it("tightens a directory of ours that others may open, and refuses a file", () => {
    const loose = join(home, "loose");
    mkdirSync(loose, { mode: 0o755 });
    chmodSync(loose, 0o755);
    socketDir({ ...env, TRACKSIDE_SOCKET_DIR: loose });
    expect(statSync(loose).mode & 0o777).toBe(0o700);
    const file = join(home, "file");
    writeFileSync(file, "");
    expect(thrown(() => socketDir({ ...env, TRACKSIDE_SOCKET_DIR: file })).message).toMatch(/not a directory/);
  });
});
