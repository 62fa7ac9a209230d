/**
 * A run as the user holds it. `log()` only appends to an in-memory batch (the RecordQueue sends
 * it); `finish()` sends the final state and waits, within its timeout, for the upload.
 */
import { join } from "node:path";
import { errors, MAX_NAME, MAX_NOTES, MAX_STRING_VALUE, runUrl, type ConsoleLine, type JsonObject, type RefusedSummary, type RunState, type TracksideError } from "../protocol/index.js";
import { captureConsole, cutLine, releaseConsole } from "./console-capture.js";
import type { DaemonChannel } from "./daemon-channel.js";
import { History, type LogOptions } from "./history.js";
import type { Notices } from "./notices.js";
import { RecordQueue, type QueueBound, type QueueStats } from "./record-queue.js";
import { createConfig, createSummary, type Config, type Summary } from "./run-state.js";
import { checkTags, limited, type Settings } from "./settings.js";
import { formatFooter, pendingWhat, refusedWarning, type PendingCounts } from "./footer.js";
import { forgetRun, type ResumePoint } from "./resume.js";
import type { Artifact } from "./artifact.js";
import { logArtifact, useArtifact, type ArtifactRunContext, type LoggedArtifact, type UsedArtifact } from "./artifact-run.js";
import { MediaLog } from "./media-log.js";

/** What finish() reports. */
export interface FinishResult {
  state: RunState;
  exitCode: number;
  /** Everything reached the server (always false offline). */
  synced: boolean;
  pendingRecords: number;
  pendingBytes: number;
  /** Artifact versions and uses not on the server yet (offline: all of them, for `trackside sync`). */
  pendingArtifacts: number;
  /** Media files (logged images) not on the server yet (offline: all of them, for `trackside sync`). */
  pendingMedia: number;
  /**
   * What the server refused for good (a value or record it will never accept): set aside in the
   * run's dead-letter file, past which the rest was uploaded. Null when nothing was refused.
   */
  refused: RefusedSummary | null;
}

export interface RunParts {
  settings: Settings;
  runDir: string | null;
  channel: DaemonChannel | null;
  notices: Notices;
  startedAt: number;
  onEnd: (run: Run) => void;
  /** Where a resumed run continues; absent for a new run. */
  resume?: ResumePoint | null;
}

export class Run {
  readonly id: string;
  readonly entity: string;
  readonly project: string;
  /** `entity/project/id` */
  readonly path: string;
  /** The run's page on the server. */
  readonly url: string;
  /** The run directory (WAL, files, logs); null when disabled. */
  readonly dir: string | null;
  readonly mode: Settings["mode"];
  readonly config: Config;
  readonly summary: Summary;
  private _name: string;
  private _notes: string | null;
  private _tags: readonly string[];
  private readonly parts: RunParts;
  private readonly history: History;
  private readonly queue: RecordQueue;
  private finishing: Promise<FinishResult> | null = null;
  private consoleSink: ((line: ConsoleLine) => void) | null = null;
  private ended = false;
  /** The artifact calls, one after another: their queue entries are made, and so worked, in call order. */
  private artifactWork: Promise<unknown> = Promise.resolve();
  /** Media values' records and staged blobs (media-log.ts). */
  private readonly media: MediaLog;

  /** @internal Use trackside.init(). */
  constructor(parts: RunParts) {
    const s = parts.settings;
    this.parts = parts;
    this.id = s.id;
    this.entity = s.entity;
    this.project = s.project;
    this.path = `${s.entity}/${s.project}/${s.id}`;
    this.url = runUrl(s.baseUrl, s.entity, s.project, s.id);
    this.dir = parts.runDir;
    this.mode = s.mode;
    const resume = parts.resume ?? null;
    this._name = resume?.name ?? s.name;
    this._notes = s.notes;
    this._tags = s.tags;
    const channel = parts.channel;
    const sender = channel
      ? (payload: Buffer, first: number, last: number, exit: boolean) =>
          channel
            .request({ t: "records", runPath: this.path, first, last, ...(exit ? { exit } : {}) }, payload)
            .then((m) => (m.t === "ack" ? { seq: m.seq, ...(m.refused ? { refused: m.refused } : {}) } : { seq: first - 1 }))
      : null;
    // The summary takes in logged steps lazily: `absorbed` counts the steps of the waiting batch
    // already in it; when the batch is sealed the rest go in, and the summary is sent along.
    let absorbed = 0;
    const catchUp = (into: JsonObject): void => {
      this.queue.latestFrom(absorbed, into);
      absorbed = this.queue.pendingSteps;
    };
    const markSummary = (): void => this.queue.markDirty("summary", () => ({ k: "summary", summary: sum.values() }));
    const onSeal = (): void => {
      if (this.queue.pendingSteps === 0) return;
      markSummary();
      sum.values(); // catch up on the whole batch before it goes
      absorbed = 0;
    };
    // Batches beyond the memory bound wait in the spill file: the daemon takes that file in if
    // the process dies before it comes back, as it does after an exit spill.
    const bound: QueueBound | null =
      channel && parts.runDir
        ? {
            maxBytes: s.maxQueuedBytes,
            file: this.spillPath(),
            onStuck: (held, file, stuckMs) =>
              parts.notices.warnOnce(
                "queue-bound",
                `the daemon at ${channel.address} has not taken run ${this.id}'s records for ${stuckMs / 1000} s: is it stopped or overloaded? ${mb(held)} of them are held in memory (the bound, settings.maxQueuedBytes, is ${mb(s.maxQueuedBytes)}); later ones wait in ${file} until it takes them; nothing is lost.`,
              ),
          }
        : null;
    this.queue = new RecordQueue(resume?.firstSeq ?? 1, sender, s.batchSize, s.flushIntervalMs, onSeal, bound);
    // A batch the daemon refused is set aside in the run's dead-letter file, and the run goes on;
    // the user learns of it now (once) and again from finish().
    this.queue.onRefused = (refusal, first, last) => {
      if (refusal.kept === false) {
        // Refused outright on a replay to a new daemon: nothing holds these records. Said each
        // time, not once: each such batch is a loss of its own.
        parts.notices.warnOnce(`replay-refused-${first}`, `TRK_ERR_RECORDS_REFUSED: the new daemon refused records ${first}..${last} of run ${this.id} outright when they were replayed to it (${refusal.error}); they could not be kept.`);
        return;
      }
      const e = errors.recordsRefused(refusal.records, refusal.error, parts.runDir ? join(parts.runDir, DEAD_LETTER_FILE) : null, "daemon");
      parts.notices.warnOnce("records-refused", `${e.code}: ${e.message}`);
    };
    const problem = (e: TracksideError): void => this.problem(e);
    const cfg = createConfig(resume?.config ?? s.config, () => this.queue.markDirty("config", () => ({ k: "config", config: cfg.values() })), problem);
    this.config = cfg.config;
    // Logged values left out of the summary are found while a batch is sealed, where even strict
    // mode must not throw: a warning, never an exception.
    const sum = createSummary(markSummary, problem, catchUp, resume?.summary, (e) => parts.notices.warn(e));
    this.summary = sum.summary;
    this.media = new MediaLog({
      runDir: parts.runDir,
      maxImagePixels: s.maxImagePixels,
      add: (record, bytes) => this.queue.add(record, bytes),
      handOver: channel
        ? async (entry) => {
            const reply = await channel.request({ t: "artifact", runPath: this.path, entry });
            if (reply.t !== "ok") throw errors.internal(`the daemon answered "artifact" with "${reply.t}"`);
          }
        : null,
      warn: (err) => parts.notices.warnOnce("media-blobs", `run ${this.id}'s media blobs could not be handed to the daemon (${err.message}); they are handed over again with the next ones and at finish(), a few times at most.`),
    });
    this.history = new History(parts.startedAt, this.queue, Date.now, resume?.firstStep ?? 0, (step, found) => this.media.log(step, found));
    if (channel) channel.replay = this.queue;
    if (channel && s.console === "auto") {
      this.consoleSink = (line) => this.queue.addConsoleLine(line);
      captureConsole(this.consoleSink);
    }
  }

  /** @internal The first record: who the run is and where it comes from. */
  begin(program: { executable: string; args: string[]; cwd: string; pid: number; host: string; nodeVersion: string; os: string; tracksideVersion: string }): Promise<void> {
    const s = this.parts.settings;
    this.queue.add({
      k: "run",
      run: {
        id: s.id,
        entity: s.entity,
        project: s.project,
        name: this._name,
        notes: this._notes,
        tags: [...this._tags],
        group: s.group,
        jobType: s.jobType,
        config: this.config.toJSON(),
        createdAt: this.parts.resume?.createdAt ?? this.parts.startedAt,
        program: { ...program, args: program.args.map(cutArg) },
        ...(this.parts.resume ? { resumed: true } : {}),
      },
    });
    return this.queue.flush();
  }

  get name(): string {
    return this._name;
  }
  /** Renames the run; the new name reaches the server. */
  set name(value: string) {
    if (typeof value !== "string" || value.length === 0) throw errors.invalidOption("run.name", value, `a non-empty string of at most ${MAX_NAME} characters`);
    this._name = limited("run.name", value, MAX_NAME);
    this.queue.add({ k: "update", name: value });
  }

  /** The run's description. */
  get notes(): string | null {
    return this._notes;
  }
  set notes(value: string | null) {
    if (value !== null && typeof value !== "string") throw errors.invalidOption("run.notes", value, "a string or null");
    this._notes = limited("run.notes", value, MAX_NOTES);
    this.queue.add({ k: "update", notes: value });
  }

  get tags(): readonly string[] {
    return this._tags;
  }
  set tags(value: readonly string[]) {
    this._tags = Object.freeze([...new Set(checkTags("run.tags", value))]);
    this.queue.add({ k: "update", tags: [...this._tags] });
  }

  /** @internal What the run's queue holds in memory and on disk (tests of the bound read it). */
  get queueStats(): QueueStats {
    return this.queue.stats;
  }

  /** The step the next committed log() gets. */
  get step(): number {
    return this.history.step;
  }

  /** True once finish() has completed (or the process is exiting). */
  get isFinished(): boolean {
    return this.ended || this.finishing !== null;
  }

  /**
   * Logs metrics at the current step (or at `opts.step`). Never throws for bad values unless
   * `settings.strict`: a bad key gets a TRK_ERR_UNLOGGABLE warning and the other keys are logged.
   * Media values (trackside.Image, a list of them, trackside.Histogram, trackside.Table) are
   * recorded at the same step; a bad one is TRK_ERR_INVALID_MEDIA naming its key.
   * @example run.log({ loss: 0.31, acc: 0.9, lr: { group0: 1e-3 } }); // keys loss, acc, lr/group0
   */
  log(data: Record<string, unknown>, opts?: LogOptions): void {
    if (this.finishing || this.ended) return this.problem(errors.runFinished(this.id));
    const problems = this.history.log(data, opts);
    if (problems !== null) for (const p of problems) this.problem(p);
  }

  /**
   * Stages the artifact's files in the run directory (hard links, else copies), writes its
   * manifest for the daemon and hands it over; resolves once they are safe there. The daemon
   * uploads it even if this process dies right after; `wait()` gives the version (`"name:v3"`).
   * Until the upload, rewrite none of its files in place (a new file, or a rename over it, is fine):
   * a hard link shares their bytes.
   * @throws TRK_ERR_INVALID_ARTIFACT for a file removed since it was added, or a bad alias.
   * @example
   * const data = trackside.artifact("mnist", "dataset").addDir("./data");
   * const logged = await run.logArtifact(data, { aliases: ["best"] });
   * console.log(await logged.wait()); // "mnist:v0"
   */
  logArtifact(artifact: Artifact, opts?: { aliases?: string[] }): Promise<LoggedArtifact> {
    return this.artifactCall(() => logArtifact(this.artifactContext(), artifact, opts));
  }

  /**
   * Records that this run uses a version, and returns it: `"name"` or `"name:latest"`, `"name:v3"`,
   * `"name:best"`, or `"entity/project/name:alias"` for another project's. Needs the server (an
   * online run): the alias is resolved to a version number now.
   * @throws TRK_ERR_NOT_FOUND for no such version; TRK_ERR_INVALID_ARTIFACT for a malformed
   *   reference; TRK_ERR_INVALID_OPTION in an offline or disabled run.
   * @example
   * const data = await run.useArtifact("mnist:latest");
   * const dir = await data.download(); // ./artifacts/mnist-v3
   */
  useArtifact(ref: string): Promise<UsedArtifact> {
    return this.artifactCall(() => useArtifact(this.artifactContext(), ref));
  }

  private artifactCall<T>(call: () => Promise<T>): Promise<T> {
    if (this.finishing || this.ended) return Promise.reject(errors.runFinished(this.id));
    const p = this.artifactWork.then(call);
    this.artifactWork = p.catch(() => {});
    return p;
  }

  private artifactContext(): ArtifactRunContext {
    const s = this.parts.settings;
    return {
      entity: this.entity,
      project: this.project,
      runId: this.id,
      runPath: this.path,
      mode: this.mode,
      runDir: this.dir,
      channel: this.parts.channel,
      baseUrl: s.baseUrl,
      apiKey: s.apiKey,
      ended: () => this.ended,
    };
  }

  private problem(err: TracksideError): void {
    if (this.parts.settings.strict) throw err;
    this.parts.notices.warn(err);
  }

  /**
   * Ends the run: exit code 0 means finished, any other failed. Waits for the upload at most
   * `settings.finishTimeoutMs`; what is not uploaded by then stays with the daemon and on disk.
   */
  finish(exitCode = 0): Promise<FinishResult> {
    this.finishing ??= this.doFinish(exitCode);
    return this.finishing;
  }

  private async doFinish(exitCode: number): Promise<FinishResult> {
    const s = this.parts.settings;
    const state: RunState = exitCode === 0 ? "finished" : "failed";
    this.history.commit();
    this.stopConsole(null);
    this.queue.add({ k: "exit", state, exitCode, signal: null, error: null, finishedAt: Date.now() });
    let result: FinishResult = { state, exitCode, synced: false, pendingRecords: 0, pendingBytes: 0, pendingArtifacts: 0, pendingMedia: 0, refused: null };
    const channel = this.parts.channel;
    // Artifacts logged but not awaited, and media blobs, are handed to the daemon before it hears of the finish.
    await this.artifactWork;
    await this.media.flush();
    if (channel) {
      try {
        await this.queue.flush();
        const progress = this.showProgress(channel);
        try {
          const reply = await channel.request({ t: "finish", runPath: this.path, timeoutMs: s.finishTimeoutMs }, undefined, s.finishTimeoutMs + 10_000);
          if (reply.t === "finished") {
            result = { ...result, synced: reply.synced, pendingRecords: reply.pendingRecords, pendingBytes: reply.pendingBytes, pendingArtifacts: reply.pendingArtifacts ?? 0, pendingMedia: reply.pendingMedia ?? 0, refused: reply.refused ?? this.refusedByDaemon() };
          }
        } finally {
          progress.stop();
        }
      } catch (err) {
        this.parts.notices.warn(err as TracksideError);
        result = { ...result, refused: this.refusedByDaemon() };
      }
      if (this.queue.unackedCount > 0 && this.dir) this.queue.spill(this.spillPath(), (err) => this.spillFailed(err));
      channel.close();
    }
    this.queue.close();
    this.ended = true;
    if (s.resume === "auto" && exitCode === 0 && this.mode === "online") forgetRun(s.dir);
    if (this.mode !== "disabled") this.parts.notices.info(formatFooter(this, result));
    // A warning, shown even when silent: data the user logged is not on the server.
    const refused = refusedWarning(result);
    if (refused) this.parts.notices.warn(refused);
    this.parts.onEnd(this);
    return result;
  }

  /**
   * While finish() waits on the upload for more than a second, a line on the terminal says what
   * is left (records, artifacts and bytes), refreshed every second.
   */
  private showProgress(channel: DaemonChannel): { stop(): void } {
    const started = Date.now();
    let shown = false;
    const tty = process.stderr.isTTY === true;
    const timer = setInterval(() => {
      channel
        .request({ t: "status", runPath: this.path }, undefined, 1000)
        .then((m) => {
          if (m.t !== "progress" || timer === null) return;
          const secs = Math.round((Date.now() - started) / 1000);
          const line = progressLine(this._name, m, secs);
          if (tty) process.stderr.write(`\r\x1b[Ktrackside: ${line}`);
          else this.parts.notices.info(line);
          shown = true;
        })
        .catch(() => {});
    }, 1000);
    timer.unref();
    return {
      stop: () => {
        clearInterval(timer);
        if (shown && tty) process.stderr.write("\r\x1b[K");
      },
    };
  }

  /** @internal Synchronous last resort on process exit: hands everything unacknowledged to the daemon through the spill file. */
  spillOnExit(state: RunState, exitCode: number | null, signal: string | null, error: string | null): void {
    if (this.ended || !this.dir || !this.parts.channel) return;
    this.ended = true;
    if (!this.finishing) {
      this.history.commit();
      this.stopConsole(error);
      this.queue.add({ k: "exit", state, exitCode, signal, error, finishedAt: Date.now() });
    }
    try {
      this.media.flushSync();
    } catch (err) {
      this.parts.notices.warnOnce("media-exit", `run ${this.id}'s last media blobs could not be handed to the daemon at exit (${(err as Error).message}); they stay staged in ${this.dir}/artifacts/blobs, without their images on the server.`);
    }
    this.queue.spill(this.spillPath(), (err) => this.spillFailed(err));
    this.parts.channel.close();
    const how = signal ? `killed by ${signal}` : `${state}${exitCode ? ` (exit code ${exitCode})` : ""}`;
    this.parts.notices.info(`run ${this._name} ${how}; the daemon completes its upload: ${this.mode === "offline" ? this.dir : this.url}`);
  }

  /**
   * Ends console capture for this run. Node prints an uncaught exception straight to fd 2, past
   * process.stderr, so its text is added to the output log here, as the program's last lines.
   */
  private stopConsole(error: string | null): void {
    if (!this.consoleSink) return;
    releaseConsole(this.consoleSink);
    // Cut as captured lines are (console-capture.ts): a longer line would get the whole batch,
    // the run's exit record with it, refused by the daemon.
    if (error) for (const text of error.split("\n")) this.queue.addConsoleLine({ at: Date.now(), stream: "stderr", text: cutLine(text) });
    this.consoleSink = null;
  }

  /**
   * What the daemon refused of this run's batches, as finish() reports it, for when the daemon's
   * own count is not to be had (finish() got no answer).
   */
  private refusedByDaemon(): RefusedSummary | null {
    const r = this.queue.refusals;
    if (!r) return null;
    return { frames: r.batches, records: r.records, bytes: 0, error: r.error, file: this.dir ? join(this.dir, DEAD_LETTER_FILE) : null };
  }

  /** The exit spill could not be written: said once, never thrown into the user's process. */
  private spillFailed(err: Error): void {
    this.parts.notices.warnOnce(
      "spill-failed",
      `run ${this.id}'s last records could not be handed to the daemon at exit: writing ${this.spillPath()} failed (${err.message}); those records are lost, the rest of the run is with the daemon.`,
    );
  }

  private spillPath(): string {
    return join(this.dir as string, `spill-${process.pid}.wal`);
  }
}

/** The daemon's dead-letter file in a run directory (src/daemon/dead-letter.ts, which the client cannot import). */
const DEAD_LETTER_FILE = "dead-letter.wal";

/** A program argument within the string limit: the daemon refuses the run record with a longer one. */
function cutArg(arg: string): string {
  return arg.length > MAX_STRING_VALUE ? `${arg.slice(0, MAX_STRING_VALUE - 64)} [trackside: argument cut, ${arg.length} characters]` : arg;
}

/** finish()'s progress line: what is left to upload (artifacts and media files only when there are some). */
export function progressLine(name: string, m: PendingCounts & { pendingBytes: number; error: string | null }, secs: number): string {
  return `finishing run ${name}: uploading ${pendingWhat(m)} (${(m.pendingBytes / 1e6).toFixed(1)} MB) left, ${secs} s${m.error ? ` (${m.error})` : ""}`;
}

function mb(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
