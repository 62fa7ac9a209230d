/**
 * trackside.artifact() and its adds check their input at the call (src/client/artifact.ts): a
 * bad name, a missing file, an entry path given twice, an alias that is a version are coded
 * errors where they are made, and a refused add leaves the artifact as it was.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { artifact } from "../../src/client/artifact.js";
import { logArtifact, useArtifact, type ArtifactRunContext } from "../../src/client/artifact-run.js";
import { queueDir } from "../../src/client/artifact-staging.js";

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "trk-art-names-"));
  mkdirSync(join(dir, "data/sub"), { recursive: true });
  writeFileSync(join(dir, "data/a.txt"), "a");
  writeFileSync(join(dir, "data/sub/b.txt"), "b");
  writeFileSync(join(dir, "model.pt"), "weights");
});

/** The coded error `fn` throws. */
function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error("expected an error");
}

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error("expected a rejection");
}

function ctx(mode: ArtifactRunContext["mode"], runDir: string | null): ArtifactRunContext {
  return { entity: "e", project: "p", runId: "r1", runPath: "e/p/r1", mode, runDir, channel: null, baseUrl: "http://127.0.0.1:9", apiKey: null, ended: () => false };
}

describe("artifact names", () => {
  it.each([
    ["data/set", '"/"'],
    ["data:v1", '":"'],
    ["", "empty"],
    [" padded", "whitespace"],
  ])("refuses the name %j, saying why", (name, why) => {
    const e = thrown(() => artifact(name, "dataset"));
    expect(e.code).toBe("TRK_ERR_INVALID_ARTIFACT");
    expect(e.message).toContain(why);
    expect(e.message).toMatch(/Use 1 to 128 characters/);
  });

  it("refuses an empty type, and metadata that is not JSON", () => {
    expect(thrown(() => artifact("mnist", "")).code).toBe("TRK_ERR_INVALID_ARTIFACT");
    expect(thrown(() => artifact("mnist", "dataset", { metadata: { f: () => 1 } })).code).toBe("TRK_ERR_UNLOGGABLE");
  });
});

describe("addFile, addDir, addReference", () => {
  it("refuses a missing file, naming it and the fix", () => {
    const e = thrown(() => artifact("mnist", "dataset").addFile(join(dir, "nope.bin")));
    expect(e.code).toBe("TRK_ERR_INVALID_ARTIFACT");
    expect(e.message).toContain("nope.bin");
    expect(e.message).toContain("it does not exist");
  });

  it("refuses a directory given to addFile, and a file given to addDir", () => {
    expect(thrown(() => artifact("m", "d").addFile(join(dir, "data"))).message).toContain("addDir()");
    expect(thrown(() => artifact("m", "d").addDir(join(dir, "model.pt"))).message).toContain("addFile()");
  });

  it("refuses a staging policy other than mutable or immutable, adding nothing", () => {
    const a = artifact("m", "d");
    const e = thrown(() => a.addFile(join(dir, "model.pt"), { policy: "link" as never }));
    expect(e.code).toBe("TRK_ERR_INVALID_ARTIFACT");
    expect(e.message).toContain('"immutable"');
    expect(thrown(() => a.addDir(join(dir, "data"), { policy: "copy" as never })).code).toBe("TRK_ERR_INVALID_ARTIFACT");
    a.addFile(join(dir, "model.pt"), { policy: "immutable" }); // nothing was taken by the refused calls
  });

  it("refuses an entry path given twice, or one that leaves the artifact", () => {
    const a = artifact("m", "model").addFile(join(dir, "model.pt"));
    const twice = thrown(() => a.addFile(join(dir, "model.pt")));
    expect(twice.code).toBe("TRK_ERR_INVALID_ARTIFACT");
    expect(twice.message).toContain("added twice");
    expect(thrown(() => a.addFile(join(dir, "data/a.txt"), { name: "model.pt" })).message).toContain("taken already");
    expect(thrown(() => a.addFile(join(dir, "data/a.txt"), { name: "../a.txt" })).code).toBe("TRK_ERR_INVALID_ARTIFACT");
    // The same file under another path is fine.
    a.addFile(join(dir, "model.pt"), { name: "copy/model.pt" });
    expect(a.entries.files.map((f) => f.path)).toEqual(["model.pt", "copy/model.pt"]);
  });

  it("adds a directory's files under its prefix, all or nothing", () => {
    const a = artifact("d", "dataset").addDir(join(dir, "data"), { prefix: "train" });
    expect(a.entries.files.map((f) => f.path)).toEqual(["train/a.txt", "train/sub/b.txt"]);
    const b = artifact("d", "dataset").addFile(join(dir, "model.pt"), { name: "sub/b.txt" });
    expect(thrown(() => b.addDir(join(dir, "data"))).message).toContain('"sub/b.txt"');
    expect(b.entries.files.map((f) => f.path)).toEqual(["sub/b.txt"]); // a.txt was not added either
  });

  it("refuses a path under another entry's path, or over one (a download could not make both)", () => {
    const a = artifact("d", "dataset").addFile(join(dir, "model.pt"), { name: "m" });
    expect(thrown(() => a.addFile(join(dir, "model.pt"), { name: "m/x" })).code).toBe("TRK_ERR_INVALID_ARTIFACT");
    expect(thrown(() => a.addReference("s3://bucket/k", { name: "m/r" })).code).toBe("TRK_ERR_INVALID_ARTIFACT");
    const b = artifact("d", "dataset").addFile(join(dir, "model.pt"), { name: "sub/deep/x" });
    expect(thrown(() => b.addFile(join(dir, "model.pt"), { name: "sub" })).code).toBe("TRK_ERR_INVALID_ARTIFACT");
    expect(thrown(() => b.addReference("s3://bucket/k", { name: "sub/deep" })).code).toBe("TRK_ERR_INVALID_ARTIFACT");
    expect(thrown(() => b.addDir(join(dir, "data"), { prefix: "sub/deep/x" })).code).toBe("TRK_ERR_INVALID_ARTIFACT");
    b.addFile(join(dir, "model.pt"), { name: "sub/deep/y" }).addFile(join(dir, "model.pt"), { name: "subway" });
    expect(b.entries.files.map((f) => f.path)).toEqual(["sub/deep/x", "sub/deep/y", "subway"]);
  });

  it("records references by URI, and checks a file:// one exists", () => {
    const a = artifact("d", "dataset").addReference("s3://bucket/raw/train.csv").addReference("https://example.com/x/val.csv", { name: "val/v.csv" });
    expect(a.entries.references).toEqual([
      { path: "train.csv", uri: "s3://bucket/raw/train.csv", file: null },
      { path: "val/v.csv", uri: "https://example.com/x/val.csv", file: null },
    ]);
    expect(thrown(() => a.addReference("ftp://host/file")).message).toContain("not one of s3:, https:, file:");
    expect(thrown(() => a.addReference(pathToFileURL(join(dir, "gone.csv")).href)).message).toContain("it does not exist");
  });
});

describe("logArtifact and useArtifact refuse at the call", () => {
  it("refuses an alias that is a version, or latest", async () => {
    const a = artifact("m", "model").addFile(join(dir, "model.pt"));
    const v = await rejection(logArtifact(ctx("disabled", null), a, { aliases: ["v3"] }));
    expect(v.code).toBe("TRK_ERR_INVALID_ARTIFACT");
    expect(v.message).toContain("it looks like a version");
    expect((await rejection(logArtifact(ctx("disabled", null), a, { aliases: ["latest"] }))).code).toBe("TRK_ERR_INVALID_ARTIFACT");
  });

  it("refuses useArtifact in an offline run (it needs the server), and a malformed reference", async () => {
    const runDir = mkdtempSync(join(tmpdir(), "trk-art-run-"));
    const e = await rejection(useArtifact(ctx("offline", runDir), "mnist:latest"));
    expect(e.code).toBe("TRK_ERR_INVALID_OPTION");
    expect(e.message).toContain("it asks the server which version that is");
    expect((await rejection(useArtifact(ctx("online", runDir), "project/mnist"))).code).toBe("TRK_ERR_INVALID_ARTIFACT");
    // Its entity and project become URL segments: ".." would reach another route.
    expect((await rejection(useArtifact(ctx("online", runDir), "../runs/mnist:v0"))).code).toBe("TRK_ERR_INVALID_ENTITY");
    expect((await rejection(useArtifact(ctx("online", runDir), "alice//mnist"))).code).toBe("TRK_ERR_INVALID_PROJECT");
  });

  it("stages an offline run's artifact, whose wait() says trackside sync uploads it", async () => {
    const runDir = mkdtempSync(join(tmpdir(), "trk-art-run-"));
    const logged = await logArtifact(ctx("offline", runDir), artifact("m", "model").addFile(join(dir, "model.pt")));
    expect(logged).toMatchObject({ name: "m", type: "model", size: 7, fileCount: 1 });
    const e = await rejection(logged.wait());
    expect(e.code).toBe("TRK_ERR_INVALID_OPTION");
    expect(e.message).toContain(`trackside sync ${runDir}`);
  });
});

describe("wait()", () => {
  it("answers from the daemon's <entry>.done.json once the run has ended: the version, or the coded refusal", async () => {
    const runDir = mkdtempSync(join(tmpdir(), "trk-art-run-"));
    let ended = false;
    const online: ArtifactRunContext = { ...ctx("online", runDir), ended: () => ended };
    const a = artifact("m", "model").addFile(join(dir, "model.pt"));
    const first = await logArtifact(online, a);
    const second = await logArtifact(online, a);
    expect((await rejection(first.wait(-1))).code).toBe("TRK_ERR_INVALID_OPTION");
    ended = true;
    const pending = await rejection(first.wait());
    expect(pending.code).toBe("TRK_ERR_REQUEST_TIMEOUT");
    expect(pending.message).toContain("the daemon goes on uploading it");
    writeFileSync(join(queueDir(runDir), `${first.entry}.done.json`), JSON.stringify({ version: 4, error: null }));
    writeFileSync(join(queueDir(runDir), `${second.entry}.done.json`), JSON.stringify({ version: null, error: "TRK_ERR_FORBIDDEN: Not allowed: log to e/p; nothing was changed." }));
    expect(await first.wait()).toBe("m:v4");
    const refused = await rejection(second.wait());
    expect(refused.code).toBe("TRK_ERR_FORBIDDEN");
    expect(refused.message).toBe("Not allowed: log to e/p; nothing was changed.");
  });
});
