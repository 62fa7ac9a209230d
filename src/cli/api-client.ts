/**
 * A small client of the tracking server's JSON API for CLI commands. It turns every failure into
 * a TracksideError: the server's own `{error: {code, message}}` comes back as is, and a server
 * that does not answer is TRK_ERR_SERVER_UNREACHABLE, so main.ts prints one coded line.
 */
import { API_PREFIX } from "../protocol/api.js";
import { errors } from "../protocol/errors.js";
import { DEFAULT_BASE_URL, credentialsPath, normalizeBaseUrl, readCredential } from "../protocol/local-config.js";
import { requestJson, type HttpMethod } from "../protocol/server-request.js";

/** A CLI request waits at most this long: long enough for a big history, short for a hung server. */
const REQUEST_TIMEOUT_MS = 30_000;

/** The help of every command's --base-url. */
export const BASE_URL_HELP = "tracking server (default: TRACKSIDE_BASE_URL or http://127.0.0.1:8421)";

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
 * The connection of a command that acts as a user (keys, teams, accounts): with no key at all it
 * is TRK_ERR_NO_CREDENTIALS, naming `trackside login`, before anything is asked of the server.
 *
 * @example
 * const api = new ApiClient(signedInConnection({ baseUrl: "https://track.example.com" }));
 */
export function signedInConnection(opts: { baseUrl?: string }, env: NodeJS.ProcessEnv = process.env): Connection & { apiKey: string } {
  const connection = resolveConnection(opts, env);
  if (connection.apiKey === null) throw errors.noCredentials(connection.baseUrl, credentialsPath(env));
  return connection as Connection & { apiKey: string };
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
    return requestJson<T>(this.baseUrl, "GET", `${API_PREFIX}${path}${qs}`, this.apiKey, undefined, REQUEST_TIMEOUT_MS);
  }

  /**
   * `method` `/api/v1<path>` with `body` as JSON (none when undefined); the parsed JSON reply.
   *
   * @example
   * await api.send<NewApiKeyView>("POST", "/keys", { label: "laptop" });
   */
  send<T>(method: Exclude<HttpMethod, "GET">, path: string, body?: unknown): Promise<T> {
    return requestJson<T>(this.baseUrl, method, `${API_PREFIX}${path}`, this.apiKey, body, REQUEST_TIMEOUT_MS);
  }
}
