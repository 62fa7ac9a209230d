/**
 * W&B's step semantics. An implicit counter advances on each committed log(); `commit: false`
 * merges into the pending step; an explicit `step` above the current one commits what is pending
 * and moves there, and stays pending until the step changes or `commit: true`; a step below the
 * current one is refused (TRK_ERR_STEP_BACKWARDS), so no data is mixed into another step.
 */
import { errors, type HistoryRow, type Scalar, type TracksideError } from "../protocol/index.js";
import { flattenInto } from "./values.js";

export interface LogOptions {
  /** The step this data belongs to; steps only go forward. */
  step?: number;
  /** false: keep the step open for more keys; default true (false when `step` is given). */
  commit?: boolean;
}

export class History {
  /** The step that the pending (or next) row gets. */
  step: number;
  private pending: Record<string, Scalar> | null = null;

  constructor(
    private readonly startMs: number,
    private readonly emit: (row: HistoryRow) => void,
    private readonly now: () => number = Date.now,
    firstStep = 0,
  ) {
    this.step = firstStep;
  }

  /** Returns the problems of this call; whatever could be logged was logged. */
  log(data: Record<string, unknown>, opts?: LogOptions): TracksideError[] {
    const problems: TracksideError[] = [];
    if (typeof data !== "object" || data === null || Array.isArray(data)) {
      problems.push(errors.invalidOption("log(data)", data, "a plain object of metrics"));
      return problems;
    }
    const step = opts?.step;
    if (step !== undefined) {
      if (typeof step !== "number" || !Number.isSafeInteger(step) || step < 0) {
        problems.push(errors.invalidOption("log(..., { step })", step, "a non-negative integer"));
        return problems;
      }
      if (step < this.step) {
        problems.push(errors.stepBackwards(step, this.step));
        return problems;
      }
      if (step > this.step) {
        this.commit();
        this.step = step;
      }
    }
    flattenInto((this.pending ??= {}), data, "", [], problems);
    if (opts?.commit ?? step === undefined) this.commit();
    return problems;
  }

  /** Closes the pending step, if any. */
  commit(): void {
    const row = this.pending;
    if (!row) return;
    this.pending = null;
    const t = this.now();
    row._step = this.step++;
    row._timestamp = t;
    row._runtime = (t - this.startMs) / 1000;
    this.emit(row as HistoryRow);
  }
}
