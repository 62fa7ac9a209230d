/**
 * `trackside runs list ENTITY/PROJECT` and `trackside runs show ENTITY/PROJECT/ID`: read runs
 * from the tracking server. Failures are thrown as TracksideErrors; main.ts prints their code
 * and message on stderr and exits 1.
 */
import type { Command } from "commander";
import { refusedSentence, type RunListItem, type RunView } from "../protocol/api.js";
import { errors } from "../protocol/errors.js";
import { validateEntity, validateProject, validateRunId } from "../protocol/ids.js";
import type { MediaKeyView } from "../protocol/media.js";
import { FINAL_STATES, type JsonObject } from "../protocol/records.js";
import { metadataFacts } from "./metadata-facts.js";
import { ApiClient, resolveConnection } from "./api-client.js";
import { runArtifactJson, runArtifactLines, type RunArtifactJson } from "./run-artifacts.js";
import { formatIsoTime, formatSeconds, formatTable, printable, stdoutIo, terminalJson, type CommandIo } from "./output.js";

interface ReadOptions {
  json?: boolean;
  baseUrl?: string;
}

const seg = encodeURIComponent;

/** Splits and validates ENTITY/PROJECT[/ID] (the run path printed by trackside). */
export function parseRunsPath(value: string, withId: boolean): { entity: string; project: string; id?: string } {
  const parts = value.split("/");
  const expected = withId ? "ENTITY/PROJECT/ID" : "ENTITY/PROJECT";
  if (parts.length !== (withId ? 3 : 2)) throw errors.invalidOption("path", value, `${expected} (e.g. alice/mnist${withId ? "/a1b2c3d4" : ""})`);
  const entity = validateEntity(parts[0]);
  const project = validateProject(parts[1]);
  return withId ? { entity, project, id: validateRunId(parts[2]) } : { entity, project };
}

const json = (value: unknown) => terminalJson(value) + "\n";

/** Fields that are text of several lines: their newlines and tabs are shown as such. */
const MULTILINE = new Set(["Error", "Notes", "Artifacts out", "Artifacts in"]);

/**
 * The overview as aligned `Label: value` lines, the run's environment (metadata-facts.ts) last.
 * Every value is stored text that a run's process chose: printed through printable().
 */
function describeRun(run: RunView): string {
  const exit = run.exitCode === null ? "" : ` (exit code ${run.exitCode}${run.signal ? `, ${run.signal}` : ""})`;
  const lines: [string, string | null][] = [
    ["Name", run.name],
    ["Path", run.path],
    ["URL", run.url],
    ["State", run.state + exit],
    ["Error", run.error],
    ["Notes", run.notes],
    ["Tags", run.tags.join(", ") || null],
    ["Privacy", run.privacy],
    ["Author", run.author],
    ["Created", formatIsoTime(run.createdAt)],
    ["Duration", formatSeconds(run.durationSeconds)],
    ["Job type", run.jobType],
    ["Group", run.group],
    ["History steps", String(run.historySteps)],
    ["Console lines", run.consoleLines === undefined ? null : String(run.consoleLines)],
    ["Refused", run.refused ? refusedSentence(run.refused) : null],
    ["Unknown kinds", run.unknownRecords?.length ? run.unknownRecords.map((u) => `${u.kind}: ${u.count}`).join(", ") : null],
    ["Artifacts out", runArtifactLines(run.artifactOutputs)],
    ["Artifacts in", runArtifactLines(run.artifactInputs)],
    ["Media", run.mediaKeys?.length ? run.mediaKeys.map((m) => `${m.key} (${m.type}, ${m.steps} ${m.steps === 1 ? "step" : "steps"})`).join(", ") : null],
    ...metadataFacts(run.metadata),
  ];
  const shown = lines.filter(([, v]) => v !== null && v !== "");
  const width = Math.max(...shown.map(([k]) => k.length));
  const block = (title: string, obj: JsonObject) =>
    Object.keys(obj).length === 0 ? "" : `\n${title}:\n${terminalJson(obj).replace(/^/gm, "  ")}\n`;
  // A list (the artifacts) continues under its first line; notes and errors keep their own layout.
  const indent = (k: string, text: string) => (k.startsWith("Artifacts") ? text.replace(/\n/g, `\n${" ".repeat(width + 2)}`) : text);
  return shown.map(([k, v]) => `${(k + ":").padEnd(width + 2)}${indent(k, printable(v as string, MULTILINE.has(k)))}`).join("\n") + "\n" + block("Config", run.config) + block("Summary", run.summary);
}

/**
 * The run for `runs show --json`: the API's RunView, with its artifact versions in the short
 * form `{ name, version: "v0", type, aliases, digest, size }`, and its media keys
 * `{ key, type, steps, firstStep, lastStep }` (each always present: [] when none, or when the
 * server keeps no artifacts or media).
 */
function runJson(run: RunView): Omit<RunView, "artifactOutputs" | "artifactInputs" | "mediaKeys"> & { artifactOutputs: RunArtifactJson[]; artifactInputs: RunArtifactJson[]; mediaKeys: MediaKeyView[] } {
  return {
    ...run,
    artifactOutputs: (run.artifactOutputs ?? []).map(runArtifactJson),
    artifactInputs: (run.artifactInputs ?? []).map(runArtifactJson),
    mediaKeys: run.mediaKeys ?? [],
  };
}

/**
 * Adds `runs list` and `runs show` to a commander program.
 *
 * @example
 * const program = new Command();
 * registerRunsCommands(program);
 * await program.parseAsync(["node", "trackside", "runs", "show", "alice/mnist/a1b2c3d4", "--json"]);
 */
export function registerRunsCommands(program: Command, io: CommandIo = stdoutIo): void {
  const runs = program.command("runs").description("list and show runs on the tracking server");

  runs
    .command("list")
    .description("list a project's runs, newest first")
    .argument("<entity/project>", "the project, e.g. alice/mnist")
    .option("--json", "print the API's JSON reply ({runs, total})")
    .option("--state <state>", `only runs in this state (running, ${FINAL_STATES.join(", ")})`)
    .option("--limit <n>", "how many runs", "50")
    .option("--base-url <url>", "tracking server (default: TRACKSIDE_BASE_URL or http://127.0.0.1:8421)")
    .action(async (path: string, opts: ReadOptions & { state?: string; limit: string }) => {
      const { entity, project } = parseRunsPath(path, false);
      const api = new ApiClient(resolveConnection(opts));
      const page = await api.get<{ runs: RunListItem[]; total: number }>(`/runs/${seg(entity)}/${seg(project)}`, {
        limit: opts.limit,
        state: opts.state,
      });
      if (opts.json) return io.out(json(page));
      const rows = page.runs.map((r) => [r.id, r.name, r.state, formatIsoTime(r.createdAt), formatSeconds(r.durationSeconds), r.tags.join(",")].map((cell) => printable(cell)));
      io.out(formatTable(["ID", "NAME", "STATE", "CREATED", "DURATION", "TAGS"], rows));
      if (page.total > page.runs.length) io.out(`(${page.runs.length} of ${page.total} runs; use --limit for more)\n`);
    });

  runs
    .command("show")
    .description("show one run's overview")
    .argument("<entity/project/id>", "the run path, e.g. alice/mnist/a1b2c3d4")
    .option("--json", "print the run as one JSON object (the API's RunView; artifactOutputs and artifactInputs as {name, version, type, aliases, digest, size}; mediaKeys)")
    .option("--base-url <url>", "tracking server (default: TRACKSIDE_BASE_URL or http://127.0.0.1:8421)")
    .action(async (path: string, opts: ReadOptions) => {
      const { entity, project, id } = parseRunsPath(path, true);
      const api = new ApiClient(resolveConnection(opts));
      const run = await api.get<RunView>(`/runs/${seg(entity)}/${seg(project)}/${seg(id as string)}`);
      io.out(opts.json ? json(runJson(run)) : describeRun(run));
    });
}
