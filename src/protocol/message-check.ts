/**
 * Checks each client request at the daemon's boundary, once: every field of every message type,
 * before the daemon acts on any. A malformed header is TRK_ERR_BAD_FRAME; `open`'s settings get
 * the codes of what is wrong in them (TRK_ERR_INVALID_ID, _PROJECT, _ENTITY, _OPTION), because
 * they come from the user's options. Record batches are checked apart (record-check.ts), and
 * sequence numbers against the run (the daemon's run stream).
 */
import { basename, isAbsolute, normalize } from "node:path";
import { errors, show } from "./errors.js";
import { validateEntity, validateProject, validateRunId } from "./ids.js";
import { QUEUE_ENTRY_PATTERN } from "./artifacts.js";
import { assertNever, type ClientMessage, type RunOpenSettings } from "./messages.js";
import type { RunInfo } from "./records.js";

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
const isPid = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;
/** A run path (entity/project/id: at most 64 + 128 + 64 characters and two slashes) with room to spare. */
const MAX_RUN_PATH = 512;
/** The secret is 43 characters (32 bytes, base64url); the bounds only keep out what cannot be one. */
const SECRET_MIN = 16;
const SECRET_MAX = 256;
/** A day: longer than any finish() timeout a person waits on, short enough for setTimeout's 32 bits. */
const MAX_TIMEOUT_MS = 86_400_000;
/** The env allow-list (client/init.ts) passes a handful of variables; this bounds a forged open. */
const MAX_ENV_VARS = 256;
const MAX_ENV_BYTES = 64 * 1024;

/**
 * Returns `m` (already a map with a known `t` and a numeric `id`) as the message it claims to be,
 * or throws: TRK_ERR_BAD_FRAME for a malformed field, the settings' own codes for `open`.
 *
 * @example
 * checkClientMessage({ t: "status", id: 3, runPath: "alice/mnist/a1b2c3d4" });
 */
export function checkClientMessage(m: Obj & { t: ClientMessage["t"]; id: number }): ClientMessage {
  if (!Number.isSafeInteger(m.id) || m.id < 0) throw errors.badFrame(`message id ${String(m.id)} is not a non-negative integer`);
  const t = m.t;
  switch (t) {
    case "hello":
      if (typeof m.protocol !== "number") throw errors.badFrame("hello without a numeric protocol version");
      if (typeof m.version !== "string" || m.version.length > 64) throw errors.badFrame("hello without a version string");
      if (!isPid(m.pid)) throw errors.badFrame(`hello with pid ${show(m.pid)}, not a process id`);
      if (m.token !== undefined && (typeof m.token !== "string" || m.token.length > 1024)) throw errors.badFrame("hello with a token that is not a string");
      return m as ClientMessage;
    case "open":
      validateOpenSettings(m.settings);
      return m as ClientMessage;
    case "records":
      runPath(m, t);
      // Numbers here; whether they are safe integers that continue the run is the run's check
      // (TRK_ERR_BAD_SEQUENCE), made against what the run holds.
      if (typeof m.first !== "number" || typeof m.last !== "number") throw errors.badFrame("records without numeric first and last");
      if (m.exit !== undefined && typeof m.exit !== "boolean") throw errors.badFrame("records with a non-boolean exit flag");
      return m as ClientMessage;
    case "finish":
      runPath(m, t);
      if (typeof m.timeoutMs !== "number" || !(m.timeoutMs >= 0 && m.timeoutMs <= MAX_TIMEOUT_MS)) {
        throw errors.badFrame(`finish with timeoutMs ${show(m.timeoutMs)} (0 to ${MAX_TIMEOUT_MS})`);
      }
      return m as ClientMessage;
    case "status":
      runPath(m, t);
      return m as ClientMessage;
    case "artifact":
    case "artifact-wait":
      runPath(m, t);
      // The entry names a file in the run directory: nothing but the queue's own names.
      if (typeof m.entry !== "string" || !QUEUE_ENTRY_PATTERN.test(m.entry)) throw errors.badFrame(`${t} with entry ${show(m.entry)}, not a queue entry name`);
      if (t === "artifact-wait" && (typeof m.timeoutMs !== "number" || !(m.timeoutMs >= 0 && m.timeoutMs <= MAX_TIMEOUT_MS))) {
        throw errors.badFrame(`artifact-wait with timeoutMs ${show(m.timeoutMs)} (0 to ${MAX_TIMEOUT_MS})`);
      }
      return m as ClientMessage;
    case "ping":
    case "bye":
      return m as ClientMessage;
    default:
      return assertNever(t);
  }
}

function runPath(m: Obj, t: string): void {
  const p = m.runPath;
  if (typeof p !== "string" || p.length === 0 || p.length > MAX_RUN_PATH || p.split("/").length !== 3) {
    throw errors.badFrame(`${t} without a run path entity/project/id`);
  }
}

/**
 * Checks `open`'s settings, the explicit allow-list of what crosses from a client to the daemon
 * for one run: the run's id, entity and project by the rules every part applies (ids.ts), a run
 * directory that is an absolute path made by a client for this run (`.../run-<stamp>-<id>`: the
 * daemon writes the WAL, files and logs there, so it must not be any directory a client names),
 * and every other field's type and range.
 *
 * @example
 * validateOpenSettings(msg.settings); // throws TRK_ERR_INVALID_OPTION naming open.runDir for "relative/dir"
 */
export function validateOpenSettings(s: unknown): RunOpenSettings {
  const bad = (name: string, value: unknown, expected: string) => errors.invalidOption(`open.${name}`, value, expected);
  if (!isObject(s)) throw errors.badFrame("open without run settings");
  const run = validateRunInfo(s.run);
  if (s.mode !== "online" && s.mode !== "offline") throw bad("mode", s.mode, '"online" or "offline"');
  const dir = s.runDir;
  if (typeof dir !== "string" || !isAbsolute(dir) || normalize(dir) !== dir || dir.includes("\0")) {
    throw bad("runDir", dir, "an absolute, normalized path");
  }
  const base = basename(dir);
  if (!base.startsWith("run-") || !base.endsWith(`-${run.id}`)) throw bad("runDir", dir, `a run directory .../run-<time>-${run.id} made for this run`);
  if (typeof s.baseUrl !== "string" || !/^https?:\/\/[^/]+/.test(s.baseUrl)) throw bad("baseUrl", s.baseUrl, "an http:// or https:// URL");
  if (s.apiKey !== null && typeof s.apiKey !== "string") throw bad("apiKey", "(not shown)", "a string or null");
  if (s.mode === "online" && !s.apiKey) throw bad("apiKey", s.apiKey, "an API key for an online run");
  if (!isPid(s.pid)) throw bad("pid", s.pid, "a process id");
  if (!Number.isSafeInteger(s.firstSeq) || (s.firstSeq as number) < 1) throw bad("firstSeq", s.firstSeq, "a safe integer >= 1");
  const stats = s.statsIntervalS;
  if (typeof stats !== "number" || !Number.isFinite(stats) || (stats !== 0 && (stats < 1 || stats > 86_400))) {
    throw bad("statsIntervalS", stats, "0, or a number of seconds from 1 to 86400");
  }
  if (!isObject(s.env)) throw bad("env", s.env, "an object of strings");
  const env = Object.entries(s.env);
  if (env.length > MAX_ENV_VARS || env.some(([, v]) => typeof v !== "string")) throw bad("env", "(not shown)", `at most ${MAX_ENV_VARS} variables, each a string`);
  if (env.reduce((n, [k, v]) => n + k.length + (v as string).length, 0) > MAX_ENV_BYTES) throw bad("env", "(not shown)", `at most ${MAX_ENV_BYTES} characters in all`);
  if (s.caFile !== undefined && (typeof s.caFile !== "string" || !isAbsolute(s.caFile))) throw bad("caFile", s.caFile, "an absolute path");
  if (typeof s.secret !== "string" || s.secret.length < SECRET_MIN || s.secret.length > SECRET_MAX) {
    throw bad("secret", "(not shown)", `the run's secret, a string of ${SECRET_MIN} to ${SECRET_MAX} characters (a client of another version?)`);
  }
  return s as unknown as RunOpenSettings;
}

/** The fields of RunInfo the daemon uses (path, WAL name, probes); the rest reach the server in the run record, checked there. */
function validateRunInfo(run: unknown): RunInfo {
  const bad = (name: string, value: unknown, expected: string) => errors.invalidOption(`open.run.${name}`, value, expected);
  if (!isObject(run)) throw errors.invalidOption("open.run", run, "the run's info (id, entity, project, name, program...)");
  validateRunId(run.id);
  validateEntity(run.entity);
  validateProject(run.project);
  if (typeof run.name !== "string" || run.name.length === 0) throw bad("name", run.name, "a non-empty string");
  if (!Number.isFinite(run.createdAt)) throw bad("createdAt", run.createdAt, "a time in ms");
  const p = run.program;
  if (!isObject(p)) throw bad("program", p, "an object");
  if (typeof p.cwd !== "string" || !isAbsolute(p.cwd)) throw bad("program.cwd", p.cwd, "an absolute path");
  for (const key of ["executable", "host", "nodeVersion", "os", "tracksideVersion"]) {
    if (typeof p[key] !== "string") throw bad(`program.${key}`, p[key], "a string");
  }
  if (!Array.isArray(p.args) || p.args.some((a) => typeof a !== "string")) throw bad("program.args", p.args, "an array of strings");
  if (!isPid(p.pid)) throw bad("program.pid", p.pid, "a process id");
  return run as unknown as RunInfo;
}
