/**
 * The entity a run goes to when nothing names one: the API key's, as the server says
 * (`GET /api/v1/viewer`; W&B asks its server at init too). Asked only for a key that
 * ~/.trackside/credentials does not pair with its user, such as a key of another machine's
 * server: local use does not pay for the round trip.
 */
import { API_PREFIX, getJson, validateEntity, type ViewerView } from "../protocol/index.js";

/** A server that does not answer must not hold init() up for long: the run goes on without it. */
const VIEWER_TIMEOUT_MS = 5000;

export async function keyEntity(baseUrl: string, apiKey: string): Promise<string> {
  const view = await getJson<Partial<ViewerView> | null>(baseUrl, `${API_PREFIX}/viewer`, apiKey, VIEWER_TIMEOUT_MS);
  return validateEntity(view?.entity);
}
