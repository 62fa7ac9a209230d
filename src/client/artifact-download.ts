/**
 * Downloads a version's files into a directory, checking each file's sha256 before it takes its
 * place: `run.useArtifact(...).download()` and `trackside artifacts get` use it.
 *
 * Each file is written to a temporary name beside its place and renamed there only once its
 * size and digest match the manifest, so a directory never holds a torn or wrong file under a
 * manifest path. A file already there with the right digest is kept, not fetched again. Over
 * node:http(s), not fetch(): a file streams to disk at a steady memory cost, and the CLI's
 * `caFile` (extra CA certificates) needs an agent of its own.
 */
import { createWriteStream, readFileSync } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { createHash } from "node:crypto";
import type { Agent, IncomingMessage, RequestOptions } from "node:http";
import { dirname, join, resolve } from "node:path";
import { errorOfResponse, errors, generateRunId, validateEntryPath, type ArtifactVersionDetail } from "../protocol/index.js";
import { hashFile } from "./artifact-staging.js";

/** Files fetched at once: a dataset of many small files is bound by round trips, not bandwidth. */
const DOWNLOAD_CONCURRENCY = 4;
/** A transfer that sends nothing for this long is given up (a big file may take long, but not silently). */
const IDLE_TIMEOUT_MS = 60_000;
/** Redirects followed for one file (the server's blob route answers one, to the object store). */
const MAX_REDIRECTS = 5;

/** Where the version's server is: its base URL, the API key for its own paths, extra CA certificates. */
export interface DownloadServer {
  baseUrl: string;
  apiKey: string | null;
  /** A PEM file of CA certificates to trust beside the system's (the CLI's NODE_EXTRA_CA_CERTS). */
  caFile?: string;
}

/**
 * Downloads every file of `detail` under `dir` (made if missing), each at its manifest path.
 * References are not downloaded: they stay where their URIs point.
 * @throws TRK_ERR_DIGEST_MISMATCH when a file's bytes do not match its digest (nothing is kept of
 *   that file); the server's coded error for a refused request; TRK_ERR_SERVER_UNREACHABLE.
 * @example
 * await downloadVersion(detail, "./artifacts/mnist-v3", { baseUrl, apiKey }, (done, total) => bar.update(done / total));
 */
export async function downloadVersion(detail: ArtifactVersionDetail, dir: string, server: DownloadServer, onProgress?: (doneBytes: number, totalBytes: number) => void): Promise<void> {
  await downloadFiles(detail.ref, detail.files, dir, server, onProgress);
}

/**
 * Downloads files named by relative path (each with its blob's URL, size and digest) under
 * `dir`, checked as downloadVersion's are; `label` names them in messages (`mnist:v3`). The CLI's
 * `trackside media get` downloads a run's images with it.
 * @example
 * await downloadFiles("samples step 3", [{ path: "0.png", url, size, digest }], "./media", { baseUrl, apiKey: null });
 */
export async function downloadFiles(
  label: string,
  list: readonly { path: string; url: string; size: number; digest: string }[],
  dir: string,
  server: DownloadServer,
  onProgress?: (doneBytes: number, totalBytes: number) => void,
): Promise<void> {
  const root = resolve(dir);
  // A manifest path becomes a path under `root`: one from a server that escapes it is refused.
  const files = list.map((f) => ({ ...f, dest: join(root, ...validateEntryPath(f.path).split("/")) }));
  const total = files.reduce((n, f) => n + f.size, 0);
  let done = 0;
  const progress = (bytes: number): void => {
    done += bytes;
    onProgress?.(done, total);
  };
  const transport = await transportFor(server.caFile);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const f = files[next++];
      await mkdir(dirname(f.dest), { recursive: true });
      if (await alreadyThere(f.dest, f.size, f.digest)) {
        progress(f.size);
        continue;
      }
      await fetchFile(transport, server, f, `${label} file ${JSON.stringify(f.path)}`, progress);
    }
  };
  onProgress?.(0, total);
  await Promise.all(Array.from({ length: Math.min(DOWNLOAD_CONCURRENCY, files.length) }, worker));
}

/** True when `path` holds a file of this size and digest already (a download done before). */
async function alreadyThere(path: string, size: number, digest: string): Promise<boolean> {
  try {
    if ((await stat(path)).size !== size) return false;
    return (await hashFile(path)).digest === digest;
  } catch {
    return false;
  }
}

interface Transport {
  get(url: URL, headers: Record<string, string>): Promise<IncomingMessage>;
}

/** node:http and node:https, loaded at the first download (not at every init()). */
async function transportFor(caFile: string | undefined): Promise<Transport> {
  const [http, https, tls] = await Promise.all([import("node:http"), import("node:https"), import("node:tls")]);
  const ca = caFile ? readFileSync(caFile, "utf8") : null;
  const httpsAgent: Agent | undefined = ca ? new https.Agent({ ca: [...tls.rootCertificates, ca] }) : undefined;
  return {
    get: (url, headers) =>
      new Promise((resolveRes, reject) => {
        const options: RequestOptions = { method: "GET", headers, ...(url.protocol === "https:" && httpsAgent ? { agent: httpsAgent } : {}) };
        const req = (url.protocol === "https:" ? https.request : http.request)(url, options, resolveRes);
        req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new Error(`no data for ${IDLE_TIMEOUT_MS / 1000} s`)));
        req.on("error", reject);
        req.end();
      }),
  };
}

/** GETs one file to a temporary name, checks it, and renames it into place. */
async function fetchFile(
  transport: Transport,
  server: DownloadServer,
  f: { url: string; size: number; digest: string; dest: string },
  what: string,
  progress: (bytes: number) => void,
): Promise<void> {
  const base = server.baseUrl.replace(/\/+$/, "");
  // A path on the server gets the API key; an absolute (presigned) URL carries its own right.
  let url = f.url.startsWith("/") ? new URL(base + f.url) : new URL(f.url);
  let auth = f.url.startsWith("/") && server.apiKey ? `Bearer ${server.apiKey}` : null;
  let res: IncomingMessage;
  for (let hops = 0; ; hops++) {
    try {
      res = await transport.get(url, auth ? { authorization: auth } : {});
    } catch (err) {
      throw errors.serverUnreachable(url.origin, (err as NodeJS.ErrnoException).code ?? (err as Error).message);
    }
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (status >= 300 && status < 400 && location && hops < MAX_REDIRECTS) {
      res.resume();
      const to = new URL(location, url);
      // The key is for the server alone: never sent on to another origin (the object store).
      if (to.origin !== url.origin) auth = null;
      url = to;
      continue;
    }
    if (status < 200 || status >= 300) throw errorOfResponse(base, status, await text(res));
    break;
  }
  const tmp = `${f.dest}.trk-${generateRunId()}.tmp`;
  try {
    const got = await writeHashed(res, tmp, progress);
    if (got.digest !== f.digest || got.size !== f.size) {
      throw errors.digestMismatch(what, `${f.digest} (${f.size} bytes)`, `${got.digest} (${got.size} bytes)`);
    }
    await rename(tmp, f.dest);
  } catch (err) {
    await rm(tmp, { force: true });
    if ((err as { name?: string }).name === "TracksideError") throw err;
    throw errors.serverUnreachable(url.origin, `the download of ${what} broke off (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** Streams a response to `path`, hashing it on the way. */
function writeHashed(res: IncomingMessage, path: string, progress: (bytes: number) => void): Promise<{ digest: string; size: number }> {
  return new Promise((resolveHash, reject) => {
    const hash = createHash("sha256");
    let size = 0;
    const out = createWriteStream(path);
    const fail = (err: Error): void => {
      res.destroy();
      out.destroy();
      reject(err);
    };
    res.on("data", (chunk: Buffer) => {
      size += chunk.length;
      hash.update(chunk);
      progress(chunk.length);
    });
    res.on("error", fail);
    res.on("close", () => {
      if (!res.complete) fail(new Error("the connection closed early"));
    });
    out.on("error", fail);
    out.on("finish", () => resolveHash({ digest: hash.digest("hex"), size }));
    res.pipe(out);
  });
}

function text(res: IncomingMessage): Promise<string> {
  return new Promise((resolveText) => {
    const chunks: Buffer[] = [];
    res.on("data", (c: Buffer) => chunks.length < 64 && chunks.push(c));
    res.on("end", () => resolveText(Buffer.concat(chunks).toString("utf8")));
    res.on("error", () => resolveText(""));
  });
}
