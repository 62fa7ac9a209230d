/**
 * The daemon's PUT of a byte range of a file (a part of an artifact blob), streamed from disk:
 * a part is up to 64 MiB (ARTIFACT_PART_BYTES), and a daemon that read parts into memory would
 * hold that much per run uploading. The same keep-alive agents as the POSTs (http-post.ts).
 */
import { createReadStream, type ReadStream } from "node:fs";
import type { RequestOptions } from "node:http";
import { transportFor, type PostResult } from "./http-post.js";

/** The signature the artifact queue calls (tests pass their own). */
export type PutRangeFn = (url: string, headers: Record<string, string>, file: string, start: number, length: number, timeoutMs: number, caFile?: string) => Promise<PostResult>;

/**
 * PUTs bytes `start..start+length` of `file`; rejects on a network or read error, when the file
 * is shorter than the range, or when no whole response came within `timeoutMs`.
 */
export async function putFileRange(url: string, headers: Record<string, string>, file: string, start: number, length: number, timeoutMs: number, caFile?: string): Promise<PostResult> {
  const target = new URL(url);
  const { request, agent } = await transportFor(target, caFile);
  const options: RequestOptions = { method: "PUT", headers: { ...headers, "content-length": String(length) }, agent };
  return new Promise((resolve, reject) => {
    let settled = false;
    let source: ReadStream | null = null;
    const req = request(target, options, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") });
      });
      res.on("error", fail);
    });
    const timer = setTimeout(() => req.destroy(new Error(`no response within ${timeoutMs} ms`)), timeoutMs);
    function fail(err: Error): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      source?.destroy();
      req.destroy();
      reject(err);
    }
    req.on("error", fail);
    if (length === 0) {
      req.end();
      return;
    }
    source = createReadStream(file, { start, end: start + length - 1 });
    let sent = 0;
    source.on("data", (c) => (sent += (c as Buffer).length));
    source.on("error", fail);
    source.on("end", () => {
      // A file cut short since it was staged: the server would wait for the missing bytes.
      if (sent < length) fail(new Error(`${file} ends at byte ${start + sent}, before the ${length} bytes from ${start} to upload`));
    });
    source.pipe(req);
  });
}
