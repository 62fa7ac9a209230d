/**
 * Writes a stream of bytes to a new file while hashing them: the one copy of a body the
 * filesystem blob store makes. Nothing is buffered whole (a part may be 64 MiB, and several
 * arrive at once); the file is fsynced before the caller renames it into place.
 */
import { createHash } from "node:crypto";
import { constants, createReadStream } from "node:fs";
import { open, unlink } from "node:fs/promises";
import type { Readable, Writable } from "node:stream";
import { errors } from "../../protocol/errors.js";

export interface HashedFile {
  /** sha256 of the bytes, hex. */
  sha256: string;
  size: number;
}

/**
 * Copies `body` into `out` (left open), with backpressure, passing each chunk to `onChunk` first
 * (which may throw to stop); a body that fails or closes before its end is `cutOff(err)`. Not stream.pipeline: it destroys its source on an error, and
 * destroying a request body resets the connection before the coded answer (a 400 for a body
 * over the limit) could be written. Here the body is only paused; the route closes the
 * connection after answering.
 */
function copyInto(body: Readable, out: Writable, onChunk: (chunk: Buffer) => void, cutOff: (err?: Error) => unknown): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      body.off("data", onData).off("end", onEnd).off("error", onBodyError).off("close", onClose);
      out.off("error", onOutError).off("drain", onDrain);
      if (err) {
        body.pause();
        reject(err);
      } else resolve();
    };
    const onData = (chunk: Buffer) => {
      try {
        onChunk(chunk);
      } catch (err) {
        return finish(err);
      }
      if (!out.write(chunk)) body.pause();
    };
    const onDrain = () => body.resume();
    const onEnd = () => finish();
    const onBodyError = (err: Error) => finish(cutOff(err));
    const onClose = () => finish(body.readableEnded ? undefined : cutOff());
    const onOutError = (err: Error) => finish(err);
    body.on("data", onData).once("end", onEnd).once("error", onBodyError).once("close", onClose);
    out.on("drain", onDrain).once("error", onOutError);
    if (body.readableEnded) finish();
    else body.resume();
  });
}

/**
 * Creates `file` (never overwriting one), lets `fill` write into it, then fsyncs and closes it;
 * on any error the file is removed. With `at`, the file is opened for writing from byte `at`
 * (made if missing, never truncated: a part of a multipart upload in the upload's one file) and
 * left as it is on an error.
 */
async function intoNewFile<T>(file: string, fill: (out: Writable) => Promise<T>, at?: number): Promise<T> {
  const handle = await open(file, at === undefined ? "wx" : constants.O_RDWR | constants.O_CREAT, 0o600);
  // autoClose off: the file is fsynced before it is closed. The stream holds the handle until it
  // is destroyed (handle.close() waits for that), so it is destroyed once done with, either way.
  const out = handle.createWriteStream({ autoClose: false, ...(at === undefined ? {} : { start: at }) });
  try {
    const result = await fill(out);
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    await handle.sync();
    out.destroy();
    await handle.close();
    return result;
  } catch (err) {
    out.destroy();
    await handle.close().catch(() => undefined);
    if (at === undefined) await unlink(file).catch(() => undefined);
    throw err;
  }
}

/** A client that went away mid-body: its own doing, not the server's (a 400, not a 500 in the log). */
const cutOffBody = () => errors.badRequest("the body was cut off before its end");

/**
 * Streams a request body into `file` (created, never overwritten; or, with `at`, written from
 * byte `at` of the file), hashing it. Stops with TRK_ERR_TOO_LARGE past `limit` bytes and
 * TRK_ERR_BAD_REQUEST when the body is cut off; then, and on any error, a new file is removed.
 * The body is left paused, never destroyed.
 */
export function writeBody(body: Readable, file: string, limit: number, at?: number): Promise<HashedFile> {
  return intoNewFile(
    file,
    async (out) => {
      const hash = createHash("sha256");
      let size = 0;
      await copyInto(body, out, (chunk) => {
        size += chunk.length;
        if (size > limit) throw errors.tooLarge("The body", `over ${limit} bytes`, `${limit} bytes (the upload plan's part size)`);
        hash.update(chunk);
      }, cutOffBody);
      return { sha256: hash.digest("hex"), size };
    },
    at,
  );
}

/** The sha256 and size of a file, read once. */
export async function hashFile(file: string): Promise<HashedFile> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    size += chunk.length;
    hash.update(chunk);
  }
  return { sha256: hash.digest("hex"), size };
}
