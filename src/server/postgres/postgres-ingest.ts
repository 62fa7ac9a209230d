/**
 * Applies a batch of run records to PostgreSQL in one transaction, with SQLite's rules
 * (sqlite-ingest.ts): rows keyed by (run, seq) (or (run, time) for system samples) are
 * upserted, so a resent row replaces itself; every other field is written only when the
 * record's seq is newer than the seq stored beside it (`WHERE x_seq < seq`).
 *
 * Replicas behind a load balancer may receive the same batch at once (a client's retry). The
 * project and the run are created with `ON CONFLICT DO NOTHING` and then read, so the second
 * creator finds the first's row instead of failing; then the run's row is locked (`FOR UPDATE`)
 * for the rest of the transaction, so two batches of one run apply one after the other, each
 * in full: the second one's upserts and guarded updates find the first's rows and change
 * nothing that is newer. Batches of different runs do not wait for each other.
 *
 * Within the transaction the statements are pipelined (sent without waiting for each answer;
 * they still run in order on the one connection): a batch is a few round trips, not one per record.
 *
 * History is stored once, as column chunks with an index row per record (history-rows.ts), for
 * runs created since migration 2. A history record that overlaps stored ones (a resend) takes
 * their steps, which needs reads before writes: a batch is checked for overlaps once, and only a
 * batch with some (rare: a retry) applies its history records one after the other.
 */
import { createHash } from "node:crypto";
import type { Sql } from "postgres";
import { errors } from "../../protocol/errors.js";
import type { ConsoleLine, HistoryRecord, RunInfo, RunRecord } from "../../protocol/records.js";
import { historyLength, seqSpan } from "../../protocol/records.js";
import { isKnownKind } from "../../protocol/record-check.js";
import { chunkRange, historyChunks, type HistoryChunk } from "../store/history-chunks.js";
import { CHUNKS_ONLY, historyRecordIndex, keptParts, recordKeys, type HistoryRecordIndex, type StoredChunk } from "../store/history-rows.js";
import { encodeHistoryColumns, encodeHistoryRow, encodeOpaqueRecord, encodeSample } from "../store/history-codec.js";
import type { IngestOutcome, IngestTarget } from "../store/store.js";
import { jsonReplacer } from "../../protocol/api.js";
import { MARK_CHANGED, REVIVE_IF_SWEPT } from "./postgres-liveness.js";
import { applyMediaPostgres } from "./postgres-media.js";

/** History rows per INSERT: 5 parameters each, far under PostgreSQL's 65,535 per statement. */
const ROWS_PER_INSERT = 4096;

type Pending = Promise<unknown>;

/** Applies every record or none; throws TRK_ERR_NOT_FOUND for records of an unknown run. */
export async function ingestPostgres(sql: Sql, target: IngestTarget, records: RunRecord[], now: number): Promise<IngestOutcome> {
  return sql.begin(async (tx) => {
    const t = tx as unknown as Sql;
    const runPk = await findOrCreateRun(t, target, records, now);
    const [{ history_chunks: layout }] = await t<{ history_chunks: number }[]>`SELECT history_chunks FROM runs WHERE pk = ${runPk} FOR UPDATE`;
    const once = layout === CHUNKS_ONLY;
    const overlapping = once && (await overlapsAny(t, runPk, records));
    const pending: Pending[] = [];
    let maxSeq = -1;
    for (const r of records) {
      if (r.k === "history" && once) {
        if (overlapping) {
          // Reads must see what this batch wrote so far.
          await Promise.all(pending.splice(0));
          await giveUpSteps(t, runPk, r.seq, r.seq + historyLength(r) - 1);
        }
        insertHistoryOnce(t, runPk, r, pending);
      } else applyOne(t, runPk, r, pending);
      const span = isKnownKind(r.k) ? seqSpan(r) : r.seq === 0 ? 0 : 1;
      if (span > 0) maxSeq = Math.max(maxSeq, r.seq + span - 1);
    }
    await Promise.all(pending);
    const [row] = await t<{ last_seq: number }[]>`
      UPDATE runs SET heartbeat_at = ${now}, last_seq = GREATEST(last_seq, ${maxSeq}), ${t.unsafe(MARK_CHANGED)}, ${t.unsafe(REVIVE_IF_SWEPT)}
      WHERE pk = ${runPk} RETURNING last_seq`;
    return { records: records.length, lastSeq: row.last_seq };
  }) as Promise<IngestOutcome>;
}

async function findOrCreateRun(t: Sql, target: IngestTarget, records: RunRecord[], now: number): Promise<number> {
  const runRecord = records.find((r): r is Extract<RunRecord, { k: "run" }> => r.k === "run");
  const where = `Run ${target.runId} in project ${target.project}`;
  let [project] = await t<{ id: number }[]>`SELECT id FROM projects WHERE entity_id = ${target.entityId} AND name = ${target.project}`;
  if (!project) {
    if (!runRecord) throw errors.notFound(where);
    // Another replica may be creating it this instant: then its row is the one.
    await t`INSERT INTO projects (entity_id, name, created_at) VALUES (${target.entityId}, ${target.project}, ${now}) ON CONFLICT DO NOTHING`;
    [project] = await t<{ id: number }[]>`SELECT id FROM projects WHERE entity_id = ${target.entityId} AND name = ${target.project}`;
  }
  const found = await t<{ pk: number }[]>`SELECT pk FROM runs WHERE project_id = ${project.id} AND run_id = ${target.runId}`;
  if (found.length > 0) return found[0].pk;
  if (!runRecord) throw errors.notFound(where);
  const run = runRecord.run;
  await t`
    INSERT INTO runs (project_id, run_id, name, author_user_id, created_at, heartbeat_at, privacy, history_chunks)
    VALUES (${project.id}, ${target.runId}, ${run.name}, ${target.authorUserId}, ${run.createdAt}, ${now},
            (SELECT default_privacy FROM projects WHERE id = ${project.id}), ${CHUNKS_ONLY})
    ON CONFLICT DO NOTHING`;
  const [created] = await t<{ pk: number }[]>`SELECT pk FROM runs WHERE project_id = ${project.id} AND run_id = ${target.runId}`;
  return created.pk;
}

/** `UPDATE runs SET <set>, <seqCol> = seq WHERE pk AND <seqCol> < seq`; `set` uses $3, $4, ... for `values`. */
function guarded(t: Sql, pending: Pending[], set: string, seqCol: string, pk: number, seq: number, values: unknown[], op = "<"): void {
  pending.push(t.unsafe(`UPDATE runs SET ${set}, ${seqCol} = $2 WHERE pk = $1 AND ${seqCol} ${op} $2`, [pk, seq, ...values] as never[]));
}

function applyOne(t: Sql, pk: number, r: RunRecord, pending: Pending[]): void {
  const seq = r.seq;
  switch (r.k) {
    case "run":
      applyRun(t, pk, seq, r.run, pending);
      return;
    case "history":
      insertHistory(t, pk, r, pending);
      return;
    case "config":
      guarded(t, pending, "config = $3::text::jsonb", "config_seq", pk, seq, [toJson(r.config)]);
      return;
    case "summary":
      guarded(t, pending, "summary = $3::text::jsonb", "summary_seq", pk, seq, [toJson(r.summary)]);
      return;
    case "meta":
      // `<=`, as in SQLite: a respawned daemon's fresh probe (seq 0 again) replaces the one before.
      guarded(t, pending, "metadata = $3::text::jsonb", "metadata_seq", pk, seq, [toJson(r.metadata)], "<=");
      return;
    case "system":
      pending.push(t`INSERT INTO system_metrics (run_pk, at, data) VALUES (${pk}, ${r.at}, ${encodeSample(r.values)})
                     ON CONFLICT (run_pk, at) DO UPDATE SET data = excluded.data`);
      for (const key of Object.keys(r.values)) {
        pending.push(t`INSERT INTO system_metric_keys (run_pk, key) VALUES (${pk}, ${key}) ON CONFLICT DO NOTHING`);
      }
      return;
    case "console":
      insertConsole(t, pk, seq, r.lines, pending);
      return;
    case "update":
      if (r.name !== undefined) guarded(t, pending, "name = $3", "name_seq", pk, seq, [r.name]);
      if (r.notes !== undefined) guarded(t, pending, "notes = $3", "notes_seq", pk, seq, [r.notes]);
      if (r.tags !== undefined) guarded(t, pending, "tags = $3::text::jsonb", "tags_seq", pk, seq, [JSON.stringify(r.tags)]);
      return;
    case "refused":
      pending.push(t`INSERT INTO refused_reports (run_pk, at, records, bytes, error) VALUES (${pk}, ${r.at}, ${r.records}, ${r.bytes}, ${r.error})
                     ON CONFLICT (run_pk, at) DO UPDATE SET records = excluded.records, bytes = excluded.bytes, error = excluded.error`);
      return;
    case "exit":
      // The run's own word on how it ended replaces any crash the sweeper guessed.
      guarded(
        t,
        pending,
        "state = $3, exit_code = $4, signal = $5, error = $6, finished_at = $7, sweeper_crashed_at = NULL",
        "state_seq",
        pk,
        seq,
        [r.state, r.exitCode, r.signal, r.error, r.finishedAt],
      );
      return;
    case "media":
      applyMediaPostgres(t, pk, seq, r.step, r.key, r.value, pending);
      return;
    default: {
      // A kind this version does not know, kept opaque (see sqlite-ingest.ts).
      const opaque = r as { k: string; seq: number; at?: unknown };
      const data = encodeOpaqueRecord(opaque);
      const at = seq === 0 ? opaqueTime(opaque.at, data) : 0;
      pending.push(t`INSERT INTO unknown_records (run_pk, kind, seq, at, data) VALUES (${pk}, ${opaque.k}, ${seq}, ${at}, ${data})
                     ON CONFLICT (run_pk, kind, seq, at) DO UPDATE SET data = excluded.data`);
    }
  }
}

/** A run record: the first open of a run, or a resume that refreshes its init fields. */
function applyRun(t: Sql, pk: number, seq: number, run: RunInfo, pending: Pending[]): void {
  guarded(t, pending, "name = $3", "name_seq", pk, seq, [run.name]);
  guarded(t, pending, "notes = $3", "notes_seq", pk, seq, [run.notes]);
  guarded(t, pending, "tags = $3::text::jsonb", "tags_seq", pk, seq, [JSON.stringify(run.tags)]);
  guarded(t, pending, "config = $3::text::jsonb", "config_seq", pk, seq, [toJson(run.config)]);
  guarded(t, pending, "run_group = $3, job_type = $4, program = $5::text::jsonb", "init_seq", pk, seq, [run.group, run.jobType, toJson(run.program)]);
  // A newer run record (a resume) reopens the run: the old ending no longer holds.
  guarded(
    t,
    pending,
    "state = 'running', exit_code = NULL, signal = NULL, error = NULL, finished_at = NULL, sweeper_crashed_at = NULL",
    "state_seq",
    pk,
    seq,
    [],
  );
}

/**
 * Whether any history record of the batch overlaps a stored one or another of the batch. Two
 * lookups by primary key: the stored record before the batch's first seq, and those within its span.
 */
async function overlapsAny(t: Sql, pk: number, records: RunRecord[]): Promise<boolean> {
  const spans = records
    .filter((r): r is HistoryRecord => r.k === "history")
    .map((r) => [r.seq, r.seq + historyLength(r) - 1])
    .filter(([first, last]) => last >= first)
    .sort((a, b) => a[0] - b[0]);
  if (spans.length === 0) return false;
  for (let i = 1; i < spans.length; i++) if (spans[i][0] <= spans[i - 1][1]) return true;
  const first = spans[0][0];
  const last = Math.max(...spans.map((s) => s[1]));
  const [before] = await t<{ end: number }[]>`
    SELECT first_seq + n - 1 AS end FROM history_records WHERE run_pk = ${pk} AND first_seq < ${first} ORDER BY first_seq DESC LIMIT 1`;
  if (before && before.end >= first) return true;
  const within = await t<{ first_seq: number; n: number }[]>`
    SELECT first_seq, n FROM history_records WHERE run_pk = ${pk} AND first_seq >= ${first} AND first_seq <= ${last}`;
  return within.some((w) => spans.some(([a, b]) => w.first_seq <= b && w.first_seq + w.n - 1 >= a));
}

/** Takes seqs first..last out of the stored records, as sqlite-ingest.ts's giveUpSteps does. */
async function giveUpSteps(t: Sql, pk: number, first: number, last: number): Promise<void> {
  const overlapping = await t<{ first_seq: number; n: number; keys: string }[]>`
    SELECT first_seq, n, keys FROM history_records WHERE run_pk = ${pk} AND first_seq >= ${first} AND first_seq <= ${last} ORDER BY first_seq`;
  const [before] = await t<{ first_seq: number; n: number; keys: string }[]>`
    SELECT first_seq, n, keys FROM history_records WHERE run_pk = ${pk} AND first_seq < ${first} ORDER BY first_seq DESC LIMIT 1`;
  if (before && before.first_seq + before.n > first) overlapping.unshift(before);
  for (const old of overlapping) {
    const keys = recordKeys(old.keys);
    // A record wholly taken (a resend of it) keeps nothing: its chunks need not be read.
    const whole = old.first_seq >= first && old.first_seq + old.n - 1 <= last;
    const rows = whole
      ? []
      : await t<(StoredChunk & { key: string })[]>`
          SELECT key, n, m, data, extra FROM history_chunks WHERE run_pk = ${pk} AND first_seq = ${old.first_seq} AND key = ANY(${keys}::text[])`;
    const byKey = new Map(rows.map((r) => [r.key, r]));
    await t`DELETE FROM history_chunks WHERE run_pk = ${pk} AND first_seq = ${old.first_seq} AND key = ANY(${keys}::text[])`;
    await t`DELETE FROM history_records WHERE run_pk = ${pk} AND first_seq = ${old.first_seq}`;
    const pending: Pending[] = [];
    for (const part of keptParts(old.first_seq, old.n, keys, keys.map((k) => byKey.get(k)), first, last)) {
      writeRecord(t, pk, part.seq, part.chunks, part.index, pending);
    }
    await Promise.all(pending);
  }
}

/** A history record of a run that keeps it once (history-rows.ts): its chunks and its index row. */
function insertHistoryOnce(t: Sql, pk: number, r: HistoryRecord, pending: Pending[]): void {
  const chunks = historyChunks(r);
  if (chunks.length === 0) return; // no steps
  writeRecord(t, pk, r.seq, chunks, historyRecordIndex(r, chunks), pending);
}

function writeRecord(t: Sql, pk: number, seq: number, chunks: HistoryChunk[], index: HistoryRecordIndex, pending: Pending[]): void {
  insertChunks(t, pk, seq, chunks, index.minStep, index.maxStep, pending);
  pending.push(t`INSERT INTO history_records (run_pk, first_seq, n, min_step, max_step, keys)
                 VALUES (${pk}, ${seq}, ${index.n}, ${index.minStep}, ${index.maxStep}, ${index.keys})
                 ON CONFLICT (run_pk, first_seq) DO UPDATE SET n = excluded.n, min_step = excluded.min_step, max_step = excluded.max_step, keys = excluded.keys`);
}

/** The chunks of one record, with their step range and the min and max of their finite numbers. */
function insertChunks(t: Sql, pk: number, seq: number, chunks: HistoryChunk[], firstStep: number, lastStep: number, pending: Pending[]): void {
  if (chunks.length === 0) return;
  const rows = chunks.map((c) => {
    const { min, max } = chunkRange(c.n, c.m, c.data);
    return {
      run_pk: pk,
      key: c.key,
      first_seq: seq,
      n: c.n,
      m: c.m,
      first_step: firstStep,
      last_step: lastStep,
      min_value: min,
      max_value: max,
      data: c.data,
      extra: c.extra,
    };
  });
  const cols = ["run_pk", "key", "first_seq", "n", "m", "first_step", "last_step", "min_value", "max_value", "data", "extra"] as const;
  pending.push(t`INSERT INTO history_chunks ${t(rows, ...cols)}
                 ON CONFLICT (run_pk, key, first_seq) DO UPDATE SET n = excluded.n, m = excluded.m, first_step = excluded.first_step,
                   last_step = excluded.last_step, min_value = excluded.min_value, max_value = excluded.max_value, data = excluded.data,
                   extra = excluded.extra`);
}

/** A run from before migration 2: the wide rows (one per step) and the column chunks (one per key) of a history record. */
function insertHistory(t: Sql, pk: number, r: HistoryRecord, pending: Pending[]): void {
  const seq = r.seq;
  let steps: ArrayLike<number>;
  let ts: ArrayLike<number>;
  let blobs: Uint8Array[];
  if ("cols" in r) {
    steps = r.cols._step as ArrayLike<number>;
    ts = r.cols._timestamp as ArrayLike<number>;
    blobs = encodeHistoryColumns(r.n, r.cols);
  } else {
    steps = r.rows.map((row) => row._step);
    ts = r.rows.map((row) => row._timestamp);
    blobs = r.rows.map((row) => encodeHistoryRow(row));
  }
  const n = blobs.length;
  for (let start = 0; start < n; start += ROWS_PER_INSERT) {
    const rows = [];
    for (let i = start; i < Math.min(n, start + ROWS_PER_INSERT); i++) {
      rows.push({ run_pk: pk, seq: seq + i, step: steps[i], ts: ts[i], data: blobs[i] });
    }
    pending.push(t`INSERT INTO history ${t(rows, "run_pk", "seq", "step", "ts", "data")}
                   ON CONFLICT (run_pk, seq) DO UPDATE SET step = excluded.step, ts = excluded.ts, data = excluded.data`);
  }
  if (n === 0) return;
  insertChunks(t, pk, seq, historyChunks(r), steps[0], steps[n - 1], pending);
}

/** Line i of a console record takes seq + i. */
function insertConsole(t: Sql, pk: number, seq: number, lines: ConsoleLine[], pending: Pending[]): void {
  if (lines.length === 0) return;
  const rows = lines.map((line, i) => ({ run_pk: pk, seq: seq + i, at: line.at, stream: line.stream, text: line.text }));
  for (let start = 0; start < rows.length; start += ROWS_PER_INSERT) {
    const part = rows.slice(start, start + ROWS_PER_INSERT);
    pending.push(t`INSERT INTO console_lines ${t(part, "run_pk", "seq", "at", "stream", "text")}
                   ON CONFLICT (run_pk, seq) DO UPDATE SET at = excluded.at, stream = excluded.stream, text = excluded.text`);
  }
}

/** As sqlite-ingest.ts: a daemon's opaque record is keyed by its time, or by 48 bits of its content's sha256. */
function opaqueTime(at: unknown, data: Buffer): number {
  if (typeof at === "number" && Number.isSafeInteger(at)) return at;
  return -createHash("sha256").update(data).digest().readUIntBE(0, 6) - 1;
}

/** JSON text of a config, summary or metadata value, NaN and the infinities as strings (as sqlite-ingest.ts's toJson). */
function toJson(value: unknown): string {
  return JSON.stringify(value, jsonReplacer);
}
