/**
 * init() and finish(): resolve the settings, find or spawn the daemon, open the run, print one
 * line. At most one active run per process; a second init() returns it unless `reinit` is set.
 */
import { mkdirSync } from "node:fs";
import { hostname, platform, release } from "node:os";
import { join, resolve } from "node:path";
import { PACKAGE_VERSION, TracksideError, errors, isTracksideError, type RunOpenSettings } from "../protocol/index.js";
import { DaemonChannel, connectDaemon, newRunSecret, type OpenedAt } from "./daemon-channel.js";
import { installExitHooks } from "./exit-hooks.js";
import { checkEntityWrite, entityNeedsCheck } from "./entity-access.js";
import { keyEntity } from "./key-entity.js";
import { Notices } from "./notices.js";
import { Run, type FinishResult } from "./run.js";
import { continueAfter, rememberRun, rememberedId, resumePoint } from "./resume.js";
import { resolveSettings, type InitOptions } from "./settings.js";

/** The active run of this process (`trackside.run`), or null. An ESM live binding. */
export let active: Run | null = null;

export function currentRun(): Run | null {
  return active;
}

/**
 * Starts a run (or returns the active one) and resolves once the daemon holds it.
 * @example
 * import * as trackside from "trackside";
 * const run = await trackside.init({ project: "mnist", config: { lr: 1e-3 } });
 * for (let step = 0; step < 100; step++) run.log({ loss: 1 / (step + 1) });
 * await run.finish();
 */
export async function init(options: InitOptions = {}): Promise<Run> {
  if (active && !active.isFinished) {
    if (!options.reinit) return active;
    await active.finish();
  }
  let settings = resolveSettings(options);
  const notices = new Notices(settings.silent);
  if (settings.mode === "online" && settings.entityUnnamed && settings.apiKey) {
    try {
      settings = Object.freeze({ ...settings, entity: await keyEntity(settings.baseUrl, settings.apiKey) });
    } catch (err) {
      // A key the server does not know: every upload would be refused. Said now, not after the run.
      if (isTracksideError(err, "TRK_ERR_UNAUTHORIZED")) throw errors.unknownKey(settings.baseUrl);
      // Otherwise the run goes on, as it does while the server is down; if the login name is not
      // the key's entity, the server will refuse its uploads, which stay on disk for `trackside sync`.
      const why = isTracksideError(err) ? err : errors.serverUnreachable(settings.baseUrl, (err as Error).message);
      notices.warn(new TracksideError(why.code, `${why.message} The run goes to entity "${settings.entity}" (from your login name): set entity or TRACKSIDE_ENTITY if the key belongs to another.`));
    }
  } else if (settings.mode === "online" && settings.apiKey && entityNeedsCheck(settings.baseUrl, settings.apiKey, settings.entity)) {
    // A named entity that may not be the key's user's (a team's): refused here, before the
    // daemon is found or spawned and before the run directory is made.
    try {
      await checkEntityWrite(settings.baseUrl, settings.apiKey, settings.entity);
    } catch (err) {
      if (isTracksideError(err, "TRK_ERR_FORBIDDEN") || isTracksideError(err, "TRK_ERR_UNAUTHORIZED")) throw err;
      // As above: an unreachable server only delays; if the key may not write there, the server
      // refuses the uploads, which stay on disk for `trackside sync`.
      const why = isTracksideError(err) ? err : errors.serverUnreachable(settings.baseUrl, (err as Error).message);
      notices.warn(new TracksideError(why.code, `${why.message} Could not check that this key may log runs to entity "${settings.entity}"; the run goes on.`));
    }
  }
  const remembered = rememberedId(settings, options.id !== undefined || !!process.env.TRACKSIDE_RUN_ID);
  if (remembered) settings = Object.freeze({ ...settings, id: remembered });
  const startedAt = Date.now();
  const onEnd = (run: Run): void => {
    if (active === run) active = null;
  };
  if (settings.mode === "disabled") {
    active = new Run({ settings, runDir: null, channel: null, notices, startedAt, onEnd });
    return active;
  }

  const fromServer = await resumePoint(settings, options.name !== undefined || !!process.env.TRACKSIDE_NAME);
  const runDir = freshRunDir(join(settings.dir, "trackside"), stamp(new Date(startedAt)), settings.id);
  mkdirSync(join(runDir, "files"), { recursive: true });
  const link = await connectDaemon(settings.daemonStartTimeoutMs);
  const open: RunOpenSettings = {
    run: { id: settings.id, entity: settings.entity, project: settings.project, name: settings.name, notes: settings.notes, tags: [...settings.tags], group: settings.group, jobType: settings.jobType, config: {}, createdAt: startedAt, program: program() },
    mode: settings.mode === "offline" ? "offline" : "online",
    runDir,
    baseUrl: settings.baseUrl,
    apiKey: settings.apiKey,
    pid: process.pid,
    firstSeq: fromServer?.firstSeq ?? 1,
    statsIntervalS: settings.statsIntervalS,
    env: whereItRuns(process.env),
    // Absolute: the shared daemon runs in another directory (and checks that it is absolute).
    ...(process.env.NODE_EXTRA_CA_CERTS ? { caFile: resolve(process.env.NODE_EXTRA_CA_CERTS) } : {}),
    secret: newRunSecret(),
  };
  const channel = new DaemonChannel(link, open, settings.daemonStartTimeoutMs, (line) => notices.info(line));
  let opened: OpenedAt;
  try {
    opened = await channel.openRun(settings.daemonStartTimeoutMs);
  } catch (err) {
    channel.close();
    throw err;
  }
  // The daemon may hold more of this run than the server has (resume.ts, continueAfter).
  const resume = continueAfter(fromServer, opened, settings, startedAt);
  const run = new Run({ settings, runDir, channel, notices, startedAt, onEnd, resume });
  // The run record goes into the WAL before init() returns: a run killed right after init()
  // still exists on the server, as crashed.
  await run.begin(open.run.program);
  channel.startHeartbeat();
  active = run;
  installExitHooks(currentRun);
  if (settings.resume === "auto" && settings.mode === "online") rememberRun(settings);
  if (settings.mode === "offline") notices.info(`offline run ${run.name} (${run.id}) in ${runDir}`);
  else notices.info(`${resume ? "resuming" : "run"} ${run.name} (${run.id})${resume ? ` at step ${run.step}` : ""} at ${run.url}`);
  return run;
}

/** Finishes the active run, if any. */
export async function finish(exitCode?: number): Promise<FinishResult | null> {
  return active ? active.finish(exitCode) : null;
}

function program() {
  return {
    executable: process.execPath,
    args: process.argv.slice(1),
    cwd: process.cwd(),
    pid: process.pid,
    host: hostname(),
    nodeVersion: process.version,
    os: `${platform()} ${release()}`,
    tracksideVersion: PACKAGE_VERSION,
  };
}

/**
 * A run directory of this process's own, made here. A second process of the same run in the same
 * second (a quick resume) gets `run-<stamp>-2-<id>`: a directory, its WAL and its upload offset
 * belong to one process's stream, which the daemon may still be uploading.
 */
function freshRunDir(parent: string, stamp: string, id: string): string {
  mkdirSync(parent, { recursive: true });
  for (let n = 1; ; n++) {
    const dir = join(parent, n === 1 ? `run-${stamp}-${id}` : `run-${stamp}-${n}-${id}`);
    try {
      mkdirSync(dir);
      return dir;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
}

function stamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}_${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** The environment variables that tell where a run runs: an allow-list, never the whole environment. */
const WHERE_IT_RUNS = /^(SLURM_\w+|CUDA_VISIBLE_DEVICES|CI|GITHUB_(ACTIONS|RUN_ID|REPOSITORY|SHA|WORKFLOW)|GITLAB_CI|BUILDKITE|JENKINS_URL|KUBERNETES_SERVICE_HOST)$/;

function whereItRuns(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && WHERE_IT_RUNS.test(k)) out[k] = v;
  return out;
}
