/**
 * Client <-> daemon messages. Each ZeroMQ message is one msgpack-encoded header frame, plus, for
 * `records`, a second frame holding the msgpack-encoded RunRecord[] exactly as the daemon writes
 * it to the WAL (the daemon never decodes it on the hot path). Every request carries `id`; the
 * daemon answers each with a reply of the same id.
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
}

export type ClientMessage =
  | { t: "hello"; id: number; protocol: number; version: string; pid: number; token?: string }
  | { t: "open"; id: number; settings: RunOpenSettings }
  | { t: "records"; id: number; runPath: string; first: number; last: number; exit?: boolean }
  | { t: "finish"; id: number; runPath: string; timeoutMs: number }
  | { t: "status"; id: number; runPath: string }
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

export type DaemonMessage =
  | { t: "ok"; id: number; pid?: number; version?: string }
  /** Cumulative: every record of the run `runPath` (entity/project/id) up to and including `seq` is in the WAL. */
  | { t: "ack"; id: number; runPath: string; seq: number }
  /** `refused`: what the server refused and the daemon set aside (null when nothing was). */
  | { t: "finished"; id: number; runPath: string; synced: boolean; pendingRecords: number; pendingBytes: number; error: string | null; refused: RefusedSummary | null }
  /** What the run still has to upload (answers "status"; finish() shows it while it waits). */
  | { t: "progress"; id: number; runPath: string; pendingRecords: number; pendingBytes: number; error: string | null; refused: RefusedSummary | null }
  | { t: "error"; id: number; error: WireError };

export type ClientMessageType = ClientMessage["t"];
export const CLIENT_MESSAGE_TYPES: readonly ClientMessageType[] = ["hello", "open", "records", "finish", "status", "ping", "bye"];

/** Frames bigger than this are refused with TRK_ERR_BAD_FRAME (a 4,096-row batch of 10 scalars is ~250 KB). */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;
