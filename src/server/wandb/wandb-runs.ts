/**
 * W&B runs as trackside runs: what an UpsertBucket, a file_stream body and an uploaded
 * `wandb-metadata.json` do to a run, as records applied through the store's one ingest path
 * (the same checks, idempotence and liveness as the daemon's uploads).
 *
 * Seqs (file-stream.ts): fields that change many times take seqs above the run's last one, read
 * just before, and the metadata is merged into the run's as read. So the requests of one run
 * that reach this server are applied one after the other, each reading the run after the one
 * before it has committed: W&B's clients send a run's UpsertBucket, file_stream and file uploads
 * from different goroutines, and a store that commits off the event loop (SQLite's writer
 * thread, PostgreSQL) would otherwise let two of them read the same run and keep only one's
 * merge. Across replicas (PostgreSQL), two requests of one run at the same instant may still take
 * the same seq for the same field, and then the one applied first stays.
 */
import { FINAL_STATES, type JsonObject, type RunInfo, type RunRecord } from "../../protocol/records.js";
import { validateRecords } from "../../protocol/record-check.js";
import { errors } from "../../protocol/errors.js";
import type { IngestTarget, Store, StoredRun } from "../store/store.js";
import { splitConfig } from "./config-shape.js";
import { checkFileStreamBody, fileStreamRecords, type FileStreamBody } from "./file-stream.js";
import { environmentOf, wandbMetadata } from "../../protocol/wandb-metadata.js";
import { parseWandbJson } from "../../protocol/wandb-mapping.js";

/** What an UpsertBucket may set; null: not sent (W&B's clients send only what changed). */
export interface UpsertInput {
  displayName: string | null;
  notes: string | null;
  tags: string[] | null;
  group: string | null;
  jobType: string | null;
  host: string | null;
  program: string | null;
  /** The config as sent (wrapped or raw, `_wandb` inside). */
  config: JsonObject | null;
  summary: JsonObject | null;
}

/** A run's path with the ids ingest needs. */
export interface WandbTarget extends IngestTarget {
  entity: string;
}

const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The run record's `program`: W&B tells only the program and the host, so the other fields stay
 * out rather than empty (an empty executable would show as a command `''`; the overview reads
 * each field as optional, cli/metadata-facts.ts). The record check asks only for an object.
 */
function programOf(input: UpsertInput, existing: StoredRun | null): RunInfo["program"] {
  const program: JsonObject = { ...(existing?.program ?? {}) };
  if (input.program) program.executable = input.program;
  if (input.host) program.host = input.host;
  return program as RunInfo["program"];
}

/** How long a RunResumeStatus stands for the upsert that follows it (W&B's client sends it at once). */
const RESUME_WINDOW_MS = 10 * 60_000;

/**
 * W&B's runs on the store. Holds nothing between requests: any replica behind a load balancer
 * may answer any request of a run, the RunResumeStatus and the UpsertBucket that follows it too.
 */
export class WandbRuns {
  /** Per run, the last of its requests under way here; an entry goes when its run has none. */
  private readonly underWay = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
  ) {}

  /** Runs `work` once the requests of the same run before it are done (failed ones too). */
  private oneAtATime<T>(t: WandbTarget, work: () => Promise<T>): Promise<T> {
    const key = `${t.entityId}\u0000${t.project}\u0000${t.runId}`;
    const mine = (this.underWay.get(key) ?? Promise.resolve()).then(work);
    const settled = mine.then(
      () => undefined,
      () => undefined,
    );
    this.underWay.set(key, settled);
    void settled.then(() => {
      if (this.underWay.get(key) === settled) this.underWay.delete(key);
    });
    return mine;
  }

  private async run(t: WandbTarget): Promise<StoredRun> {
    const run = await this.store.getRun(t.entity, t.project, t.runId);
    if (!run) throw errors.notFound(`Run ${t.entity}/${t.project}/${t.runId}`);
    return run;
  }

  /** Checks the records as the daemon's are checked (coded 400s), then applies them. */
  private async apply(t: WandbTarget, records: RunRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.store.ingest({ entityId: t.entityId, project: t.project, runId: t.runId, authorUserId: t.authorUserId }, validateRecords(records, t.runId), this.now());
  }

  /**
   * Notes that a client asked to resume the run (RunResumeStatus). Only an upsert after such an
   * ask reopens an ended run: W&B also upserts ended runs without resuming (the public API's
   * `run.update()`, a late retry, `wandb sync` again), and those must not undo the end. The ask
   * is the database's, not this process's: the upsert may reach another replica.
   */
  async resumeAskedFor(run: StoredRun): Promise<void> {
    const now = this.now();
    await this.store.addResumeAsk(run.pk, now, now - RESUME_WINDOW_MS);
  }

  /**
   * UpsertBucket: creates the run, reopens one that ended when its resume was asked for, or
   * updates it (an ended run keeps its state and exit code). The config
   * is the whole config each time (it replaces); `_wandb` goes to the metadata, and its
   * environment facts (`e.<writer>`) to the overview's fields.
   */
  upsert(t: WandbTarget, input: UpsertInput, newName: () => string): Promise<{ run: StoredRun; inserted: boolean }> {
    return this.oneAtATime(t, () => this.upsertNow(t, input, newName));
  }

  private async upsertNow(t: WandbTarget, input: UpsertInput, newName: () => string): Promise<{ run: StoredRun; inserted: boolean }> {
    const now = this.now();
    const existing = await this.store.getRun(t.entity, t.project, t.runId);
    const split = input.config ? splitConfig(input.config) : null;
    let seq = existing ? Math.max(existing.lastSeq + 1, 1) : 1;
    const records: RunRecord[] = [];
    // A run that ended by its own word opens again only when resumed (RunResumeStatus came first);
    // one the sweeper guessed crashed revives with any upload.
    // Any upsert uses the ask up, so that a later one (the run ended meanwhile) cannot reopen it.
    const resumed = existing !== null && (await this.store.takeResumeAsk(existing.pk, now - RESUME_WINDOW_MS));
    const reopen = resumed && existing !== null && FINAL_STATES.includes(existing.state) && existing.sweeperCrashedAt === null;
    if (!existing || reopen) {
      const run: RunInfo = {
        id: t.runId,
        entity: t.entity,
        project: t.project,
        name: input.displayName ?? existing?.name ?? newName(),
        notes: input.notes ?? existing?.notes ?? null,
        tags: input.tags ?? existing?.tags ?? [],
        group: input.group ?? existing?.group ?? null,
        jobType: input.jobType ?? existing?.jobType ?? null,
        config: split?.config ?? existing?.config ?? {},
        createdAt: existing?.createdAt ?? now,
        program: programOf(input, existing),
        ...(existing ? { resumed: true } : {}),
      };
      records.push({ k: "run", seq: seq++, run });
    } else {
      const update: Extract<RunRecord, { k: "update" }> = { k: "update", seq: 0 };
      if (input.displayName !== null) update.name = input.displayName;
      if (input.notes !== null) update.notes = input.notes;
      if (input.tags !== null) update.tags = input.tags;
      if (Object.keys(update).length > 2) records.push({ ...update, seq: seq++ });
      if (split) records.push({ k: "config", seq: seq++, config: split.config });
    }
    if (input.summary) records.push({ k: "summary", seq: seq++, summary: input.summary });
    if (split?.wandb) {
      const env = environmentOf(split.wandb);
      const metadata = { ...(existing?.metadata ?? {}), ...(env ? wandbMetadata(env) : {}), wandb: split.wandb };
      records.push({ k: "meta", seq: seq++, metadata });
    }
    await this.apply(t, records);
    return { run: await this.run(t), inserted: existing === null };
  }

  /**
   * A file_stream body: its lines, summary and end, or, when it holds nothing (`{}`), a
   * heartbeat. Either way the run is alive, and a crash the sweeper guessed is undone.
   */
  async fileStream(t: WandbTarget, rawBody: unknown): Promise<void> {
    const body = checkFileStreamBody(rawBody);
    await this.oneAtATime(t, () => this.fileStreamNow(t, body));
  }

  private async fileStreamNow(t: WandbTarget, body: FileStreamBody): Promise<void> {
    const run = await this.run(t);
    const now = this.now();
    const records = fileStreamRecords(body, Math.max(run.lastSeq + 1, 1), now);
    if (records.length === 0) {
      await this.store.heartbeat(t.entity, t.project, t.runId, now);
      return;
    }
    await this.apply(t, records);
  }

  /**
   * A run file uploaded through a signed URL. `wandb-metadata.json` becomes the overview's
   * metadata; the others repeat what file_stream and UpsertBucket carried already, or are files
   * trackside does not keep yet (media, `requirements.txt`): accepted and dropped.
   */
  async uploaded(t: WandbTarget, file: string, bytes: Buffer): Promise<void> {
    if (file !== "wandb-metadata.json") return;
    let env: unknown;
    try {
      env = parseWandbJson(bytes.toString("utf8"));
    } catch (err) {
      throw errors.badRequest(`wandb-metadata.json is not JSON (${(err as Error).message})`);
    }
    if (!isObject(env)) throw errors.badRequest("wandb-metadata.json is not a JSON object");
    await this.oneAtATime(t, async () => {
      const run = await this.run(t);
      await this.apply(t, [{ k: "meta", seq: Math.max(run.lastSeq + 1, 1), metadata: { ...run.metadata, ...wandbMetadata(env) } }]);
    });
  }
}
