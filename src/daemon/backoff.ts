/**
 * Capped exponential backoff with full-range jitter of ±25 % (W&B uses 2 s·2^n capped at 60 s with
 * up to 25 % jitter; we start lower because our server is usually on loopback and comes back fast).
 */
export interface BackoffOptions {
  baseMs?: number;
  maxMs?: number;
  random?: () => number;
}

export function backoffDelay(attempt: number, opts: BackoffOptions = {}): number {
  const base = opts.baseMs ?? 250;
  const max = opts.maxMs ?? 60_000;
  const random = opts.random ?? Math.random;
  const raw = Math.min(max, base * 2 ** Math.min(attempt, 30));
  return Math.round(raw * (0.75 + random() * 0.5));
}

/** HTTP statuses worth retrying: the server may answer differently later. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 425 || status === 429 || status >= 500;
}

/**
 * Codes with which a trackside server refuses what a body holds (a record, a value, a size):
 * the same frame will be refused every time, but the frames after it may well be accepted.
 * Codes about the request itself (the key, the entity, the run's path) are not among them: those
 * would refuse every frame alike, so they stop the upload with the data kept (a fatal error).
 */
const FRAME_FAULTS = new Set(["TRK_ERR_BAD_REQUEST", "TRK_ERR_BAD_VALUE", "TRK_ERR_TOO_LARGE", "TRK_ERR_BAD_SEQUENCE", "TRK_ERR_UNLOGGABLE", "TRK_ERR_STEP_BACKWARDS"]);

/** What a server's answer to an upload means for the frames it carried. */
export type UploadAnswer =
  | { kind: "ok" }
  /** Try the same body again later (the server is down, busy, or timed out). */
  | { kind: "retry"; why: string; status?: number }
  /** The body holds something the server will never accept: find the frame and set it aside. */
  | { kind: "refused"; why: string; status: number }
  /** Nothing will be accepted until a person acts (a wrong key, an unknown entity): stop, keep the data. */
  | { kind: "fatal"; why: string; status: number };

/**
 * Classifies an answer to a records POST. A `400`, `413` or `422` is the frame's fault only when
 * it carries one of trackside's frame-fault codes: the same status from something else (a
 * proxy's page, a proxy's body limit) is not known to be, and setting the run aside frame by
 * frame on its word would be worse than stopping with the data kept.
 *
 * @example
 * classifyAnswer(400, '{"error":{"code":"TRK_ERR_BAD_REQUEST","message":"record 0: ..."}}') // refused
 * classifyAnswer(401, '{"error":{"code":"TRK_ERR_UNAUTHORIZED","message":"..."}}')          // fatal
 */
export function classifyAnswer(status: number, text: string): UploadAnswer {
  if (status >= 200 && status < 300) return { kind: "ok" };
  const { code, message } = serverError(status, text);
  const why = code ? `${code}: ${message}` : message;
  if (isRetryableStatus(status)) return { kind: "retry", why, status };
  if ((status === 400 || status === 413 || status === 422) && code !== null && FRAME_FAULTS.has(code)) return { kind: "refused", why, status };
  if (status === 413 && code === null) {
    // A proxy in front of the server (nginx takes 1 MB by default): every large body would be
    // refused alike, so its frames are not at fault. Stop, keep the data, and say what to change.
    return { kind: "fatal", why: `${why} (a proxy in front of the server refuses bodies this large: raise its limit to 64 MiB, e.g. nginx's client_max_body_size)`, status };
  }
  return { kind: "fatal", why, status };
}

/** The coded error of a trackside answer (`{ error: { code, message } }`), or the status and an excerpt of any other. */
export function serverError(status: number, text: string): { code: string | null; message: string } {
  try {
    const e = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    if (e && typeof e.code === "string" && typeof e.message === "string") return { code: e.code, message: e.message.slice(0, 1000) };
  } catch {
    // not trackside's JSON
  }
  const excerpt = text.trim().slice(0, 300);
  return { code: null, message: `HTTP ${status}${excerpt ? ` (${JSON.stringify(excerpt)})` : ""}` };
}
