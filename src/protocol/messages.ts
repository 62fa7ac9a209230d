/**
 * Client <-> daemon messages. Each ZeroMQ message is one msgpack-encoded header frame, plus, for
 * `records`, a second frame holding the msgpack-encoded RunRecord[] exactly as the daemon writes
 * it to the WAL (the daemon decodes and checks it first, but writes the bytes it received). Every
 * request carries `id`; the daemon answers each with a reply of the same id. message-check.ts
 * checks every field of every request at the daemon's boundary.
 */
import type { RunInfo } from "./records.js";
import type { WireError } from "./errors.js";

/** The options that cross from the client to the daemon for one run: an explicit allow-list. */
export interface RunOpenSettings {
  run: RunInfo;
  mode: "online" | "offline";
  /** Where the run's WAL, files and logs live. */
  runDir: string;
  baseUrl: string;
  apiKey: string | null;
  /** The pid whose death, without a finish, means the run crashed. */
  pid: number;
  /** The sequence number the client starts from (above 1 when resuming). */
  firstSeq: number;
  /** Seconds between system metric samples (at least 1); 0 turns sampling off. */
  statsIntervalS: number;
  /** The client's environment variables that say where it runs (SLURM_*, CI hints, CUDA_VISIBLE_DEVICES...). */
  env: { [name: string]: string };
  /**
   * The client's NODE_EXTRA_CA_CERTS: certificates to trust for this run's https uploads. The
   * daemon is shared and starts without that variable (Node.js 20 parses it at every start).
   */
  caFile?: string;
  /**
   * The run's secret, made by the client that opens it (32 random bytes, base64url). The run
   * belongs to the connection that opened it; another connection (the same client reconnecting,
   * or after its daemon was respawned) takes part in it only by presenting the same secret. The
   * daemon keeps only its SHA-256 digest (in memory, and as `secret.sha256` in the run directory
   * for a successor daemon).
   */
  secret: string;
}

export type ClientMessage =
  | { t: "hello"; id: number; protocol: number; version: string; pid: number; token?: string }
  | { t: "open"; id: number; settings: RunOpenSettings }
  | { t: "records"; id: number; runPath: string; first: number; last: number; exit?: boolean }
  | { t: "finish"; id: number; runPath: string; timeoutMs: number }
  | { t: "status"; id: number; runPath: string }
  /**
   * Hands the daemon an artifact queue entry (protocol/artifacts.ts, ArtifactQueueEntry) that the
   * client has written to `<runDir>/artifacts/queue/<entry>.json`; answered `ok` once the daemon
   * holds it. From then on the daemon uploads it, whatever becomes of the client.
   */
  | { t: "artifact"; id: number; runPath: string; entry: string }
  /** Waits up to `timeoutMs` for an entry to reach the server; answered `artifact-done`. */
  | { t: "artifact-wait"; id: number; runPath: string; entry: string; timeoutMs: number }
  | { t: "ping"; id: number }
  | { t: "bye"; id: number };

/**
 * What the server refused of a run for good, set aside in its dead-letter file (frames the server
 * answered with a coded 400, a 413 or a 422): the rest of the run was uploaded past them.
 */
export interface RefusedSummary {
  frames: number;
  /** Records in those frames, counted as pendingRecords is (a history record: one per step). */
  records: number;
  bytes: number;
  /** The server's answer to the first of them (its TRK_ERR_* code and message). */
  error: string;
  /** The dead-letter file that holds them (`<runDir>/dead-letter.wal`); null where none is written (trackside sync). */
  file: string | null;
}

/** A batch the daemon refused on its content (answered with an `ack`: the run goes on after it). */
export interface BatchRefusal {
  /** The records in it: `last - first + 1`. */
  records: number;
  /** Why: the check's TRK_ERR_* code and message. */
  error: string;
  /**
   * False when nothing kept the batch: the daemon refused it outright (a coded error, not a
   * refused ack) when the client replayed it to a new daemon. Absent: it is in the dead-letter file.
   */
  kept?: false;
}

export type DaemonMessage =
  | { t: "ok"; id: number; pid?: number; version?: string }
  /**
   * Answers "open": the run is held by the daemon; the client numbers its records from `nextSeq`
   * and its steps from `nextStep` at the least. Both are above what the client asked for when the
   * daemon still holds records of an earlier process of the same run (a resume while the earlier
   * one uploads): continuing after them is what keeps two processes from reusing a number.
   */
  | { t: "opened"; id: number; runPath: string; nextSeq: number; nextStep: number }
  /**
   * Cumulative: every record of the run `runPath` (entity/project/id) up to and including `seq` is
   * in the WAL, or, with `refused`, was in the batch this answers, which the daemon refused on its
   * content and set aside in the run's dead-letter file; the run goes on after it either way.
   */
  | { t: "ack"; id: number; runPath: string; seq: number; refused?: BatchRefusal }
  /** `refused`: what the server refused and the daemon set aside (null when nothing was). */
  | { t: "finished"; id: number; runPath: string; synced: boolean; pendingRecords: number; pendingBytes: number; pendingArtifacts: number; pendingMedia?: number; error: string | null; refused: RefusedSummary | null }
  /**
   * What the run still has to upload (answers "status"; finish() shows it while it waits).
   * `pendingBytes` counts the WAL's bytes and the artifact and media bytes not yet stored by the
   * server; `pendingArtifacts` the artifact versions and uses not yet on the server (the queue's
   * `log` and `use` entries); `pendingMedia` the media files (the `blobs` entries' images; absent
   * from a daemon before it, which counted them in `pendingArtifacts`).
   */
  | { t: "progress"; id: number; runPath: string; pendingRecords: number; pendingBytes: number; pendingArtifacts: number; pendingMedia?: number; error: string | null; refused: RefusedSummary | null }
  /**
   * Answers "artifact-wait": the version the server gave the entry (a `log`) or recorded (a
   * `use`); or `error`, why it never will; both null when it is still pending at the timeout.
   */
  | { t: "artifact-done"; id: number; runPath: string; entry: string; version: number | null; error: string | null }
  | { t: "error"; id: number; error: WireError };

export type ClientMessageType = ClientMessage["t"];
export const CLIENT_MESSAGE_TYPES: readonly ClientMessageType[] = ["hello", "open", "records", "finish", "status", "artifact", "artifact-wait", "ping", "bye"];

/** Unreachable: a switch over a union ends with it, so that a new member fails to compile there. */
export function assertNever(value: never): never {
  throw new Error(`unexpected ${JSON.stringify(value)}`);
}

/**
 * The shortest routing id the daemon greets: a client picks 16 random bytes (random.ts,
 * newRoutingId). A shorter one is one the ROUTER gave out itself (5 bytes, a guessable counter),
 * or a peer's own choice that cannot be told from a guess.
 */
export const MIN_ROUTING_ID_BYTES = 16;

/** Frames bigger than this are refused with TRK_ERR_BAD_FRAME (a 4,096-row batch of 10 scalars is ~250 KB). */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;
