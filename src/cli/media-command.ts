/**
 * `trackside media get ENTITY/PROJECT/ID KEY [--step N] [--dir D]`: downloads a run's media at
 * one step (the key's last by default), each image's sha256 checked (the client's downloadFiles,
 * as `artifacts get` does). What lands in the directory, by the key's type:
 *
 * - an image: `image.png` (or `.jpg`); a list of images: `0.png`, `1.png`, ... in their order;
 * - a table: `table.json` (`{ columns, rows }`, each image cell `{ ...its reference, file }`) and
 *   its images under `images/` (`images/ROW-COL.png`);
 * - a histogram: `histogram.json` (`{ bins, counts }`).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { downloadFiles } from "../client/artifact-download.js";
import { errors } from "../protocol/errors.js";
import type { ImageView, MediaKeysView, MediaValuesView } from "../protocol/media.js";
import { ApiClient, BASE_URL_HELP, resolveConnection } from "./api-client.js";
import { printable, stdoutIo, type CommandIo } from "./output.js";
import { parseRunsPath } from "./runs-command.js";

const seg = encodeURIComponent;
const ext = (image: ImageView) => (image.format === "jpeg" ? "jpg" : "png");

/** A media key as a relative directory: its `/` levels kept, anything else a file name cannot hold made `_`. */
export function keyDirectory(key: string): string {
  return key
    .split("/")
    .map((s) => s.replace(/[^A-Za-z0-9._-]/g, "_"))
    .map((s) => (s === "" || s === "." || s === ".." ? "_" : s))
    .join("/");
}

/** The files to download and the JSON to write for one step's value. */
function plan(value: MediaValuesView["entries"][number]["value"]): { files: { path: string; url: string; size: number; digest: string }[]; json: { name: string; value: unknown } | null } {
  const file = (path: string, image: ImageView) => ({ path, url: image.url, size: image.size, digest: image.digest });
  switch (value.type) {
    case "image":
      return { files: [file(`image.${ext(value)}`, value)], json: null };
    case "images":
      return { files: value.items.map((image, i) => file(`${i}.${ext(image)}`, image)), json: null };
    case "histogram":
      return { files: [], json: { name: "histogram.json", value: { bins: value.bins, counts: value.counts } } };
    case "table": {
      const files: ReturnType<typeof file>[] = [];
      const rows = value.rows.map((row, r) =>
        row.map((cell, c) => {
          if (typeof cell !== "object" || cell === null) return cell;
          const path = `images/${r}-${c}.${ext(cell)}`;
          files.push(file(path, cell));
          const { url: _url, ...ref } = cell;
          return { ...ref, file: path };
        }),
      );
      return { files, json: { name: "table.json", value: { columns: value.columns, rows } } };
    }
  }
}

/**
 * Adds `media get` to a commander program.
 *
 * @example
 * registerMediaCommands(program);
 * await program.parseAsync(["node", "trackside", "media", "get", "alice/mnist/a1b2c3d4", "samples/input", "--step", "3"]);
 */
export function registerMediaCommands(program: Command, io: CommandIo = stdoutIo): void {
  const media = program.command("media").description("download a run's logged images, tables and histograms");

  media
    .command("get")
    .description("download a media key's value at one step (its images sha256-checked; a table also as table.json)")
    .argument("<entity/project/id>", "the run path, e.g. alice/mnist/a1b2c3d4")
    .argument("<key>", "the media key, e.g. samples/input (trackside runs show --json lists mediaKeys)")
    .option("--step <n>", "the step (default: the key's last)")
    .option("--dir <dir>", "where to put the files (default: ./media/ID/KEY/step-N)")
    .option("--base-url <url>", BASE_URL_HELP)
    .action(async (path: string, key: string, opts: { step?: string; dir?: string; baseUrl?: string }) => {
      const { entity, project, id } = parseRunsPath(path, true);
      const connection = resolveConnection(opts);
      const api = new ApiClient(connection);
      const runUrl = `/runs/${seg(entity)}/${seg(project)}/${seg(id as string)}/media`;
      let step: number;
      if (opts.step !== undefined) {
        step = Number(opts.step);
        if (!Number.isSafeInteger(step)) throw errors.invalidOption("--step", opts.step, "a whole number");
      } else {
        const found = (await api.get<MediaKeysView>(runUrl)).keys.find((k) => k.key === key);
        if (!found) throw errors.notFound(`Media key ${JSON.stringify(key)} of run ${entity}/${project}/${id}`);
        step = found.lastStep;
      }
      const values = await api.get<MediaValuesView>(`${runUrl}/values`, { key, fromStep: String(step), toStep: String(step), limit: "1" });
      const entry = values.entries[0];
      if (!entry) throw errors.notFound(`Media key ${JSON.stringify(key)} at step ${step} of run ${entity}/${project}/${id}`);
      const dir = resolve(opts.dir ?? join("media", id as string, keyDirectory(key), `step-${step}`));
      const { files, json } = plan(entry.value);
      await mkdir(dir, { recursive: true });
      await downloadFiles(`${key} step ${step}`, files, dir, connection);
      if (json) await writeFile(join(dir, json.name), JSON.stringify(json.value, null, 2) + "\n");
      const count = files.length + (json ? 1 : 0);
      io.out(`Downloaded ${printable(key)} at step ${step} (${entry.value.type}, ${count} ${count === 1 ? "file" : "files"}${files.length > 0 ? ", sha256 checked" : ""}) to ${printable(dir)}\n`);
    });
}
