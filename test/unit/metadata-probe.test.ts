import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { probeMetadata } from "../../src/daemon/metadata-probe.js";
import { ROOT } from "../helpers/processes.js";

const program = (cwd: string) => ({ executable: process.execPath, args: [] as string[], cwd, pid: process.pid, host: hostname(), nodeVersion: process.version, os: process.platform, tracksideVersion: "test" });

describe("metadata probe", () => {
  it("gives runs that probe one directory at the same moment each the checkout's commit, from one shared git call", async () => {
    const head = execFileSync("git", ["rev-parse", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
    const metas = await Promise.all([1, 2, 3].map(() => probeMetadata(program(ROOT), {})));
    for (const m of metas) expect((m.git as { commit: string }).commit).toBe(head);
    // A directory that is no checkout probed at the same time gets no git facts of the other's.
    const [inRepo, outside] = await Promise.all([probeMetadata(program(ROOT), {}), probeMetadata(program("/"), {})]);
    expect((inRepo.git as { commit: string }).commit).toBe(head);
    expect(outside.git).toBeNull();
  });

  it("records the executable, the git branch, the origin remote and whether tracked files had uncommitted changes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "trackside-probe-git-"));
    try {
      const git = (...args: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: dir, encoding: "utf8" }).trim();
      git("init", "-q", "-b", "feature/probe");
      writeFileSync(join(dir, "train.js"), "1\n");
      git("add", "train.js");
      git("commit", "-q", "-m", "first");
      git("remote", "add", "origin", "git@example.com:alice/mnist.git");
      const clean = await probeMetadata(program(dir), {});
      expect(clean.program).toMatchObject({ executable: process.execPath });
      expect(clean.git).toEqual({ commit: git("rev-parse", "HEAD"), branch: "feature/probe", remote: "git@example.com:alice/mnist.git", dirty: false });
      writeFileSync(join(dir, "train.js"), "2\n");
      // A probe after the first one's answer asks git anew (only probes at the same moment share one).
      const dirty = await probeMetadata(program(dir), {});
      expect(dirty.git).toMatchObject({ branch: "feature/probe", dirty: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
