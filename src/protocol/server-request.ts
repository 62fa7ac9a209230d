/**
 * One request to the tracking server's JSON API, for the CLI and the client: every failure is a
 * TracksideError. The server's own `{error: {code, message}}` comes back as is; a server that does
 * not answer, or something else that does, is TRK_ERR_SERVER_UNREACHABLE.
 */
import { errorOfResponse, errors, whyFetchFailed } from "./errors.js";

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/**
 * `method` `path` on the server at `baseUrl`, with `body` as JSON when given; the parsed JSON reply.
 *
 * @example
 * const team = await requestJson<TeamView>(url, "PUT", "/api/v1/teams/vision/members/bob", key, { role: "member" }, 30_000);
 */
export async function requestJson<T>(baseUrl: string, method: HttpMethod, path: string, apiKey: string | null, body: unknown, timeoutMs: number): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (apiKey) headers.authorization = `Bearer ${apiKey}`;
  // fastify refuses a JSON content type with an empty body: only a request with a body says it has one.
  if (body !== undefined) headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    throw errors.serverUnreachable(baseUrl, whyFetchFailed(err, timeoutMs));
  }
  const text = await res.text();
  if (!res.ok) throw errorOfResponse(baseUrl, res.status, text);
  try {
    return JSON.parse(text) as T;
  } catch {
    // Not our server (a proxy's page, another service on the port).
    throw errors.serverUnreachable(baseUrl, `HTTP ${res.status} with a body that is not trackside JSON`);
  }
}

/** GET `path`: {@link requestJson} without a body. */
export function getJson<T>(baseUrl: string, path: string, apiKey: string | null, timeoutMs: number): Promise<T> {
  return requestJson<T>(baseUrl, "GET", path, apiKey, undefined, timeoutMs);
}
