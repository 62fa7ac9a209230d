/**
 * Staging (src/client/artifact-staging.ts): a logged artifact's files are safe in the run
 * directory, by digest, before the daemon is told; the digest is always of the staged bytes, the
 * ones the daemon will upload; the queue entry is written whole, after its blobs.
 */
import { appendFileSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { beforeEach, describe, expect, it } from "vitest";
import { artifact } from "../../src/client/artifact.js";
import { logArtifact, type ArtifactRunContext } from "../../src/client/artifact-run.js";
import { blobsDir, queueDir, stageArtifact, stageFile } from "../../src/client/artifact-staging.js";
import { newEntryName } from "../../src/protocol/ids.js";
import { manifestDigest, QUEUE_ENTRY_PATTERN, type ArtifactQueueEntry } from "../../src/protocol/index.js";

const sha = (data: string | Buffer): string => createHash("sha256").update(data).digest("hex");
/** A link() that fails as it does across devices. */
const noLink = (): Promise<void> => Promise.reject(Object.assign(new Error("cross-device link"), { code: "EXDEV" }));

let src: string;
let runDir: string;

beforeEach(() => {
  src = mkdtempSync(join(tmpdir(), "trk-stage-src-"));
  runDir = mkdtempSync(join(tmpdir(), "trk-stage-run-"));
  mkdirSync(blobsDir(runDir), { recursive: true });
});

describe("staging a file", () => {
  it("copies it into blobs/<sha256>: the program may rewrite the file in place at once, as most programs save a file", async () => {
    const file = join(src, "model.pt");
    writeFileSync(file, "weights v1");
    const s = await stageFile(blobsDir(runDir), file);
    expect(s).toEqual({ digest: sha("weights v1"), size: 10, how: "copy" });
    writeFileSync(file, "weights v2"); // truncates and rewrites the same inode (the next epoch's checkpoint)
    expect(readFileSync(join(blobsDir(runDir), s.digest), "utf8")).toBe("weights v1");
    expect(readdirSync(blobsDir(runDir))).toEqual([sha("weights v1")]); // no temporary left
  });

  it("hard-links an immutable one into blobs/<sha256>, the same bytes without a copy", async () => {
    const file = join(src, "model.pt");
    writeFileSync(file, "weights v1");
    const s = await stageFile(blobsDir(runDir), file, {}, "immutable");
    expect(s).toEqual({ digest: sha("weights v1"), size: 10, how: "link" });
    const blob = join(blobsDir(runDir), sha("weights v1"));
    expect(statSync(blob).ino).toBe(statSync(file).ino);
    expect(readdirSync(blobsDir(runDir))).toEqual([sha("weights v1")]); // no temporary left
  });

  it("stages the file a symbolic link points to, not the link (a relative one would point elsewhere from blobs/, and the file may go)", async () => {
    // As in a Hugging Face cache: snapshots/<rev>/config.json -> ../../blobs/<hash>.
    mkdirSync(join(src, "store"));
    mkdirSync(join(src, "snapshots", "main"), { recursive: true });
    writeFileSync(join(src, "store", "abc"), "config bytes");
    const link = join(src, "snapshots", "main", "config.json");
    symlinkSync("../../store/abc", link);
    const s = await stageFile(blobsDir(runDir), link);
    expect(s.digest).toBe(sha("config bytes"));
    const blob = join(blobsDir(runDir), s.digest);
    expect(lstatSync(blob).isFile()).toBe(true);
    rmSync(join(src, "store", "abc")); // the user cleans the cache once logArtifact() resolved
    expect(readFileSync(blob, "utf8")).toBe("config bytes");
  });

  it("copies an immutable one where a hard link fails (another device)", async () => {
    const file = join(src, "model.pt");
    writeFileSync(file, "weights v1");
    const s = await stageFile(blobsDir(runDir), file, { link: noLink }, "immutable");
    expect(s.how).toBe("copy");
    const blob = join(blobsDir(runDir), s.digest);
    expect(statSync(blob).ino).not.toBe(statSync(file).ino);
    expect(readFileSync(blob, "utf8")).toBe("weights v1");
    // The user's file may change now: the staged copy does not.
    writeFileSync(file, "weights v2");
    expect(sha(readFileSync(blob))).toBe(s.digest);
  });

  it("names the staged bytes, not the file as it was when added: a file changed while staged is hashed as staged", async () => {
    const file = join(src, "log.txt");
    writeFileSync(file, "line 1\n");
    // Written to between the link (or copy) and the hash: the digest is of what was staged.
    const s = await stageFile(blobsDir(runDir), file, { link: noLink, staged: (tmp) => appendFileSync(tmp, "line 2\n") }, "immutable");
    expect(s.digest).toBe(sha("line 1\nline 2\n"));
    expect(readFileSync(join(blobsDir(runDir), s.digest), "utf8")).toBe("line 1\nline 2\n");
  });

  it("makes a private copy when a linked file is written while it is hashed", async () => {
    const file = join(src, "log.txt");
    writeFileSync(file, "line 1\n");
    let writes = 0;
    // The user's program appends through its own handle during the hash (once: the copy then holds still).
    const s = await stageFile(blobsDir(runDir), file, { hashed: () => void (writes++ === 0 && appendFileSync(file, "line 2\n")) }, "immutable");
    expect(s.how).toBe("copy");
    const blob = join(blobsDir(runDir), s.digest);
    expect(sha(readFileSync(blob))).toBe(s.digest);
    expect(statSync(blob).ino).not.toBe(statSync(file).ino);
    expect(readdirSync(blobsDir(runDir))).toEqual([s.digest]);
  });
});

describe("staging an artifact", () => {
  it("stages the same bytes once, however often they are added, and sorts the manifest by path", async () => {
    writeFileSync(join(src, "a.bin"), "same bytes");
    writeFileSync(join(src, "b.bin"), "same bytes");
    writeFileSync(join(src, "c.bin"), "other bytes");
    const a = artifact("d", "dataset", { metadata: { rows: 3 } })
      .addFile(join(src, "c.bin"), { name: "z/c.bin" })
      .addFile(join(src, "a.bin"))
      .addFile(join(src, "a.bin"), { name: "again/a.bin" })
      .addFile(join(src, "b.bin"));
    const staged = await stageArtifact(runDir, a, { link: noLink });
    expect(readdirSync(blobsDir(runDir)).sort()).toEqual([sha("same bytes"), sha("other bytes")].sort());
    expect(staged.manifest.files.map((f) => [f.path, f.digest])).toEqual([
      ["a.bin", sha("same bytes")],
      ["again/a.bin", sha("same bytes")],
      ["b.bin", sha("same bytes")],
      ["z/c.bin", sha("other bytes")],
    ]);
    expect(staged).toMatchObject({ size: 41, fileCount: 4, digest: manifestDigest(staged.manifest) });
    expect(staged.manifest.metadata).toEqual({ rows: 3 });
  });

  it("hashes a file:// reference without copying it", async () => {
    const file = join(src, "big.csv");
    writeFileSync(file, "x,y\n1,2\n");
    const staged = await stageArtifact(runDir, artifact("d", "dataset").addReference(pathToFileURL(file).href).addReference("s3://b/k/o.csv"));
    expect(staged.manifest.references).toEqual([
      { path: "big.csv", uri: pathToFileURL(file).href, digest: sha("x,y\n1,2\n"), size: 8 },
      { path: "o.csv", uri: "s3://b/k/o.csv", digest: null, size: null },
    ]);
    expect(readdirSync(blobsDir(runDir))).toEqual([]);
  });

  it("refuses a file removed after it was added, with a coded error", async () => {
    const file = join(src, "gone.bin");
    writeFileSync(file, "x");
    const a = artifact("d", "dataset").addFile(file);
    rmSync(file);
    await expect(stageArtifact(runDir, a)).rejects.toMatchObject({ code: "TRK_ERR_INVALID_ARTIFACT", message: expect.stringContaining("removed after it was added") });
  });
});

describe("the queue entry", () => {
  it("is written whole as <entry>.json, named in order, holding the manifest, its digest and the aliases", async () => {
    writeFileSync(join(src, "m.pt"), "w");
    const ctx: ArtifactRunContext = { entity: "e", project: "p", runId: "r", runPath: "e/p/r", mode: "offline", runDir, channel: null, baseUrl: "http://127.0.0.1:9", apiKey: null, ended: () => false };
    const first = await logArtifact(ctx, artifact("m", "model").addFile(join(src, "m.pt")), { aliases: ["best", "prod", "best"] });
    const second = await logArtifact(ctx, artifact("m", "model").addFile(join(src, "m.pt")));
    expect(first.entry).toMatch(QUEUE_ENTRY_PATTERN);
    expect(second.entry > first.entry).toBe(true);
    expect(readdirSync(queueDir(runDir)).sort()).toEqual([`${first.entry}.json`, `${second.entry}.json`]);
    const entry = JSON.parse(readFileSync(join(queueDir(runDir), `${first.entry}.json`), "utf8")) as ArtifactQueueEntry;
    expect(entry).toMatchObject({ kind: "log", digest: first.digest, aliases: ["best", "prod"] });
    if (entry.kind !== "log") throw new Error("not a log entry");
    expect(manifestDigest(entry.manifest)).toBe(first.digest);
    expect(entry.manifest.files).toEqual([{ path: "m.pt", digest: sha("w"), size: 1 }]);
  });

  it("has names that go up within one millisecond", () => {
    const names = [newEntryName(4_000_000_000_000), newEntryName(4_000_000_000_000), newEntryName(3_999_999_999_999)];
    for (const n of names) expect(n).toMatch(QUEUE_ENTRY_PATTERN);
    expect([...names].sort()).toEqual(names);
    expect(new Set(names).size).toBe(3);
    expect(names[0].startsWith("004000000000000-")).toBe(true);
  });
});
