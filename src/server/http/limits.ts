/**
 * What one client may hold of the server: how long a request may take to arrive, how many
 * connections stay open, how many live-event streams. Without them one slow or greedy client
 * (a body sent a byte every 5 s, a thousand open streams) holds the server's memory and sockets
 * for everyone else. Refusals are coded answers where an answer can still be written:
 * TRK_ERR_REQUEST_TIMEOUT (408) and TRK_ERR_TOO_MANY (429).
 */
import type { Server } from "node:http";
import type { Socket } from "node:net";
import type { FastifyHttpOptions, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { errors, type TracksideError } from "../../protocol/errors.js";

export interface ServerLimits {
  /** ms for a request's headers to arrive, counted from the connection or the previous request. */
  headersTimeoutMs: number;
  /** ms for a whole request, headers and body, to arrive. */
  requestTimeoutMs: number;
  /** ms an idle keep-alive connection is kept between requests. */
  keepAliveTimeoutMs: number;
  /** Open connections in all. */
  maxConnections: number;
  /** Open connections from one IP address (behind a reverse proxy, the proxy is one address). */
  maxConnectionsPerClient: number;
  /** Open live-event streams in all. */
  maxStreams: number;
  /** Open live-event streams of one client: one user (by key or session), or one IP address when anonymous. */
  maxStreamsPerClient: number;
  /** ms that closing the server waits for requests in flight before it cuts their connections. */
  closeGraceMs: number;
}

/**
 * The defaults. Headers: 15 s, ample for any network, short for a slow-loris. A whole request:
 * 120 s, so the largest ingest body (64 MiB) still arrives at 0.6 MB/s. Keep-alive: fastify's
 * 72 s, above the 60 s idle timeout of the common load balancers. Connections: 1,024 in all,
 * 256 per address (a browser opens 6 per site; a daemon one per run uploading). Streams: 256 in
 * all, 16 per client: a browser over HTTP/1.1 can hold only 6 per site anyway. Closing: 10 s for
 * requests in flight, then their connections are cut; an upload cut short is retried by its
 * daemon, which keeps every record until a 2xx, so Ctrl-C or a deploy's SIGTERM loses nothing and
 * does not wait for a slow client's whole request timeout.
 */
export const DEFAULT_LIMITS: Readonly<ServerLimits> = Object.freeze({
  headersTimeoutMs: 15_000,
  requestTimeoutMs: 120_000,
  keepAliveTimeoutMs: 72_000,
  maxConnections: 1024,
  maxConnectionsPerClient: 256,
  maxStreams: 256,
  maxStreamsPerClient: 16,
  closeGraceMs: 10_000,
});

/** The limits with defaults filled in; each given one must be a positive integer. */
export function resolveLimits(given: Partial<ServerLimits> = {}): ServerLimits {
  const limits = { ...DEFAULT_LIMITS };
  for (const [name, value] of Object.entries(given) as [keyof ServerLimits, unknown][]) {
    if (value === undefined) continue;
    if (!(name in DEFAULT_LIMITS)) throw errors.invalidOption(`limits.${name}`, value, `one of ${Object.keys(DEFAULT_LIMITS).join(", ")}`);
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) throw errors.invalidOption(`limits.${name}`, value, "a positive integer");
    limits[name] = value;
  }
  // Node refuses a headers timeout longer than the request's: the request would never be cut.
  limits.headersTimeoutMs = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  return limits;
}

/** `::ffff:127.0.0.1` and `127.0.0.1` are one client. */
export function clientAddress(address: string | undefined): string {
  return (address ?? "unknown").replace(/^::ffff:/, "");
}

/** A raw HTTP answer with a coded JSON body, for a socket that fastify does not own (yet or any more). */
function rawAnswer(status: number, reason: string, error: TracksideError): string {
  const body = JSON.stringify({ error: error.toWire() });
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/**
 * Answers what Node's HTTP parser refuses before fastify sees a request: a request or its
 * headers that took too long (408), headers too large (431), bytes that are not HTTP (400). An
 * answer is written only when no response has started on the socket, as Node itself does.
 */
function clientErrorHandler(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    if (err.code === "ERR_HTTP_REQUEST_TIMEOUT") {
      socket.write(rawAnswer(408, "Request Timeout", errors.requestTimeout("its headers or body did not arrive within the server's timeout")));
    } else if (err.code === "HPE_HEADER_OVERFLOW") {
      socket.write(rawAnswer(431, "Request Header Fields Too Large", errors.tooLarge("the request's headers", "larger", "16 KiB")));
    } else {
      socket.write(rawAnswer(400, "Bad Request", errors.badRequest(`the bytes received are not an HTTP/1.1 request (${err.code ?? err.message})`)));
    }
  }
  socket.destroy();
}

/**
 * Fastify's options for the limits: Node's own request and headers timeouts (checked every
 * quarter of the shorter one, at most every 5 s: Node's default of 30 s would let a 15 s
 * timeout run to 45 s), and the handler of what they refuse.
 */
export function serverOptionsOf(limits: ServerLimits): Partial<FastifyHttpOptions<Server>> {
  const checkEveryMs = Math.max(25, Math.min(5_000, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4)));
  return {
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    http: { headersTimeout: limits.headersTimeoutMs, requestTimeout: limits.requestTimeoutMs, connectionsCheckingInterval: checkEveryMs },
    clientErrorHandler,
  };
}

/**
 * Marks the answer to a request refused before its body was read: the connection closes after
 * it. Otherwise Node would read (and throw away) the rest of the body, up to 64 MiB or until the
 * request timeout, only to keep the connection for a next request. Measured: fetch() still gets
 * the answer (a 401 to a 60 MiB upload) and stops sending.
 */
export function closeAfterAnswer(req: FastifyRequest, reply: FastifyReply): void {
  const hasBody = req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
  if (hasBody && !req.raw.complete) reply.header("connection", "close");
}

const OVER_LIMIT = Symbol("trackside.overLimit");
type CountedSocket = Socket & { [OVER_LIMIT]?: TracksideError };

/**
 * Counts open connections, in all and per address. One over a limit is let in just far enough
 * to answer its first request with TRK_ERR_TOO_MANY (429) and `Connection: close`, before any
 * body is read; twice the limit in all, Node drops new connections unanswered (the answers
 * themselves must not become the flood).
 */
export function registerConnectionLimits(app: FastifyInstance, limits: ServerLimits): void {
  const server: Server = app.server;
  const perAddress = new Map<string, number>();
  let open = 0;
  server.maxConnections = limits.maxConnections * 2;
  server.on("connection", (socket: CountedSocket) => {
    const address = clientAddress(socket.remoteAddress);
    const mine = (perAddress.get(address) ?? 0) + 1;
    perAddress.set(address, mine);
    open++;
    if (open > limits.maxConnections) socket[OVER_LIMIT] = errors.tooMany("open connections to this server", limits.maxConnections);
    else if (mine > limits.maxConnectionsPerClient) socket[OVER_LIMIT] = errors.tooMany(`open connections from ${address}`, limits.maxConnectionsPerClient);
    socket.once("close", () => {
      open--;
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left === 0) perAddress.delete(address);
      else perAddress.set(address, left);
    });
  });
  app.addHook("onRequest", async (req, reply) => {
    const refusal = (req.raw.socket as CountedSocket | undefined)?.[OVER_LIMIT];
    if (!refusal) return;
    reply.header("connection", "close");
    throw refusal;
  });
}
