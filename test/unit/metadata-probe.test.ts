import { execFileSync } from "node:child_process";
import { hostname } from "node:os";
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
});
