/**
 * The daemon's HTTP client: one POST with a Buffer body over node:http(s), on keep-alive agents.
 *
 * Not fetch(): undici copies an ArrayBufferView body before sending it, so every 4 MiB upload
 * made a 4 MiB garbage copy that V8 freed only at its next full GC. Measured during a
 * 1,000,000-row burst, the daemon's array buffers grew by about 40 MB with fetch. Here the
 * buffer is written to the socket as it is (the uploader reuses it for the next body only after
 * the response, which comes after the request was written).
 */
import { readFileSync } from "node:fs";
import type { Agent, IncomingHttpHeaders, RequestOptions, request as httpRequest } from "node:http";
import { createRequire } from "node:module";

/** node:http loads at the first POST, not at the daemon's start (part of every cold init()). */
let http: { request: typeof httpRequest; agent: Agent } | null = null;
function plain(): { request: typeof httpRequest; agent: Agent } {
  if (!http) {
    const m = createRequire(import.meta.url)("node:http") as typeof import("node:http");
    http = { request: m.request, agent: new m.Agent({ keepAlive: true, maxSockets: 8 }) };
  }
  return http;
}
/** node:https (and TLS with it) loads on the first https:// URL: most daemons talk to a local server. */
let https: Promise<{ request: typeof httpRequest; Agent: typeof Agent; roots: readonly string[] }> | null = null;
/** One https agent per set of extra CA certificates (runs of different users' settings may differ). */
const httpsAgents = new Map<string, Agent>();

async function secure(caFile: string | undefined): Promise<{ request: typeof httpRequest; agent: Agent }> {
  https ??= Promise.all([import("node:https"), import("node:tls")]).then(([m, tls]) => ({ request: m.request, Agent: m.Agent, roots: tls.rootCertificates }));
  const { request, Agent: HttpsAgent, roots } = await https;
  const key = caFile ?? "";
  let agent = httpsAgents.get(key);
  if (!agent) {
    // The run's extra CA certificates (its client's NODE_EXTRA_CA_CERTS), beside Node's roots.
    const ca = extraCa(caFile);
    agent = new HttpsAgent({ keepAlive: true, maxSockets: 8, ...(ca ? { ca: [...roots, ca] } : {}) });
    httpsAgents.set(key, agent);
  }
  return { request, agent };
}

/** The PEM file's text; like Node with NODE_EXTRA_CA_CERTS, a file that cannot be read is ignored. */
function extraCa(file: string | undefined): string | null {
  if (!file) return null;
  try {
    return readFileSync(file, "utf8");
  } catch {
    return null;
  }
}

/** The request function and keep-alive agent for `url` (http, or https trusting `caFile` beside Node's roots). */
export async function transportFor(url: URL, caFile: string | undefined): Promise<{ request: typeof httpRequest; agent: Agent }> {
  return url.protocol === "https:" ? secure(caFile) : plain();
}

export interface PostResult {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/**
 * POSTs `body`; rejects on a network error or when no whole response came within `timeoutMs`.
 * `caFile`: extra CA certificates (PEM) to trust for https.
 */
export async function post(url: string, headers: Record<string, string>, body: Uint8Array | null, timeoutMs: number, caFile?: string): Promise<PostResult> {
  const target = new URL(url);
  const { request, agent } = await transportFor(target, caFile);
  const options: RequestOptions = { method: "POST", headers: { ...headers, "content-length": String(body?.byteLength ?? 0) }, agent };
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      options,
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") });
        });
        res.on("error", fail);
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`no response within ${timeoutMs} ms`)), timeoutMs);
    function fail(err: Error): void {
      clearTimeout(timer);
      reject(err);
    }
    req.on("error", fail);
    req.end(body ?? undefined);
  });
}
