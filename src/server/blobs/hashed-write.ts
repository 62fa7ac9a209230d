/**
 * Writes a stream of bytes to a new file while hashing them: the one copy of a body the
 * filesystem blob store makes. Nothing is buffered whole (a part may be 64 MiB, and several
 * arrive at once); the file is fsynced before the caller renames it into place.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
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
 * on any error the file is removed.
 */
async function intoNewFile<T>(file: string, fill: (out: Writable) => Promise<T>): Promise<T> {
  const handle = await open(file, "wx", 0o600);
  // autoClose off: the file is fsynced before it is closed. The stream holds the handle until it
  // is destroyed (handle.close() waits for that), so it is destroyed once done with, either way.
  const out = handle.createWriteStream({ autoClose: false });
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
    await unlink(file).catch(() => undefined);
    throw err;
  }
}

/** A client that went away mid-body: its own doing, not the server's (a 400, not a 500 in the log). */
const cutOffBody = () => errors.badRequest("the body was cut off before its end");

/**
 * Streams a request body into `file` (created, never overwritten), hashing it. Stops with
 * TRK_ERR_TOO_LARGE past `limit` bytes and TRK_ERR_BAD_REQUEST when the body is cut off; then,
 * and on any error, the file is removed. The body is left paused, never destroyed.
 */
export function writeBody(body: Readable, file: string, limit: number): Promise<HashedFile> {
  return intoNewFile(file, async (out) => {
    const hash = createHash("sha256");
    let size = 0;
    await copyInto(body, out, (chunk) => {
      size += chunk.length;
      if (size > limit) throw errors.tooLarge("The body", `over ${limit} bytes`, `${limit} bytes (the upload plan's part size)`);
      hash.update(chunk);
    }, cutOffBody);
    return { sha256: hash.digest("hex"), size };
  });
}

/**
 * Concatenates the files `parts` into `file` (created, never overwritten), hashing the whole
 * and each part (sha256 hex each). A part that cannot be read fails it; the file is removed.
 */
export function concatFiles(parts: string[], file: string): Promise<HashedFile & { parts: string[] }> {
  return intoNewFile(file, async (out) => {
    const whole = createHash("sha256");
    const hashes: string[] = [];
    let size = 0;
    for (const path of parts) {
      const part = createHash("sha256");
      const input = createReadStream(path);
      try {
        await copyInto(input, out, (chunk) => {
          size += chunk.length;
          whole.update(chunk);
          part.update(chunk);
        }, (err) => err ?? new Error(`${path} closed before its end`));
      } finally {
        input.destroy();
      }
      hashes.push(part.digest("hex"));
    }
    return { sha256: whole.digest("hex"), size, parts: hashes };
  });
}
