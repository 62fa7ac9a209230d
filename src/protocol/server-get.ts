/**
 * One GET of the tracking server's JSON API, for the CLI and the client: every failure is a
 * TracksideError. The server's own `{error: {code, message}}` comes back as is; a server that does
 * not answer, or something else that does, is TRK_ERR_SERVER_UNREACHABLE.
 */
import { errorOfResponse, errors, whyFetchFailed } from "./errors.js";

export async function getJson<T>(baseUrl: string, path: string, apiKey: string | null, timeoutMs: number): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${baseUrl}${path}`, {
      headers: { accept: "application/json", ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
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
