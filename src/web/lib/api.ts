/**
 * The app's calls to the server's JSON API: same origin, signed in by the session cookie. Every
 * call sends `x-trackside: 1`, which the server requires of cookie-signed requests that change
 * something (its CSRF rule); other sites' pages cannot add it.
 */
import type { ErrorBody } from "../../protocol/api";

export const API = "/api/v1";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(API + path, {
    method,
    credentials: "same-origin",
    headers: { "x-trackside": "1", ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) {
    const err = (await res.json().catch(() => null)) as ErrorBody | null;
    throw new ApiError(res.status, err?.error.code ?? "TRK_ERR_INTERNAL", err?.error.message ?? `${method} ${path}: HTTP ${res.status}`);
  }
  return (await res.json()) as T;
}

export const get = <T>(path: string) => call<T>("GET", path);
export const patch = <T>(path: string, body: unknown) => call<T>("PATCH", path, body);
export const post = <T>(path: string, body: unknown = {}) => call<T>("POST", path, body);
export const put = <T>(path: string, body: unknown) => call<T>("PUT", path, body);
export const del = <T>(path: string) => call<T>("DELETE", path);

/** `/<entity>` or `/<entity>/<project>`: the app's page of an entity or a project, each part percent-encoded. */
export function pageHref(entity: string, project?: string): string {
  const e = encodeURIComponent;
  return `/${e(entity)}${project === undefined ? "" : `/${e(project)}`}`;
}

/** `/runs/<entity>/<project>[/<id>]` with each part percent-encoded. */
export function runsPath(entity: string, project: string, id?: string): string {
  const e = encodeURIComponent;
  return `/runs/${e(entity)}/${e(project)}${id === undefined ? "" : `/${e(id)}`}`;
}

/** A query string from the defined entries. */
export function qs(params: Record<string, string | number | undefined | null>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : "";
}

/** JSON carries NaN and the infinities as strings: turns them back into numbers. */
export function num(v: unknown): number | null {
  if (typeof v === "number") return v;
  if (v === "NaN") return NaN;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  return null;
}

/** `/artifacts/<entity>/<project>[/<name>[/<alias>]]`: the artifact API's paths, each part percent-encoded. */
export function artifactsPath(entity: string, project: string, name?: string, alias?: string): string {
  const e = encodeURIComponent;
  return `/artifacts/${e(entity)}/${e(project)}${name === undefined ? "" : `/${e(name)}`}${alias === undefined ? "" : `/${e(alias)}`}`;
}

/** `/<entity>/<project>/artifacts[/<name>[/<alias>]]`: the app's artifact pages. */
export function artifactHref(entity: string, project: string, name?: string, alias?: string): string {
  const e = encodeURIComponent;
  return `${pageHref(entity, project)}/artifacts${name === undefined ? "" : `/${e(name)}`}${alias === undefined ? "" : `/${e(alias)}`}`;
}

/** `/<entity>/<project>/runs/<id>`: a run's page. */
export function runHref(entity: string, project: string, id: string): string {
  return `${pageHref(entity, project)}/runs/${encodeURIComponent(id)}`;
}
