/**
 * `run.logArtifact()` and `run.useArtifact()`: the client's half of artifacts. The client stages
 * and writes a queue entry (artifact-staging.ts), then hands the entry's name to the daemon
 * (`artifact`); from then on the daemon uploads it whatever becomes of this process. `wait()`
 * asks the daemon (`artifact-wait`) for the version the server gave it.
 */
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import {
  API_PREFIX,
  errors,
  getJson,
  newEntryName,
  parseArtifactRef,
  TracksideError,
  validateAlias,
  validateEntity,
  validateProject,
  versionRef,
  type ArtifactFileEntry,
  type ArtifactQueueResult,
  type ArtifactVersionDetail,
  type DaemonMessage,
} from "../protocol/index.js";
import { Artifact } from "./artifact.js";
import { downloadVersion } from "./artifact-download.js";
import { queueDir, stageArtifact, writeQueueEntry } from "./artifact-staging.js";
import type { DaemonChannel } from "./daemon-channel.js";

/** How long `wait()` waits by default: as long as finish() does by default. */
const DEFAULT_WAIT_MS = 60_000;
/** The longest wait() the daemon takes (message-check.ts): a day. */
const MAX_WAIT_MS = 86_400_000;
/** How long useArtifact() waits for the server's answer. */
const RESOLVE_TIMEOUT_MS = 30_000;

/** A version handed to the daemon by `run.logArtifact()`. */
export interface LoggedArtifact {
  name: string;
  type: string;
  /** The manifest's digest: the version's identity. */
  digest: string;
  /** Bytes of its files. */
  size: number;
  fileCount: number;
  /** The daemon's queue entry (`<runDir>/artifacts/queue/<entry>.json`). */
  entry: string;
  /**
   * Waits until the server has the version and resolves to its name, `"name:v3"`. Logging a
   * manifest equal to an earlier version's gets that version.
   * @throws TRK_ERR_REQUEST_TIMEOUT when it is not there within `timeoutMs` (default 60 s; the
   *   daemon goes on uploading); the server's coded error when it refused the version for good;
   *   TRK_ERR_INVALID_OPTION in an offline or disabled run (no server gives it a version).
   */
  wait(timeoutMs?: number): Promise<string>;
}

/** A version a run uses, from `run.useArtifact()`. */
export interface UsedArtifact {
  entity: string;
  project: string;
  name: string;
  type: string;
  version: number;
  /** `"name:v3"` */
  ref: string;
  aliases: string[];
  digest: string;
  size: number;
  description: string | null;
  metadata: ArtifactVersionDetail["metadata"];
  /** Its files: path, size, sha256. */
  files(): ArtifactFileEntry[];
  /**
   * Downloads its files into `dir` (default `./artifacts/<name>-v<N>`), each checked against its
   * sha256, and resolves to the directory's absolute path.
   * @throws TRK_ERR_DIGEST_MISMATCH when a file's bytes are not what was logged.
   */
  download(dir?: string): Promise<string>;
}

/** What of a run the artifact calls need. */
export interface ArtifactRunContext {
  entity: string;
  project: string;
  runId: string;
  /** `entity/project/id` */
  runPath: string;
  mode: "online" | "offline" | "disabled";
  runDir: string | null;
  channel: DaemonChannel | null;
  baseUrl: string;
  apiKey: string | null;
  /** True once the run has ended: its channel to the daemon is closed. */
  ended(): boolean;
}

/** See Run.logArtifact. */
export async function logArtifact(ctx: ArtifactRunContext, a: Artifact, opts: { aliases?: string[] } = {}): Promise<LoggedArtifact> {
  if (!(a instanceof Artifact)) throw errors.invalidArtifact("given to logArtifact()", "it was not made by trackside.artifact()", 'Make it with trackside.artifact(name, type), then add files to it.');
  const aliases = checkAliases(opts.aliases);
  const staged = await stageArtifact(ctx.runDir, a);
  let entry = "";
  if (ctx.runDir !== null) {
    entry = newEntryName();
    await writeQueueEntry(ctx.runDir, entry, { kind: "log", manifest: staged.manifest, digest: staged.digest, aliases });
    // Offline too: the daemon uploads nothing then, but counts it for finish(); `trackside sync`
    // uploads the queue with the run.
    if (ctx.channel) await handOver(ctx, ctx.channel, entry);
  }
  let version: Promise<string> | null = null;
  return {
    name: a.name,
    type: a.type,
    digest: staged.digest,
    size: staged.size,
    fileCount: staged.fileCount,
    entry,
    wait(timeoutMs = DEFAULT_WAIT_MS) {
      if (typeof timeoutMs !== "number" || !(timeoutMs >= 0) || timeoutMs > MAX_WAIT_MS) {
        return Promise.reject(errors.invalidOption("wait() timeoutMs", timeoutMs, `a number of milliseconds from 0 to ${MAX_WAIT_MS} (a day)`));
      }
      // A version once given stays given; a failed wait may be tried again.
      version ??= waitFor(ctx, a.name, entry, timeoutMs).catch((err: unknown) => {
        version = null;
        throw err;
      });
      return version;
    },
  };
}

/** See Run.useArtifact. */
export async function useArtifact(ctx: ArtifactRunContext, ref: string): Promise<UsedArtifact> {
  const parsed = parseArtifactRef(ref);
  // They become URL segments: ".." or "" would ask another route (TRK_ERR_INVALID_ENTITY / _PROJECT at the call).
  if (parsed.entity !== null) validateEntity(parsed.entity);
  if (parsed.project !== null) validateProject(parsed.project);
  if (ctx.mode !== "online" || !ctx.runDir || !ctx.channel) {
    throw errors.invalidOption("mode", ctx.mode, `"online" for useArtifact(${JSON.stringify(ref)}): it asks the server which version that is; start the run online (and \`trackside sync\` an offline one later)`);
  }
  const entity = parsed.entity ?? ctx.entity;
  const project = parsed.project ?? ctx.project;
  const path = `${API_PREFIX}/artifacts/${[entity, project, parsed.name, parsed.alias].map(encodeURIComponent).join("/")}`;
  const detail = await getJson<ArtifactVersionDetail>(ctx.baseUrl, path, ctx.apiKey, RESOLVE_TIMEOUT_MS);
  const entry = newEntryName();
  await writeQueueEntry(ctx.runDir, entry, { kind: "use", entity, project, name: detail.name, version: detail.version });
  await handOver(ctx, ctx.channel, entry);
  const server = { baseUrl: ctx.baseUrl, apiKey: ctx.apiKey };
  return {
    entity,
    project,
    name: detail.name,
    type: detail.type,
    version: detail.version,
    ref: detail.ref,
    aliases: [...detail.aliases],
    digest: detail.digest,
    size: detail.size,
    description: detail.description,
    metadata: detail.metadata,
    files: () => detail.files.map((f) => ({ path: f.path, size: f.size, digest: f.digest })),
    async download(dir?: string) {
      const target = resolve(dir ?? join("artifacts", `${detail.name}-v${detail.version}`));
      await downloadVersion(detail, target, server);
      return target;
    },
  };
}

/** Tells the daemon to take the entry; from its `ok` on, the daemon owns it. */
async function handOver(ctx: ArtifactRunContext, channel: DaemonChannel, entry: string): Promise<void> {
  const reply = await channel.request({ t: "artifact", runPath: ctx.runPath, entry });
  if (reply.t !== "ok") throw errors.internal(`the daemon answered "artifact" with "${reply.t}"`);
}

async function waitFor(ctx: ArtifactRunContext, name: string, entry: string, timeoutMs: number): Promise<string> {
  if (ctx.runDir === null) throw errors.invalidOption("mode", ctx.mode, `"online" for wait(): a disabled run keeps nothing, so artifact ${name} gets no version`);
  if (ctx.mode !== "online") {
    throw errors.invalidOption("mode", ctx.mode, `"online" for wait(): an offline run's artifact ${name} is staged in ${ctx.runDir} and gets its version from the server when \`trackside sync ${ctx.runDir}\` uploads it`);
  }
  // The daemon's verdict stays in the run directory: read there, it outlives the run's channel.
  const done = await readDone(ctx.runDir, entry);
  if (done) return answer(name, done.version, done.error);
  if (ctx.ended() || !ctx.channel) throw errors.artifactPending(name, "the run has ended and the daemon had not uploaded it by then");
  const reply: DaemonMessage = await ctx.channel.request({ t: "artifact-wait", runPath: ctx.runPath, entry, timeoutMs }, undefined, timeoutMs + 10_000);
  if (reply.t !== "artifact-done") throw errors.internal(`the daemon answered "artifact-wait" with "${reply.t}"`);
  if (reply.version === null && reply.error === null) throw errors.artifactPending(name, `still uploading after ${timeoutMs / 1000} s`);
  return answer(name, reply.version, reply.error);
}

function answer(name: string, version: number | null, error: string | null): string {
  if (version !== null) return versionRef(name, version);
  throw errorOfText(error ?? "no version and no error");
}

/** The daemon's error text (`TRK_ERR_X: message`) as the coded error it names. */
function errorOfText(text: string): TracksideError {
  const m = /^(TRK_ERR_[A-Z_]+): ([\s\S]*)$/.exec(text);
  return m ? TracksideError.fromWire({ code: m[1], message: m[2] }) : errors.internal(`the daemon gave up on an artifact without a coded reason: ${text}`);
}

async function readDone(runDir: string, entry: string): Promise<ArtifactQueueResult | null> {
  try {
    const r = JSON.parse(await readFile(join(queueDir(runDir), `${entry}.done.json`), "utf8")) as ArtifactQueueResult;
    return typeof r === "object" && r !== null && (typeof r.version === "number" || typeof r.error === "string") ? r : null;
  } catch {
    return null;
  }
}

function checkAliases(aliases: unknown): string[] {
  if (aliases === undefined) return [];
  if (!Array.isArray(aliases)) throw errors.invalidArtifact(`aliases ${JSON.stringify(aliases)}`, "they are not an array", 'Pass an array such as ["best"].');
  return [...new Set(aliases.map((a) => validateAlias(a)))].sort();
}
