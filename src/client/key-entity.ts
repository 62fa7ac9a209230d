/**
 * The entity a run goes to when nothing names one: the API key's, as the server says
 * (`GET /api/v1/viewer`; W&B asks its server at init too). Asked only for a key that
 * ~/.trackside/credentials does not pair with its user, such as a key of another machine's
 * server: local use does not pay for the round trip.
 */
import { API_PREFIX, errorOfResponse, errors, validateEntity, whyFetchFailed, type ViewerView } from "../protocol/index.js";

/** A server that does not answer must not hold init() up for long: the run goes on without it. */
const VIEWER_TIMEOUT_MS = 5000;

export async function keyEntity(baseUrl: string, apiKey: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(`${baseUrl}${API_PREFIX}/viewer`, { headers: { authorization: `Bearer ${apiKey}` }, signal: AbortSignal.timeout(VIEWER_TIMEOUT_MS) });
  } catch (err) {
    throw errors.serverUnreachable(baseUrl, whyFetchFailed(err, VIEWER_TIMEOUT_MS));
  }
  const text = await res.text();
  if (!res.ok) throw errorOfResponse(baseUrl, res.status, text);
  let view: Partial<ViewerView>;
  try {
    view = JSON.parse(text) as Partial<ViewerView>;
  } catch {
    throw errors.serverUnreachable(baseUrl, `HTTP ${res.status} with a body that is not trackside JSON`);
  }
  return validateEntity(view.entity);
}
