/**
 * W&B's step semantics. An implicit counter advances on each committed log(); `commit: false`
 * merges into the pending step; an explicit `step` above the current one commits what is pending
 * and moves there, and stays pending until the step changes or `commit: true`; a step below the
 * current one is refused (TRK_ERR_STEP_BACKWARDS), so no data is mixed into another step.
 *
 * The common call, log(data) with nothing pending, writes straight into the sink (the column
 * batch) without building a row object first.
 */
import { errors, type Scalar, type TracksideError } from "../protocol/index.js";
import { flattenInto, hasMedia, MAX_LOGGED_KEYS, takeMedia, type FoundMedia, type ValueSink } from "./values.js";

/** Takes the media values of a log() call at its step (media-log.ts); returns their problems, or null. */
export type MediaHandler = (step: number, found: FoundMedia[]) => TracksideError[] | null;

export interface LogOptions {
  /** The step this data belongs to; steps only go forward. */
  step?: number;
  /** false: keep the step open for more keys; default true (false when `step` is given). */
  commit?: boolean;
}

/** Receives committed steps: values with put(), then endRow() with the step's own three. */
export interface StepSink extends ValueSink {
  /** Closes the step; `step`, `timestamp` and `runtime` are its _step, _timestamp and _runtime. */
  endRow(step: number, timestamp: number, runtime: number): void;
}

/**
 * A step kept open across log() calls (commit: false). flattenInto counts the keys of one call;
 * this counts the step's, so that several calls cannot build a step over MAX_ROW_KEYS (the daemon
 * would refuse the batch it travels in). Only this path pays for the count, not log()'s common one.
 */
class PendingRow implements ValueSink {
  values: Record<string, Scalar> = {};
  private keys = 0;
  /** Keys left out of this step, not yet reported. */
  dropped = 0;
  put(key: string, value: Scalar): void {
    if (!(key in this.values)) {
      if (this.keys >= MAX_LOGGED_KEYS) {
        this.dropped++;
        return;
      }
      this.keys++;
    }
    this.values[key] = value;
  }
}

export class History {
  /** The step that the pending (or next) row gets. */
  step: number;
  private pending: PendingRow | null = null;

  constructor(
    private readonly startMs: number,
    private readonly sink: StepSink,
    private readonly now: () => number = Date.now,
    firstStep = 0,
    private readonly media: MediaHandler | null = null,
  ) {
    this.step = firstStep;
  }

  /** Returns the problems of this call, or null; whatever could be logged was logged. */
  log(data: Record<string, unknown>, opts?: LogOptions): TracksideError[] | null {
    if (typeof data !== "object" || data === null || Array.isArray(data)) {
      return [errors.invalidOption("log(data)", data, "a plain object of metrics")];
    }
    const step = opts?.step;
    if (step !== undefined) {
      if (typeof step !== "number" || !Number.isSafeInteger(step) || step < 0) {
        return [errors.invalidOption("log(..., { step })", step, "a non-negative integer")];
      }
      if (step < this.step) return [errors.stepBackwards(step, this.step)];
      if (step > this.step) {
        this.commit();
        this.step = step;
      }
    }
    const commitNow = opts?.commit ?? step === undefined;
    if (commitNow && this.pending === null) {
      let problems = flattenInto(this.sink, data);
      if (hasMedia()) problems = this.logMedia(takeMedia()!, problems);
      this.endRow();
      return problems;
    }
    const row = (this.pending ??= new PendingRow());
    let problems = flattenInto(row, data);
    if (hasMedia()) problems = this.logMedia(takeMedia()!, problems);
    if (row.dropped > 0) {
      (problems ??= []).push(errors.tooLarge(`The key count of step ${this.step}`, `over ${MAX_LOGGED_KEYS}`, `${MAX_LOGGED_KEYS} (the ${row.dropped} new keys after it were not logged)`));
      row.dropped = 0;
    }
    if (commitNow) this.commit();
    return problems;
  }

  /** Media values of a call at the current step: queued as their own records, at once. */
  private logMedia(found: FoundMedia[], problems: TracksideError[] | null): TracksideError[] | null {
    if (this.media === null) return [...(problems ?? []), ...found.map(([key]) => errors.unloggable(key, "a media value where this run takes none"))];
    const more = this.media(this.step, found);
    return more === null ? problems : [...(problems ?? []), ...more];
  }

  /** Closes the pending step, if any. */
  commit(): void {
    const row = this.pending;
    if (!row) return;
    this.pending = null;
    const values = row.values;
    for (const key in values) this.sink.put(key, values[key]);
    this.endRow();
  }

  private endRow(): void {
    const t = this.now();
    this.sink.endRow(this.step++, t, (t - this.startMs) / 1000);
  }
}
