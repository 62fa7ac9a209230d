/**
 * `trackside artifacts list ENTITY/PROJECT [--type T]`, `artifacts show ENTITY/PROJECT/NAME[:ALIAS]`
 * and `artifacts get ENTITY/PROJECT/NAME[:ALIAS] [--dir D]`: read artifact versions from the
 * tracking server, and download one with every file's sha256 checked (the client's
 * downloadVersion, the same code as `run.useArtifact(...).download()`). Failures are thrown as
 * TracksideErrors; main.ts prints their code and message on stderr and exits 1.
 */
import { resolve } from "node:path";
import type { Command } from "commander";
import { downloadVersion } from "../client/artifact-download.js";
import { parseArtifactRef, type ArtifactCollectionSummary, type ArtifactRunLink, type ArtifactVersionDetail } from "../protocol/artifacts.js";
import { errors } from "../protocol/errors.js";
import { validateEntity, validateProject } from "../protocol/ids.js";
import { ApiClient, BASE_URL_HELP, resolveConnection } from "./api-client.js";
import { formatBytes, formatTable, printable, stdoutIo, terminalJson, type CommandIo } from "./output.js";

const seg = encodeURIComponent;
const json = (value: unknown) => terminalJson(value) + "\n";

/** Splits and validates ENTITY/PROJECT/NAME[:ALIAS] (the alias defaults to latest). */
export function parseArtifactPath(value: string): { entity: string; project: string; name: string; alias: string } {
  const ref = parseArtifactRef(value);
  if (ref.entity === null || ref.project === null) throw errors.invalidOption("artifact", value, "ENTITY/PROJECT/NAME[:ALIAS] (e.g. alice/mnist/dataset:v1)");
  return { entity: validateEntity(ref.entity), project: validateProject(ref.project), name: ref.name, alias: ref.alias };
}

/** Splits and validates ENTITY/PROJECT. */
function parseProjectPath(value: string): { entity: string; project: string } {
  const parts = value.split("/");
  if (parts.length !== 2) throw errors.invalidOption("path", value, "ENTITY/PROJECT (e.g. alice/mnist)");
  return { entity: validateEntity(parts[0]), project: validateProject(parts[1]) };
}

const versionPath = (p: { entity: string; project: string; name: string; alias: string }) => `/artifacts/${seg(p.entity)}/${seg(p.project)}/${seg(p.name)}/${seg(p.alias)}`;

const runLine = (r: ArtifactRunLink) => `${r.entity}/${r.project}/${r.id} (${r.name}, ${r.state})`;

/** A version as aligned `Label: value` lines, then its files, references and metadata. Stored text goes through printable(). */
function describeVersion(v: ArtifactVersionDetail): string {
  const lines: [string, string | null][] = [
    ["Artifact", `${v.entity}/${v.project}/${v.ref}`],
    ["Type", v.type],
    ["Aliases", v.aliases.join(", ") || null],
    ["Description", v.description],
    ["Size", `${formatBytes(v.size)} (${v.size} bytes) in ${v.fileCount} ${v.fileCount === 1 ? "file" : "files"}`],
    ["Digest", v.digest],
    ["Created", new Date(v.createdAt).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC")],
    ["Logged by", v.producedBy.map(runLine).join("\n") || null],
    ["Used by", v.usedBy.map(runLine).join("\n") || null],
  ];
  const shown = lines.filter(([, value]) => value !== null && value !== "");
  const width = Math.max(...shown.map(([k]) => k.length)) + 2;
  const indent = " ".repeat(width);
  let out = shown.map(([k, value]) => `${(k + ":").padEnd(width)}${printable(value as string, true).replace(/\n/g, `\n${indent}`)}`).join("\n") + "\n";
  if (v.files.length > 0) out += "\nFiles:\n" + formatTable(["PATH", "SIZE", "SHA256"], v.files.map((f) => [printable(f.path), formatBytes(f.size), f.digest])).replace(/^/gm, "  ");
  if (v.references.length > 0) {
    const rows = v.references.map((r) => [printable(r.path), printable(r.uri), r.size === null ? "-" : formatBytes(r.size), r.digest ?? "-"]);
    out += "\nReferences:\n" + formatTable(["PATH", "URI", "SIZE", "SHA256"], rows).replace(/^/gm, "  ");
  }
  if (Object.keys(v.metadata).length > 0) out += `\nMetadata:\n${terminalJson(v.metadata).replace(/^/gm, "  ")}\n`;
  return out;
}

/** Where progress goes: a line rewritten in place on a terminal's stderr; nothing when stderr is not a terminal. */
function progressLine(label: string): { update(done: number, total: number): void; end(): void } {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  let shown = false;
  return {
    update(done, total) {
      if (!tty) return;
      const now = Date.now();
      // At most 10 redraws a second: a redraw per chunk would cost more than the download.
      if (done < total && now - last < 100) return;
      last = now;
      shown = true;
      const pct = total === 0 ? 100 : Math.floor((done / total) * 100);
      process.stderr.write(`\r${label}: ${formatBytes(done)} of ${formatBytes(total)} (${pct}%)\u001b[K`);
    },
    end() {
      if (shown) process.stderr.write("\r\u001b[K");
    },
  };
}

/**
 * Adds `artifacts list`, `artifacts show` and `artifacts get` to a commander program.
 *
 * @example
 * const program = new Command();
 * registerArtifactsCommands(program);
 * await program.parseAsync(["node", "trackside", "artifacts", "get", "alice/mnist/dataset:v1", "--dir", "data"]);
 */
export function registerArtifactsCommands(program: Command, io: CommandIo = stdoutIo): void {
  const artifacts = program.command("artifacts").description("list, show and download artifact versions on the tracking server");

  artifacts
    .command("list")
    .description("list a project's artifacts, each with its latest version")
    .argument("<entity/project>", "the project, e.g. alice/mnist")
    .option("--type <type>", "only artifacts of this type (dataset, model, ...)")
    .option("--json", "print the API's JSON reply ({artifacts})")
    .option("--base-url <url>", BASE_URL_HELP)
    .action(async (path: string, opts: { type?: string; json?: boolean; baseUrl?: string }) => {
      const { entity, project } = parseProjectPath(path);
      const api = new ApiClient(resolveConnection(opts));
      const answer = await api.get<{ artifacts: ArtifactCollectionSummary[] }>(`/artifacts/${seg(entity)}/${seg(project)}`, { type: opts.type });
      if (opts.json) return io.out(json(answer));
      if (answer.artifacts.length === 0) return io.out(`No artifacts${opts.type ? ` of type ${printable(opts.type)}` : ""} in ${entity}/${project}.\n`);
      const rows = answer.artifacts.map((c) =>
        [c.name, c.type, String(c.versions), `v${c.latest.version}`, c.latest.aliases.join(","), formatBytes(c.latest.size), String(c.latest.fileCount)].map((cell) => printable(cell)),
      );
      io.out(formatTable(["NAME", "TYPE", "VERSIONS", "LATEST", "ALIASES", "SIZE", "FILES"], rows));
    });

  artifacts
    .command("show")
    .description("show one artifact version: aliases, files, metadata, and the runs that logged and used it")
    .argument("<entity/project/name[:alias]>", "the version, e.g. alice/mnist/dataset:v1 (alias: latest, v3, or one you gave; default latest)")
    .option("--json", "print the API's JSON reply (the version with its files and lineage)")
    .option("--base-url <url>", BASE_URL_HELP)
    .action(async (ref: string, opts: { json?: boolean; baseUrl?: string }) => {
      const path = parseArtifactPath(ref);
      const api = new ApiClient(resolveConnection(opts));
      const version = await api.get<ArtifactVersionDetail>(versionPath(path));
      io.out(opts.json ? json(version) : describeVersion(version));
    });

  artifacts
    .command("get")
    .description("download one artifact version's files, checking each file's sha256")
    .argument("<entity/project/name[:alias]>", "the version, e.g. alice/mnist/dataset:v1 (default alias: latest)")
    .option("--dir <dir>", "where to put the files (default: ./artifacts/NAME-vN)")
    .option("--base-url <url>", BASE_URL_HELP)
    .action(async (ref: string, opts: { dir?: string; baseUrl?: string }) => {
      const path = parseArtifactPath(ref);
      const connection = resolveConnection(opts);
      const api = new ApiClient(connection);
      const version = await api.get<ArtifactVersionDetail>(versionPath(path));
      const dir = resolve(opts.dir ?? `artifacts/${version.name}-v${version.version}`);
      const progress = progressLine(`Downloading ${printable(version.ref)}`);
      try {
        await downloadVersion(version, dir, connection, (done, total) => progress.update(done, total));
      } finally {
        progress.end();
      }
      const files = version.files.length;
      io.out(`Downloaded ${printable(`${version.entity}/${version.project}/${version.ref}`)} (${files} ${files === 1 ? "file" : "files"}, ${formatBytes(version.size)}, sha256 checked) to ${printable(dir)}\n`);
    });
}
