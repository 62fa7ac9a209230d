/**
 * init() options, resolved once into frozen settings: option, else environment variable, else
 * default. Everything is validated here, before any file is written or process spawned.
 */
import { userInfo } from "node:os";
import { resolve } from "node:path";
import {
  DEFAULT_MAX_IMAGE_PIXELS,
  DEFAULT_BASE_URL,
  entityFromUserName,
  errors,
  generateRunId,
  generateRunName,
  MAX_GROUP,
  MAX_JOB_TYPE,
  MAX_NAME,
  MAX_NOTES,
  MAX_TAG,
  MAX_TAGS,
  normalizeBaseUrl,
  readCredential,
  credentialsPath,
  validateEntity,
  validateProject,
  validateRunId,
} from "../protocol/index.js";
import { checkConfigObject } from "./values.js";

export type Mode = "online" | "offline" | "disabled";
export type ResumeMode = "allow" | "must" | "never" | "auto";

/** Advanced settings; each has an environment variable `TRACKSIDE_<NAME_IN_CAPS>` where noted. */
export interface AdvancedSettings {
  /** Tracking server. Env TRACKSIDE_BASE_URL. Default http://127.0.0.1:8421. */
  baseUrl?: string;
  /** Env TRACKSIDE_API_KEY. Default: the key stored for baseUrl in ~/.trackside/credentials. */
  apiKey?: string;
  /** No init line, no footer. Env TRACKSIDE_SILENT=1. */
  silent?: boolean;
  /** How often logged rows are sent to the daemon. Default 50 ms. */
  flushIntervalMs?: number;
  /** Rows per batch before an early send. Default 4,096. */
  batchSize?: number;
  /**
   * Bytes of encoded batches the client holds in memory while the daemon has not acknowledged
   * them; later batches wait in the run directory's spill file until it does. Default 64 MiB:
   * a 1 M-row loop of 10 scalars that never yields (~105 MB of batches) then spills ~40 MB; at
   * 32 MiB it spilled ~70 MB and log() until in the WAL fell from 1.56 to 1.25-1.35 M rows/s
   * (measured, docs/BENCHMARKS.md).
   */
  maxQueuedBytes?: number;
  /** How long finish() waits for the upload. Default 60 s. */
  finishTimeoutMs?: number;
  /** Most pixels (width x height) of one logged image; a larger one is TRK_ERR_INVALID_MEDIA. Default 67,108,864 (8,192 x 8,192). */
  maxImagePixels?: number;
  /** How long init() waits for a spawned daemon. Default 30 s. */
  daemonStartTimeoutMs?: number;
  /** Throw TRK_ERR_UNLOGGABLE / TRK_ERR_STEP_BACKWARDS from log() (after logging the rest) instead of warning. */
  strict?: boolean;
  /** Seconds between system metric samples (at least 1; 0 turns them off). Env TRACKSIDE_STATS_INTERVAL. Default 10. */
  statsInterval?: number;
  /** "auto" stores what the process prints as the run's output log; "off" does not. Env TRACKSIDE_CONSOLE. */
  console?: "auto" | "off";
}

/** Options of {@link init}. Every one also has an environment variable (see docs/configuration.md). */
export interface InitOptions {
  project?: string;
  entity?: string;
  config?: Record<string, unknown>;
  name?: string;
  id?: string;
  /** The run's description. */
  notes?: string;
  tags?: string[];
  group?: string;
  jobType?: string;
  mode?: Mode;
  resume?: ResumeMode | boolean;
  /** Where `trackside/run-.../` directories go. Default: the working directory. */
  dir?: string;
  /** Finish the active run and start a new one instead of returning the active run. */
  reinit?: boolean;
  settings?: AdvancedSettings;
}

export interface Settings {
  readonly project: string;
  readonly entity: string;
  /**
   * Nothing named the entity: no option, no TRACKSIDE_ENTITY, and no user stored with this very
   * key. `entity` is then the login name until init() has asked the server whose key it is.
   */
  readonly entityUnnamed: boolean;
  readonly id: string;
  readonly name: string;
  readonly notes: string | null;
  readonly tags: readonly string[];
  readonly group: string | null;
  readonly jobType: string | null;
  readonly config: Record<string, unknown>;
  readonly mode: Mode;
  readonly resume: ResumeMode | null;
  readonly dir: string;
  readonly baseUrl: string;
  readonly apiKey: string | null;
  readonly silent: boolean;
  readonly flushIntervalMs: number;
  readonly batchSize: number;
  readonly maxQueuedBytes: number;
  readonly finishTimeoutMs: number;
  readonly maxImagePixels: number;
  readonly daemonStartTimeoutMs: number;
  readonly strict: boolean;
  readonly reinit: boolean;
  readonly statsIntervalS: number;
  readonly console: "auto" | "off";
}

const MODES: readonly Mode[] = ["online", "offline", "disabled"];
const RESUMES: readonly ResumeMode[] = ["allow", "must", "never", "auto"];

export function resolveSettings(opts: InitOptions = {}, env: NodeJS.ProcessEnv = process.env): Settings {
  if (typeof opts !== "object" || opts === null) throw errors.invalidOption("options", opts, "an object");
  const adv = opts.settings ?? {};
  const mode = pick(opts.mode, env.TRACKSIDE_MODE, "online");
  if (!MODES.includes(mode as Mode)) throw errors.invalidOption("mode", mode, `one of ${MODES.join(", ")}`);

  const project = validateProject(pick(opts.project, env.TRACKSIDE_PROJECT, "uncategorized"));
  const id = opts.id ?? env.TRACKSIDE_RUN_ID;
  const runId = id === undefined ? generateRunId() : validateRunId(id);

  const baseUrl = normalizeBaseUrl(str("settings.baseUrl", pick(adv.baseUrl, env.TRACKSIDE_BASE_URL, DEFAULT_BASE_URL)));
  if (!/^https?:\/\/[^/]+/.test(baseUrl)) throw errors.invalidOption("settings.baseUrl", baseUrl, "an http:// or https:// URL");
  const credential = readCredential(baseUrl, env);
  const apiKey = adv.apiKey ?? env.TRACKSIDE_API_KEY ?? credential?.apiKey ?? null;
  if (mode === "online" && !apiKey) throw errors.noCredentials(baseUrl, credentialsPath(env));

  // The user stored with a key is that key's user (`trackside server` writes both); a key from
  // elsewhere may belong to another account than the login name: init() asks the server.
  const named = opts.entity ?? env.TRACKSIDE_ENTITY ?? (credential && credential.apiKey === apiKey ? credential.user : undefined);
  const entity = validateEntity(named ?? entityFromUserName(userInfo().username));

  const tags = checkTags("tags", opts.tags ?? (env.TRACKSIDE_TAGS ? env.TRACKSIDE_TAGS.split(",").map((t) => t.trim()).filter(Boolean) : []));
  const resumeRaw = opts.resume === true ? "auto" : opts.resume === false ? undefined : (opts.resume ?? env.TRACKSIDE_RESUME);
  if (resumeRaw !== undefined && !RESUMES.includes(resumeRaw as ResumeMode)) {
    throw errors.invalidOption("resume", resumeRaw, `one of ${RESUMES.join(", ")}`);
  }
  const config = opts.config ?? {};
  checkConfigObject(config, "config");

  return Object.freeze({
    project,
    entity,
    entityUnnamed: named === undefined,
    id: runId,
    name: limited("name", str("name", opts.name ?? env.TRACKSIDE_NAME ?? generateRunName()), MAX_NAME),
    notes: limited("notes", optStr("notes", opts.notes ?? env.TRACKSIDE_NOTES), MAX_NOTES),
    tags: Object.freeze([...new Set(tags)]),
    group: limited("group", optStr("group", opts.group ?? env.TRACKSIDE_GROUP), MAX_GROUP),
    jobType: limited("jobType", optStr("jobType", opts.jobType ?? env.TRACKSIDE_JOB_TYPE), MAX_JOB_TYPE),
    config: config as Record<string, unknown>,
    mode: mode as Mode,
    resume: (resumeRaw as ResumeMode | undefined) ?? null,
    dir: resolve(str("dir", pick(opts.dir, env.TRACKSIDE_DIR, process.cwd()))),
    baseUrl,
    apiKey,
    silent: adv.silent ?? env.TRACKSIDE_SILENT === "1",
    flushIntervalMs: num("settings.flushIntervalMs", adv.flushIntervalMs, 50, 1),
    batchSize: count("settings.batchSize", adv.batchSize, 4096, 1),
    // 8 batches in flight of 4,096 rows of 100 numbers are ~27 MB: a daemon that keeps up never
    // makes the queue reach the default (record-queue.ts MAX_IN_FLIGHT).
    maxQueuedBytes: count("settings.maxQueuedBytes", adv.maxQueuedBytes, 64 * 2 ** 20, 1),
    finishTimeoutMs: num("settings.finishTimeoutMs", adv.finishTimeoutMs, 60_000, 0),
    maxImagePixels: count("settings.maxImagePixels", adv.maxImagePixels, DEFAULT_MAX_IMAGE_PIXELS, 1),
    daemonStartTimeoutMs: num("settings.daemonStartTimeoutMs", adv.daemonStartTimeoutMs, 30_000, 100),
    strict: adv.strict ?? false,
    reinit: opts.reinit ?? false,
    statsIntervalS: statsInterval(adv.statsInterval ?? (env.TRACKSIDE_STATS_INTERVAL ? Number(env.TRACKSIDE_STATS_INTERVAL) : undefined)),
    console: consoleMode(adv.console ?? env.TRACKSIDE_CONSOLE ?? "auto"),
  });
}

function pick<T>(option: T | undefined, envValue: string | undefined, fallback: T): T | string {
  return option ?? (envValue !== undefined && envValue !== "" ? envValue : fallback);
}

function str(name: string, v: unknown): string {
  if (typeof v !== "string" || v.length === 0) throw errors.invalidOption(name, v, "a non-empty string");
  return v;
}

/**
 * The run's tags, checked against protocol/limits.ts (the daemon and the server check the same);
 * also used by the `run.tags` setter.
 */
export function checkTags(name: string, tags: unknown): readonly string[] {
  if (!Array.isArray(tags) || tags.some((t) => typeof t !== "string" || t.trim().length === 0)) {
    throw errors.invalidOption(name, tags, `an array of non-blank strings of at most ${MAX_TAG} characters`);
  }
  if (tags.length > MAX_TAGS) throw errors.tooLarge(`The ${name} list`, `${tags.length} tags`, MAX_TAGS);
  const long = (tags as string[]).find((t) => t.length > MAX_TAG);
  if (long !== undefined) throw errors.tooLarge(`The tag ${JSON.stringify(long.slice(0, 64) + "…")}`, `${long.length} characters`, MAX_TAG);
  return tags as string[];
}

/** A text option within its limit of protocol/limits.ts, or TRK_ERR_TOO_LARGE; null passes. */
export function limited<T extends string | null>(name: string, v: T, max: number): T {
  if (v !== null && v.length > max) throw errors.tooLarge(`The option ${name}`, `${v.length} characters`, max);
  return v;
}

function optStr(name: string, v: unknown): string | null {
  if (v === undefined || v === null || v === "") return null;
  if (typeof v !== "string") throw errors.invalidOption(name, v, "a string");
  return v;
}

function num(name: string, v: unknown, fallback: number, min: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min) throw errors.invalidOption(name, v, `a number >= ${min}`);
  return v;
}

function count(name: string, v: unknown, fallback: number, min: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) throw errors.invalidOption(name, v, `a whole number >= ${min}`);
  return v;
}

function statsInterval(v: unknown): number {
  if (v === undefined) return 10;
  if (typeof v !== "number" || !Number.isFinite(v) || (v !== 0 && v < 1)) {
    throw errors.invalidOption("settings.statsInterval", v, "a number of seconds >= 1, or 0 to turn system metrics off");
  }
  return v;
}

function consoleMode(v: unknown): "auto" | "off" {
  if (v !== "auto" && v !== "off") throw errors.invalidOption("settings.console", v, '"auto" or "off"');
  return v;
}
