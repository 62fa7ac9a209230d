/**
 * `trackside media get` and the media keys of `trackside runs show` against a real server (port
 * 0, SQLite, the filesystem blob store), with media records and their PNGs posted through the
 * HTTP routes as the daemon uploads them. The commands are driven in process through commander.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerMediaCommands } from "../../src/cli/media-command.js";
import { registerRunsCommands } from "../../src/cli/runs-command.js";
import { runCliInProcess } from "../helpers/in-process-cli.js";
import type { ImageRef, MediaValue } from "../../src/protocol/media.js";
import { readCredential } from "../../src/protocol/local-config.js";
import { startServer, type RunningServer } from "../../src/server/index.js";
import { runInfo } from "./helpers.js";

let home: string;
let savedHome: string | undefined;
let server: RunningServer;
let url: string;
let apiKey: string;
let user: string;

const runCli = (args: string[]): Promise<string> => runCliInProcess([registerRunsCommands, registerMediaCommands], [...args, "--base-url", url]);

/** A 3 x 2 RGBA PNG whose every byte is `level`, stored in the project's blob store; its reference. */
async function png(level: number, caption: string | null = null): Promise<{ bytes: Buffer; ref: ImageRef }> {
  const image = new PNG({ width: 3, height: 2 });
  image.data.fill(level);
  const bytes = PNG.sync.write(image);
  const digest = createHash("sha256").update(bytes).digest("hex");
  const res = await fetch(`${url}/api/v1/artifacts/${user}/mnist/blobs/${digest}`, { method: "PUT", headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/octet-stream" }, body: new Uint8Array(bytes) });
  expect(res.status, await res.text()).toBe(200);
  return { bytes, ref: { type: "image", digest, size: bytes.length, format: "png", width: 3, height: 2, caption } };
}

let images: { bytes: Buffer; ref: ImageRef }[];

beforeAll(async () => {
  savedHome = process.env.HOME;
  home = mkdtempSync(join(tmpdir(), "trackside-cli-media-"));
  process.env.HOME = home;
  server = await startServer({ port: 0, dataDir: join(home, "server") });
  url = server.url;
  ({ apiKey, user } = readCredential(url)!);
  images = [await png(10, "a"), await png(20), await png(30)];
  const media = (seq: number, step: number, key: string, value: MediaValue) => ({ k: "media", seq, step, key, value });
  const res = await fetch(`${url}/api/v1/runs/${user}/mnist/media001/records`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify([
      { k: "run", seq: 0, run: runInfo("media001", { entity: user }) },
      media(1, 0, "samples/input", images[0].ref),
      media(2, 1, "samples/input", { type: "images", items: [images[1].ref, images[2].ref] }),
      media(3, 1, "preds", { type: "table", columns: ["label", "image"], rows: [["cat", images[0].ref], ["dog", null]] }),
      media(4, 1, "w", { type: "histogram", bins: [0, 1, 2], counts: [4, 5] }),
    ]),
  });
  expect(res.status, await res.text()).toBe(200);
});

afterAll(async () => {
  await server?.close();
  process.env.HOME = savedHome;
  rmSync(home, { recursive: true, force: true });
});

describe("trackside media", () => {
  it("runs show --json lists the run's mediaKeys, and the overview names them", async () => {
    const run = JSON.parse(await runCli(["runs", "show", `${user}/mnist/media001`, "--json"])) as { mediaKeys: unknown };
    expect(run.mediaKeys).toEqual([
      { key: "preds", type: "table", steps: 1, firstStep: 1, lastStep: 1 },
      { key: "samples/input", type: "images", steps: 2, firstStep: 0, lastStep: 1 },
      { key: "w", type: "histogram", steps: 1, firstStep: 1, lastStep: 1 },
    ]);
    expect(await runCli(["runs", "show", `${user}/mnist/media001`])).toMatch(/^Media: +preds \(table, 1 step\), samples\/input \(images, 2 steps\), w \(histogram, 1 step\)$/m);
  });

  it("get downloads a key's images at its last step, or at --step, byte for byte", async () => {
    const dir = join(home, "last");
    const out = await runCli(["media", "get", `${user}/mnist/media001`, "samples/input", "--dir", dir]);
    expect(out).toContain("at step 1 (images, 2 files, sha256 checked)");
    expect(readdirSync(dir).sort()).toEqual(["0.png", "1.png"]);
    expect(readFileSync(join(dir, "1.png")).equals(images[2].bytes)).toBe(true);
    expect(PNG.sync.read(readFileSync(join(dir, "0.png"))).data[0]).toBe(20);

    const first = join(home, "first");
    await runCli(["media", "get", `${user}/mnist/media001`, "samples/input", "--step", "0", "--dir", first]);
    expect(readFileSync(join(first, "image.png")).equals(images[0].bytes)).toBe(true);
  });

  it("get writes a table as table.json with its images beside it, and a histogram as histogram.json", async () => {
    const dir = join(home, "table");
    await runCli(["media", "get", `${user}/mnist/media001`, "preds", "--dir", dir]);
    const table = JSON.parse(readFileSync(join(dir, "table.json"), "utf8")) as { columns: string[]; rows: unknown[][] };
    expect(table.columns).toEqual(["label", "image"]);
    expect(table.rows[0]).toEqual(["cat", { ...images[0].ref, file: "images/0-1.png" }]);
    expect(table.rows[1]).toEqual(["dog", null]);
    expect(readFileSync(join(dir, "images", "0-1.png")).equals(images[0].bytes)).toBe(true);

    const hist = join(home, "hist");
    await runCli(["media", "get", `${user}/mnist/media001`, "w", "--dir", hist]);
    expect(JSON.parse(readFileSync(join(hist, "histogram.json"), "utf8"))).toEqual({ bins: [0, 1, 2], counts: [4, 5] });
  });

  it("get refuses a key or a step the run does not have, with a coded error", async () => {
    await expect(runCli(["media", "get", `${user}/mnist/media001`, "nope"])).rejects.toMatchObject({ code: "TRK_ERR_NOT_FOUND" });
    await expect(runCli(["media", "get", `${user}/mnist/media001`, "w", "--step", "7"])).rejects.toMatchObject({ code: "TRK_ERR_NOT_FOUND" });
  });
});
