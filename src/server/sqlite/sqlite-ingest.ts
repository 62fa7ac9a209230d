/**
 * Applies a batch of run records to SQLite in one transaction: the hot path of the server.
 *
 * Idempotence comes from two rules (protocol/records.ts): history steps, console lines and
 * system metrics samples are keyed by (run, seq) (history by column: a record's chunks and
 * index row by its first seq, see history-rows.ts on records that overlap) or by (run, time),
 * so a resent row replaces itself; every other field is written only when the record's seq is
 * newer than the seq stored beside that field, so a replayed older record changes nothing. Both rules live in the SQL itself (`WHERE x_seq < ?`), which keeps them true whatever
 * order batches arrive in.
 *
 * The daemon's own records (a metadata probe, system samples, refusal reports) carry seq 0,
 * outside the client's sequence: they never move last_seq, from which a resuming client numbers
 * its records.
 *
 * A record of a kind this version does not know (a newer daemon's) is kept whole and opaque in
 * unknown_records, keyed like the rest: by seq, or by its time when it is the daemon's (seq 0).
 */
import { createHash } from "node:crypto";
import type Database from "better-sqlite3";
import { jsonReplacer } from "../../protocol/api.js";
import { errors } from "../../protocol/errors.js";
import type { ConsoleLine, HistoryRecord, RunInfo, RunRecord } from "../../protocol/records.js";
import { seqSpan } from "../../protocol/records.js";
import { isKnownKind } from "../../protocol/record-check.js";
import { historyChunks, type HistoryChunk } from "../store/history-chunks.js";
import { CHUNKS_ONLY, historyRecordIndex, keptParts, recordKeys, type HistoryRecordIndex, type StoredChunk } from "../store/history-rows.js";
import { encodeHistoryColumns, encodeHistoryRow, encodeOpaqueRecord, encodeSample } from "../store/history-codec.js";
import { MARK_CHANGED, REVIVE_IF_SWEPT } from "./sqlite-liveness.js";
import { SqliteMedia } from "./sqlite-media.js";
import type { IngestOutcome, IngestTarget } from "../store/store.js";

/**
 * Rows per multi-row INSERT: 64 x 5 = 320 bound parameters, far under SQLite's limit of 32,766.
 * Measured here (2 cores): about 8 % more rows/s than one row per statement call.
 */
const HISTORY_CHUNK = 64;

/** Prepared once per database: preparing per request would cost more than the inserts. */
export class SqliteIngest {
  private readonly s;
  private readonly chunkArgs: unknown[] = new Array(HISTORY_CHUNK * 5);
  private readonly tx: Database.Transaction<(target: IngestTarget, records: RunRecord[], now: number) => IngestOutcome>;

  constructor(db: Database.Database, private readonly media: SqliteMedia = new SqliteMedia(db)) {
    const p = (sql: string) => db.prepare(sql);
    const guarded = (set: string, seqCol: string) => p(`UPDATE runs SET ${set}, ${seqCol} = @seq WHERE pk = @pk AND ${seqCol} < @seq`);
    this.s = {
      findProject: p("SELECT id FROM projects WHERE entity_id = ? AND name = ?").pluck(),
      insertProject: p("INSERT INTO projects (entity_id, name, created_at) VALUES (?, ?, ?)"),
      findRun: p("SELECT pk, history_chunks FROM runs WHERE project_id = ? AND run_id = ?").raw(true),
      insertRun: p(
        // history_chunks = 2: the column chunks are the run's one copy of its history (migration 9).
        // A new run takes its project's default privacy (migration 7).
        `INSERT INTO runs (project_id, run_id, name, author_user_id, created_at, heartbeat_at, history_chunks, privacy)
         VALUES (?, ?, ?, ?, ?, ?, ${CHUNKS_ONLY}, (SELECT default_privacy FROM projects WHERE id = ?))`,
      ),
      name: guarded("name = @v", "name_seq"),
      notes: guarded("notes = @v", "notes_seq"),
      tags: guarded("tags = @v", "tags_seq"),
      config: guarded("config = @v", "config_seq"),
      summary: guarded("summary = @v", "summary_seq"),
      // `<=`, unlike the other fields: the daemon sends its probe with seq 0 each time it opens
      // the run, and a respawned daemon's fresh probe must replace the one before it.
      metadata: p("UPDATE runs SET metadata = @v, metadata_seq = @seq WHERE pk = @pk AND metadata_seq <= @seq"),
      init: guarded("run_group = @group, job_type = @jobType, program = @program", "init_seq"),
      // A newer run record (a resume) reopens the run: the old ending no longer holds.
      reopen: guarded(
        "state = 'running', exit_code = NULL, signal = NULL, error = NULL, finished_at = NULL, sweeper_crashed_at = NULL",
        "state_seq",
      ),
      // The run's own word on how it ended replaces any crash the sweeper guessed.
      exit: guarded(
        "state = @state, exit_code = @exitCode, signal = @signal, error = @error, finished_at = @finishedAt, sweeper_crashed_at = NULL",
        "state_seq",
      ),
      history: p("INSERT OR REPLACE INTO history (run_pk, seq, step, ts, data) VALUES (?, ?, ?, ?, ?)"),
      historyChunk: p(`INSERT OR REPLACE INTO history (run_pk, seq, step, ts, data) VALUES ${Array(HISTORY_CHUNK).fill("(?, ?, ?, ?, ?)").join(", ")}`),
      chunk: p("INSERT OR REPLACE INTO history_chunks (run_pk, key, first_seq, n, m, data, extra) VALUES (?, ?, ?, ?, ?, ?, ?)"),
      // The records a new one may overlap (history-rows.ts): the one before it, and those from its first seq to its last.
      recordBefore: p("SELECT first_seq, n, keys FROM history_records WHERE run_pk = ? AND first_seq < ? ORDER BY first_seq DESC LIMIT 1").raw(),
      recordsWithin: p("SELECT first_seq, n, keys FROM history_records WHERE run_pk = ? AND first_seq >= ? AND first_seq <= ? ORDER BY first_seq").raw(),
      storedChunk: p("SELECT n, m, data, extra FROM history_chunks WHERE run_pk = ? AND key = ? AND first_seq = ?"),
      record: p("INSERT OR REPLACE INTO history_records (run_pk, first_seq, n, min_step, max_step, keys) VALUES (?, ?, ?, ?, ?, ?)"),
      dropRecord: p("DELETE FROM history_records WHERE run_pk = ? AND first_seq = ?"),
      dropChunk: p("DELETE FROM history_chunks WHERE run_pk = ? AND key = ? AND first_seq = ?"),
      system: p("INSERT OR REPLACE INTO system_metrics (run_pk, at, data) VALUES (?, ?, ?)"),
      systemKey: p("INSERT OR IGNORE INTO system_metric_keys (run_pk, key) VALUES (?, ?)"),
      console: p("INSERT OR REPLACE INTO console_lines (run_pk, seq, at, stream, text) VALUES (?, ?, ?, ?, ?)"),
      refused: p("INSERT OR REPLACE INTO refused_reports (run_pk, at, records, bytes, error) VALUES (?, ?, ?, ?, ?)"),
      unknown: p("INSERT OR REPLACE INTO unknown_records (run_pk, kind, seq, at, data) VALUES (?, ?, ?, ?, ?)"),
      // Any upload proves the run alive: it undoes a crash the sweeper guessed (after the exit
      // record of the same body, if any, has had its say).
      touch: p(
        `UPDATE runs SET heartbeat_at = ?, last_seq = MAX(last_seq, ?), ${MARK_CHANGED}, ${REVIVE_IF_SWEPT} WHERE pk = ? RETURNING last_seq`,
      ).pluck(),
    };
    this.tx = db.transaction((target: IngestTarget, records: RunRecord[], now: number) => this.applyAll(target, records, now));
  }

  /** Applies every record or none; throws TRK_ERR_NOT_FOUND for records of an unknown run. */
  apply(target: IngestTarget, records: RunRecord[], now: number): IngestOutcome {
    // IMMEDIATE (sqlite-connection.ts): the writer thread and the main thread both write.
    return this.tx.immediate(target, records, now);
  }

  private applyAll(target: IngestTarget, records: RunRecord[], now: number): IngestOutcome {
    const [runPk, layout] = this.findOrCreateRun(target, records, now);
    let maxSeq = -1;
    for (const r of records) {
      this.applyOne(runPk, layout, r);
      // A record that takes no sequence number (the daemon's, or an empty batch) holds none; one
      // of an unknown kind takes one, unless it is the daemon's (seq 0).
      const span = isKnownKind(r.k) ? seqSpan(r) : r.seq === 0 ? 0 : 1;
      if (span > 0) maxSeq = Math.max(maxSeq, r.seq + span - 1);
    }
    const lastSeq = this.s.touch.get(now, maxSeq, runPk) as number;
    return { records: records.length, lastSeq };
  }

  /** The run's pk and its history layout (runs.history_chunks). */
  private findOrCreateRun(target: IngestTarget, records: RunRecord[], now: number): [number, number] {
    const runRecord = records.find((r): r is Extract<RunRecord, { k: "run" }> => r.k === "run");
    const where = `Run ${target.runId} in project ${target.project}`;
    let projectId = this.s.findProject.get(target.entityId, target.project) as number | undefined;
    if (projectId === undefined) {
      // Projects spring into being with their first run, as in W&B (or with a settings PATCH).
      if (!runRecord) throw errors.notFound(where);
      projectId = Number(this.s.insertProject.run(target.entityId, target.project, now).lastInsertRowid);
    }
    const found = this.s.findRun.get(projectId, target.runId) as [number, number] | undefined;
    if (found !== undefined) return found;
    if (!runRecord) throw errors.notFound(where);
    const run = runRecord.run;
    // The row starts with every *_seq at -1; applying the run record then fills it in.
    const pk = Number(this.s.insertRun.run(projectId, target.runId, run.name, target.authorUserId, run.createdAt, now, projectId).lastInsertRowid);
    return [pk, CHUNKS_ONLY];
  }

  private applyOne(pk: number, layout: number, r: RunRecord): void {
    const seq = r.seq;
    switch (r.k) {
      case "run":
        this.applyRun(pk, seq, r.run);
        return;
      case "history":
        if (layout === CHUNKS_ONLY) this.insertChunksOnly(pk, r);
        else this.insertLegacy(pk, r);
        return;
      case "config":
        this.s.config.run({ pk, seq, v: toJson(r.config) });
        return;
      case "summary":
        this.s.summary.run({ pk, seq, v: toJson(r.summary) });
        return;
      case "meta":
        this.s.metadata.run({ pk, seq, v: toJson(r.metadata) });
        return;
      case "system":
        this.s.system.run(pk, r.at, encodeSample(r.values));
        for (const key of Object.keys(r.values)) this.s.systemKey.run(pk, key);
        return;
      case "console":
        this.insertConsole(pk, seq, r.lines);
        return;
      case "update":
        if (r.name !== undefined) this.s.name.run({ pk, seq, v: r.name });
        if (r.notes !== undefined) this.s.notes.run({ pk, seq, v: r.notes });
        if (r.tags !== undefined) this.s.tags.run({ pk, seq, v: JSON.stringify(r.tags) });
        return;
      case "refused":
        this.s.refused.run(pk, r.at, r.records, r.bytes, r.error);
        return;
      case "media":
        this.media.apply(pk, seq, r.step, r.key, r.value);
        return;
      case "exit":
        this.s.exit.run({
          pk,
          seq,
          state: r.state,
          exitCode: r.exitCode,
          signal: r.signal,
          error: r.error,
          finishedAt: r.finishedAt,
        });
        return;
      default: {
        // A kind this version does not know (record-check.ts let it through as plain data).
        const opaque = r as { k: string; seq: number; at?: unknown };
        const data = encodeOpaqueRecord(opaque);
        this.s.unknown.run(pk, opaque.k, seq, seq === 0 ? opaqueTime(opaque.at, data) : 0, data);
      }
    }
  }

  /**
   * A history record of a run that keeps it once, by column: its chunks, and its index row
   * (history-rows.ts). Its steps replace those stored at the same seqs, as a resent wide row
   * replaced itself: the records it overlaps give them up first.
   */
  private insertChunksOnly(pk: number, r: HistoryRecord): void {
    const chunks = historyChunks(r);
    if (chunks.length === 0) return; // no steps
    const index = historyRecordIndex(r, chunks);
    this.giveUpSteps(pk, r.seq, r.seq + index.n - 1);
    this.writeRecord(pk, r.seq, chunks, index);
  }

  private writeRecord(pk: number, seq: number, chunks: HistoryChunk[], index: HistoryRecordIndex): void {
    for (const c of chunks) this.s.chunk.run(pk, c.key, seq, c.n, c.m, c.data, c.extra);
    this.s.record.run(pk, seq, index.n, index.minStep, index.maxStep, index.keys);
  }

  /**
   * Takes seqs first..last out of the stored records: each record holding some is deleted and
   * what it holds outside them written back (before them, at its own first seq; after them, at
   * last + 1). The daemon's resend of a record is the same record: it is deleted, then written again.
   */
  private giveUpSteps(pk: number, first: number, last: number): void {
    const before = this.s.recordBefore.get(pk, first) as [number, number, string] | undefined;
    const overlapping = this.s.recordsWithin.all(pk, first, last) as [number, number, string][];
    if (before && before[0] + before[1] > first) overlapping.unshift(before);
    for (const [oldFirst, n, keysJson] of overlapping) {
      const keys = recordKeys(keysJson);
      // A record wholly taken (the daemon's resend) keeps nothing: its chunks need not be read.
      const whole = oldFirst >= first && oldFirst + n - 1 <= last;
      const stored = whole ? [] : keys.map((key) => this.s.storedChunk.get(pk, key, oldFirst) as StoredChunk | undefined);
      for (const key of keys) this.s.dropChunk.run(pk, key, oldFirst);
      this.s.dropRecord.run(pk, oldFirst);
      if (whole) continue;
      for (const part of keptParts(oldFirst, n, keys, stored, first, last)) this.writeRecord(pk, part.seq, part.chunks, part.index);
    }
  }

  /**
   * A history record of a run from before migration 9: wide rows, which its reads use, and
   * chunks, which its charts use when it has them all (history_chunks = 1).
   */
  private insertLegacy(pk: number, r: HistoryRecord): void {
    const seq = r.seq;
    if ("cols" in r) {
      // Validation made sure both columns are there and hold numbers.
      const steps = r.cols._step as ArrayLike<number>;
      this.insertRows(pk, seq, steps, r.cols._timestamp as ArrayLike<number>, encodeHistoryColumns(r.n, r.cols));
    } else {
      const rows = r.rows;
      this.insertRows(pk, seq, rows.map((row) => row._step), rows.map((row) => row._timestamp), rows.map((row) => encodeHistoryRow(row)));
    }
    for (const c of historyChunks(r)) this.s.chunk.run(pk, c.key, seq, c.n, c.m, c.data, c.extra);
  }

  /**
   * Writes history rows (step i: its _step, its _timestamp, its stored blob) HISTORY_CHUNK at a
   * time through one multi-row INSERT, then the rest one by one: each statement call crosses from
   * JS into SQLite, and fewer crossings are faster.
   */
  private insertRows(pk: number, seq: number, steps: ArrayLike<number>, ts: ArrayLike<number>, blobs: Uint8Array[]): void {
    const args = this.chunkArgs;
    const n = blobs.length;
    let i = 0;
    for (; i + HISTORY_CHUNK <= n; i += HISTORY_CHUNK) {
      for (let j = 0; j < HISTORY_CHUNK; j++) {
        const o = j * 5;
        args[o] = pk;
        args[o + 1] = seq + i + j;
        args[o + 2] = steps[i + j];
        args[o + 3] = ts[i + j];
        args[o + 4] = blobs[i + j];
      }
      this.s.historyChunk.run(args);
    }
    for (; i < n; i++) this.s.history.run(pk, seq + i, steps[i], ts[i], blobs[i]);
  }

  /** Line i of a console record takes seq + i. */
  private insertConsole(pk: number, seq: number, lines: ConsoleLine[]): void {
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      this.s.console.run(pk, seq + i, line.at, line.stream, line.text);
    }
  }

  /** A run record: the first open of a run, or a resume that refreshes its init fields. */
  private applyRun(pk: number, seq: number, run: RunInfo): void {
    this.s.name.run({ pk, seq, v: run.name });
    this.s.notes.run({ pk, seq, v: run.notes });
    this.s.tags.run({ pk, seq, v: JSON.stringify(run.tags) });
    this.s.config.run({ pk, seq, v: toJson(run.config) });
    this.s.init.run({ pk, seq, group: run.group, jobType: run.jobType, program: toJson(run.program) });
    this.s.reopen.run({ pk, seq });
  }
}

/**
 * JSON text for a config, summary or metadata column. Non-finite numbers become "NaN" /
 * "Infinity" strings, exactly how the API shows them; plain JSON would turn them into null.
 */
export function toJson(value: unknown): string {
  return JSON.stringify(value, jsonReplacer);
}

/**
 * The key of a daemon's record (seq 0) of an unknown kind: its time `at`, as for the known ones;
 * one without a time is keyed by its content instead (48 bits of its sha256, negative so it never
 * meets a time), so that a resend replaces it and two different records do not replace each other.
 */
function opaqueTime(at: unknown, data: Buffer): number {
  if (typeof at === "number" && Number.isSafeInteger(at)) return at;
  return -createHash("sha256").update(data).digest().readUIntBE(0, 6) - 1;
}
