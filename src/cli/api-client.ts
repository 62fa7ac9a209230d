/**
 * A small client of the tracking server's JSON API for CLI commands. It turns every failure into
 * a TracksideError: the server's own `{error: {code, message}}` comes back as is, and a server
 * that does not answer is TRK_ERR_SERVER_UNREACHABLE, so main.ts prints one coded line.
 */
import { API_PREFIX } from "../protocol/api.js";
import { errorOfResponse, errors, whyFetchFailed } from "../protocol/errors.js";
import { DEFAULT_BASE_URL, normalizeBaseUrl, readCredential } from "../protocol/local-config.js";

/** A CLI request waits at most this long: long enough for a big history, short for a hung server. */
const REQUEST_TIMEOUT_MS = 30_000;

export interface Connection {
  baseUrl: string;
  /** null: anonymous (public runs only). */
  apiKey: string | null;
}

/**
 * Where to connect and with which key: --base-url, else TRACKSIDE_BASE_URL, else the local
 * default; TRACKSIDE_API_KEY, else the credentials file's key for that URL.
 *
 * @example
 * resolveConnection({}) // { baseUrl: "http://127.0.0.1:8421", apiKey: "trk_..." }
 */
export function resolveConnection(opts: { baseUrl?: string }, env: NodeJS.ProcessEnv = process.env): Connection {
  const baseUrl = normalizeBaseUrl(opts.baseUrl || env.TRACKSIDE_BASE_URL || DEFAULT_BASE_URL);
  const apiKey = env.TRACKSIDE_API_KEY || readCredential(baseUrl, env)?.apiKey || null;
  return { baseUrl, apiKey };
}

/**
 * @example
 * const api = new ApiClient(resolveConnection({}));
 * const run = await api.get<RunView>(`/runs/alice/mnist/a1b2c3d4`);
 */
export class ApiClient {
  readonly baseUrl: string;
  private readonly apiKey: string | null;

  constructor(connection: Connection) {
    this.baseUrl = connection.baseUrl;
    this.apiKey = connection.apiKey;
  }

  /** GET `/api/v1<path>` with the query's defined values; the parsed JSON reply. */
  get<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    const qs = params.size > 0 ? `?${params}` : "";
    return this.request<T>("GET", `${API_PREFIX}${path}${qs}`);
  }

  private async request<T>(method: string, path: string): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: { accept: "application/json", ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}) },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      throw errors.serverUnreachable(this.baseUrl, whyFetchFailed(err, REQUEST_TIMEOUT_MS));
    }
    const text = await res.text();
    if (!res.ok) throw errorOfResponse(this.baseUrl, res.status, text);
    try {
      return JSON.parse(text) as T;
    } catch {
      // Not our server (a proxy's page, another service on the port).
      throw errors.serverUnreachable(this.baseUrl, `HTTP ${res.status} with a body that is not trackside JSON`);
    }
  }
}
