import { Packr, Unpackr } from "msgpackr";
import { errors, show } from "./errors.js";
import { MAX_DEPTH } from "./limits.js";
import { checkClientMessage } from "./message-check.js";
import { CLIENT_MESSAGE_TYPES, MAX_FRAME_BYTES, type ClientMessage, type DaemonMessage } from "./messages.js";
import type { RunRecord } from "./records.js";

// One packer per process. Records (msgpackr's repeated-shape compression) stay on: a 4,096-row
// batch of identical keys spells its key names once. Every message stays self-contained, so any
// frame decodes on its own (the WAL reader and the server rely on that).
const packr = new Packr({ useRecords: true, moreTypes: true });
const unpackr = new Unpackr({ useRecords: true, moreTypes: true });

export function encode(value: unknown): Buffer {
  return packr.pack(value);
}

export function decode<T = unknown>(buf: Uint8Array): T {
  return unpackr.unpack(buf) as T;
}

/**
 * The decoder of bytes from outside the process, with settings of its own. Records stay on (the
 * client sends them); structured clone is off, so a body cannot hold references or cycles; a
 * 64-bit integer becomes a number when it fits in one exactly, else a BigInt that record-check.ts
 * refuses naming its key; msgpack maps decode as Maps, which record-check.ts turns into objects
 * when every key is a string and refuses otherwise (`mapsAsObjects` would turn a key 1 into "1"
 * without a word, and an array key into an exception). msgpackr's extension table is global, so
 * what an extension decodes to (a Date, a Set, a typed array...) is refused by record-check.ts,
 * where only Float64Array history columns and `undefined` (a column's gap) pass: exactly what
 * the client's encoder (`packr` above, moreTypes for columns) writes.
 */
// ("auto" is in msgpackr's unpack.js and README, not yet in its type declarations.)
const untrusted = new Unpackr({ useRecords: true, structuredClone: false, mapsAsObjects: false, int64AsType: "auto" as "bigint" });

/**
 * Decodes bytes that came from outside the process (a client's batch in the daemon, an upload
 * body on the server): several msgpack values back to back. What it returns is what
 * record-check.ts then checks. Throws TRK_ERR_BAD_VALUE for a structured-clone reference,
 * TRK_ERR_TOO_LARGE for nesting past the stack, TRK_ERR_BAD_REQUEST for anything else that is
 * not msgpack.
 *
 * @example
 * const records = validateRecords(flattenBatches(decodeUntrusted(body)), runId);
 */
export function decodeUntrusted(buf: Uint8Array): unknown[] {
  try {
    return untrusted.unpackMultiple(buf) as unknown[];
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    if (err instanceof RangeError && /call stack/i.test(message)) {
      throw errors.tooLarge("A msgpack value", "nested deeper than the decoder's stack", `${MAX_DEPTH} levels of nesting in values`);
    }
    if (/structured clone/i.test(message)) throw errors.badValue("(a reference)", "msgpackr's structured-clone references (and so cycles) are not accepted");
    throw errors.badRequest(`the body is not valid msgpack (${message})`);
  }
}

export function encodeRecords(records: RunRecord[]): Buffer {
  return packr.pack(records);
}

/**
 * Decodes and checks a client's header frame, every field of its message type (message-check.ts);
 * throws TRK_ERR_BAD_FRAME on anything malformed, or the code of a bad `open` setting.
 */
export function decodeClientMessage(frame: Uint8Array): ClientMessage {
  if (frame.byteLength > MAX_FRAME_BYTES) throw errors.badFrame(`header of ${frame.byteLength} bytes`);
  let msg: unknown;
  try {
    msg = unpackr.unpack(frame);
  } catch (err) {
    throw errors.badFrame(`not msgpack (${(err as Error).message})`);
  }
  if (typeof msg !== "object" || msg === null || Array.isArray(msg)) throw errors.badFrame("header is not a map");
  const m = msg as { t?: unknown; id?: unknown };
  if (!CLIENT_MESSAGE_TYPES.includes(m.t as ClientMessage["t"])) throw errors.badFrame(`unknown message type ${show(m.t)}`);
  if (typeof m.id !== "number") throw errors.badFrame("message id missing");
  return checkClientMessage(m as Record<string, unknown> & { t: ClientMessage["t"]; id: number });
}

/** The id of a request whose header frame failed its checks, to answer it by (-1 when it has none). */
export function requestIdOf(frame: Uint8Array | undefined): number {
  try {
    const id = (unpackr.unpack(frame as Uint8Array) as { id?: unknown } | null)?.id;
    return Number.isSafeInteger(id) && (id as number) >= 0 ? (id as number) : -1;
  } catch {
    return -1;
  }
}

export function decodeDaemonMessage(frame: Uint8Array): DaemonMessage {
  return unpackr.unpack(frame) as DaemonMessage;
}
