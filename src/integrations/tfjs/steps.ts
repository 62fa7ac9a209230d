/**
 * Where the TensorFlow.js callback puts its rows. trackside charts have one x axis, the step, so
 * the step counts batches: batch k of a fit() (counted across its epochs, from 0) is logged at
 * the step the run was at when fit() began, plus k. An epoch's metrics go to the step of its last
 * batch, into the same row as that batch's, so the per-epoch `loss` sits on the per-batch
 * `batch/loss` curve where the epoch ended. Logging every N batches changes which batches get a
 * row, never their steps: charts of runs with different settings line up.
 *
 * W&B's Keras callback (`WandbMetricsLogger`) logs batch and epoch metrics against two step
 * metrics of their own (`batch/batch_step`, `epoch/epoch`); trackside has no per-key x axis, so
 * the batch count is the one axis and `epoch` is logged as a value.
 */

export class StepPlan {
  private base = 0;
  private batches = 0;

  /** @param every log every `every`-th batch's metrics (1: each one; 0: none, epochs only). */
  constructor(private readonly every: number) {}

  /** fit() begins: `runStep` is the step the run's next row would get. */
  begin(runStep: number): void {
    this.base = runStep;
    this.batches = 0;
  }

  /** A batch ended: its step, or -1 when its metrics are not logged. */
  batch(): number {
    const step = this.base + this.batches++;
    return this.every > 0 && this.batches % this.every === 0 ? step : -1;
  }

  /** An epoch ended: the step of the last batch so far (fit()'s first step before any batch). */
  epoch(): number {
    return this.base + Math.max(0, this.batches - 1);
  }
}
