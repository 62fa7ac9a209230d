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
