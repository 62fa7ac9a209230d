/**
 * Resuming a run, with W&B's meaning: `allow` continues the run if it exists and creates it
 * otherwise; `must` requires it; `never` refuses it; `auto` remembers the run id in the run
 * directory's parent and continues it after a crash (the file goes once the run finishes with
 * exit code 0). A resumed run goes on after its last step and record, with its config and summary.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { API_PREFIX, errorOfResponse, errors, whyFetchFailed, type JsonObject, type RunView } from "../protocol/index.js";
import type { Settings } from "./settings.js";

export interface ResumePoint {
  firstSeq: number;
  firstStep: number;
  name: string;
  config: JsonObject;
  summary: JsonObject;
  createdAt: number;
}

/** `<dir>/trackside/resume.json`: the run that `resume: "auto"` continues. */
export function autoResumeFile(dir: string): string {
  return join(dir, "trackside", "resume.json");
}

/** With resume "auto", the id remembered for this project (if no id was given). */
export function rememberedId(settings: Settings, idGiven: boolean): string | null {
  if (settings.resume !== "auto" || idGiven) return null;
  try {
    const saved = JSON.parse(readFileSync(autoResumeFile(settings.dir), "utf8")) as { entity?: string; project?: string; id?: string };
    return saved.project === settings.project && saved.entity === settings.entity && typeof saved.id === "string" ? saved.id : null;
  } catch {
    return null;
  }
}

export function rememberRun(settings: Settings): void {
  const file = autoResumeFile(settings.dir);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify({ entity: settings.entity, project: settings.project, id: settings.id }) + "\n");
}

export function forgetRun(dir: string): void {
  rmSync(autoResumeFile(dir), { force: true });
}

async function fetchRun(settings: Settings): Promise<RunView | null> {
  const path = [settings.entity, settings.project, settings.id].map(encodeURIComponent).join("/");
  let res: Response;
  try {
    res = await fetch(`${settings.baseUrl}${API_PREFIX}/runs/${path}`, {
      headers: settings.apiKey ? { authorization: `Bearer ${settings.apiKey}` } : {},
      signal: AbortSignal.timeout(settings.daemonStartTimeoutMs),
    });
  } catch (err) {
    throw errors.serverUnreachable(settings.baseUrl, `resuming needs the server (${whyFetchFailed(err)})`);
  }
  if (res.status === 404) return null;
  // The server's own error when it gave one: a bad key is TRK_ERR_UNAUTHORIZED.
  if (!res.ok) throw errorOfResponse(settings.baseUrl, res.status, await res.text());
  return (await res.json()) as RunView;
}

/** Where the run continues, or null for a new run; throws for must/never. */
export async function resumePoint(settings: Settings, nameGiven: boolean): Promise<ResumePoint | null> {
  if (!settings.resume || settings.mode !== "online") return null; // offline runs are never resumed (as in W&B)
  const path = `${settings.entity}/${settings.project}/${settings.id}`;
  const view = await fetchRun(settings);
  if (!view) {
    if (settings.resume === "must") throw errors.resumeNotFound(path);
    return null;
  }
  if (settings.resume === "never") throw errors.runExists(path);
  const lastStep = typeof view.summary._step === "number" ? view.summary._step : -1;
  return {
    firstSeq: view.lastSeq + 1,
    firstStep: lastStep + 1,
    name: nameGiven ? settings.name : view.name,
    config: { ...view.config, ...settings.config },
    summary: view.summary,
    createdAt: Date.parse(view.createdAt),
  };
}

/**
 * Where the run goes on, once the daemon has said up to where it holds it: the later of the
 * server's point and the daemon's. The daemon's is later when it still uploads an earlier
 * process of this run (or holds one the server has not seen): numbering from the server's last
 * seq would reuse numbers of records on their way, and the server, which keys records by
 * (run, seq), would keep only one of each pair. Null when the run starts fresh.
 */
export function continueAfter(point: ResumePoint | null, daemon: { nextSeq: number; nextStep: number }, settings: Settings, startedAt: number): ResumePoint | null {
  const firstSeq = point?.firstSeq ?? 1;
  const firstStep = point?.firstStep ?? 0;
  if (daemon.nextSeq <= firstSeq && daemon.nextStep <= firstStep) return point;
  const base = point ?? { name: settings.name, config: settings.config, summary: {}, createdAt: startedAt };
  return { ...base, firstSeq: Math.max(firstSeq, daemon.nextSeq), firstStep: Math.max(firstStep, daemon.nextStep) };
}
