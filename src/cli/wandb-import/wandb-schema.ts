/**
 * W&B's `wandb_internal.Record`, decoded with protobufjs from the schema vendored in
 * `vendor/wandb-proto/` (pinned to wandb 0.30.0; its README says how it was checked). The
 * schema is parsed once, at the first decode, so that other CLI commands never pay for it.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";

/** The wandb SDK version whose schema is vendored. */
export const WANDB_SCHEMA_VERSION = "0.30.0";

/** The fields of a decoded Record that the importer reads (snake_case as in the .proto; int64 as number). */
export interface WandbItem {
  key?: string;
  nested_key?: string[];
  value_json?: string;
}
export interface WandbTimestamp {
  seconds?: number;
  nanos?: number;
}
export interface WandbRecord {
  num?: number;
  record_type?: string;
  run?: {
    run_id?: string;
    entity?: string;
    project?: string;
    config?: { update?: WandbItem[]; remove?: WandbItem[] };
    run_group?: string;
    job_type?: string;
    display_name?: string;
    notes?: string;
    tags?: string[];
    host?: string;
    start_time?: WandbTimestamp;
  };
  history?: { item?: WandbItem[]; step?: { num?: number } };
  summary?: { update?: WandbItem[]; remove?: WandbItem[] };
  config?: { update?: WandbItem[]; remove?: WandbItem[] };
  output?: { output_type?: number; timestamp?: WandbTimestamp; line?: string };
  output_raw?: { output_type?: number; timestamp?: WandbTimestamp; line?: string };
  stats?: { timestamp?: WandbTimestamp; item?: WandbItem[] };
  environment?: Record<string, unknown> & { writer_id?: string };
  telemetry?: { cli_version?: string };
  exit?: { exit_code?: number; runtime?: number };
  [kind: string]: unknown;
}

/** `vendor/wandb-proto`, found upwards from this module: dist/src/cli/wandb-import or src/cli/wandb-import. */
function schemaDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, "vendor", "wandb-proto");
    if (existsSync(join(candidate, "wandb", "proto", "wandb_internal.proto"))) return candidate;
    dir = dirname(dir);
  }
  throw new Error("vendor/wandb-proto/wandb/proto/wandb_internal.proto is missing from trackside's installation");
}

let recordType: protobuf.Type | null = null;

/** The protobufjs type of `wandb_internal.Record` (tests encode records with it). */
export function wandbRecordType(): protobuf.Type {
  if (recordType) return recordType;
  const root = new protobuf.Root();
  const dir = schemaDir();
  // google/protobuf/*.proto are protobufjs's own copies of the well-known types.
  root.resolvePath = (_origin, target) => (target.startsWith("google/protobuf/") ? target : join(dir, target));
  root.loadSync("wandb/proto/wandb_internal.proto", { keepCase: true });
  recordType = root.lookupType("wandb_internal.Record");
  return recordType;
}

/**
 * One record's protobuf bytes as a plain object: snake_case fields, 64-bit integers as numbers,
 * enums as numbers, unset fields absent, `record_type` naming the oneof's case. Throws on bytes
 * that are not a Record.
 *
 * @example
 * decodeWandbRecord(bytes).history?.item // [{ nested_key: ["loss"], value_json: "0.5" }, ...]
 */
export function decodeWandbRecord(bytes: Uint8Array): WandbRecord {
  const t = wandbRecordType();
  return t.toObject(t.decode(bytes), { longs: Number, enums: Number, oneofs: true, defaults: false }) as WandbRecord;
}
