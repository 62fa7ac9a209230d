/**
 * Whether the key's user may log runs to the entity that init() was told to use (a team's, or
 * someone else's): asked of the server (`GET /api/v1/entities/:entity`) before the daemon is
 * found or spawned and before the run directory is made, so that a run the server would refuse
 * fails at init() with TRK_ERR_FORBIDDEN instead of leaving a run directory whose every upload is
 * refused. Not asked for the user that ~/.trackside/credentials pairs with this very key: local
 * use pays no round trip.
 */
import { API_PREFIX, errors, getJson, isTracksideError, readCredential, type EntityView, type ViewerView } from "../protocol/index.js";

/** A server that does not answer must not hold init() up for long: the run goes on without it. */
const ENTITY_TIMEOUT_MS = 5000;

/**
 * True when the entity needs the server's word: it is not the user stored with this key in the
 * credentials file (a key typed into TRACKSIDE_API_KEY, or another user's entity named).
 */
export function entityNeedsCheck(baseUrl: string, apiKey: string, entity: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const credential = readCredential(baseUrl, env);
  return !(credential && credential.apiKey === apiKey && credential.user === entity);
}

/**
 * Resolves when the key's user may log runs to `entity`.
 *
 * @throws TRK_ERR_FORBIDDEN when the server says they may not, or that the entity does not exist;
 *   TRK_ERR_UNAUTHORIZED when it does not know the key; any other TracksideError (the server is
 *   unreachable) for the caller to warn about and go on.
 * @example
 * await checkEntityWrite("https://track.example.com", key, "vision");
 */
export async function checkEntityWrite(baseUrl: string, apiKey: string, entity: string): Promise<void> {
  let view: EntityView | null;
  try {
    view = await getJson<EntityView>(baseUrl, `${API_PREFIX}/entities/${encodeURIComponent(entity)}`, apiKey, ENTITY_TIMEOUT_MS);
  } catch (err) {
    if (isTracksideError(err, "TRK_ERR_UNAUTHORIZED")) throw errors.unknownKey(baseUrl);
    if (!isTracksideError(err, "TRK_ERR_NOT_FOUND")) throw err;
    view = null;
  }
  if (view?.canWrite === true) return;
  const name = await keyUserName(baseUrl, apiKey);
  // The key's own entity is always its user's to write: a server from before teams, which has no
  // /entities route, answers 404 there, and that must not refuse a user their own runs.
  if (name === entity) return;
  const user = name === null ? "this API key's user" : `user ${JSON.stringify(name)}`;
  if (view === null) {
    throw errors.forbidden(
      `${user} cannot log runs to entity "${entity}": there is no user or team of that name on ${baseUrl}`,
      `Check the name (entity or TRACKSIDE_ENTITY), or create the team first: \`trackside teams create ${entity}\`.`,
    );
  }
  if (view.kind === "user") {
    throw errors.forbidden(
      `${user} cannot log runs to entity "${entity}": it is another user's, and only they log runs there`,
      "Log to your own entity (leave entity unset) or to a team you are a member of.",
    );
  }
  throw errors.forbidden(
    `${user} cannot log runs to team "${entity}": ${view.role === null ? "they are not a member of it" : `their role there is ${view.role}, which only reads runs`}`,
    `Ask an admin of the team to make them a member: \`trackside teams add ${entity} ${name ?? "USER"} --role member\`.`,
  );
}

/** The key's user as the server names it, for the message (asked only on a refusal); null when it cannot say. */
async function keyUserName(baseUrl: string, apiKey: string): Promise<string | null> {
  try {
    const viewer = await getJson<Partial<ViewerView> | null>(baseUrl, `${API_PREFIX}/viewer`, apiKey, ENTITY_TIMEOUT_MS);
    return typeof viewer?.user === "string" ? viewer.user : null;
  } catch {
    return null; // the refusal stands without the name
  }
}
