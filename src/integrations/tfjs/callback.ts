/**
 * The TensorFlow.js callback: per-batch and per-epoch metrics, the model's and the optimizer's
 * settings in the config, weight histograms per epoch (weight-histograms.ts) and the trained
 * model as an artifact (steps: steps.ts).
 *
 * It must cost training as little as it can. tfjs hands callbacks its metrics as scalar tensors;
 * reading one with `dataSync()` would stall a GPU backend at every batch, so each read is
 * started (`data()`, which tfjs lets finish before the tensor is freed) and not awaited: the row
 * is logged when the values arrive, in order, and only the end of training waits for them.
 * Tracking never fails the training: what goes wrong is a warning on stderr.
 */
import * as tf from "@tensorflow/tfjs";
import type { HistogramMedia, LoggedArtifact, Run } from "trackside";
import { errors } from "../../protocol/errors.js";
import { logModelArtifact } from "./model-artifact.js";
import { learningRate, trainingConfig } from "./model-config.js";
import { checkOptions, type CallbackSettings, type TracksideCallbackOptions } from "./options.js";
import { StepPlan } from "./steps.js";
import { weightHistograms } from "./weight-histograms.js";

/** tfjs's logs: numbers, or scalar tensors not read yet. */
type Logs = Record<string, unknown>;

/** A row the callback logs: metrics, and at an epoch's end the weight histograms. */
type Row = Record<string, number | HistogramMedia>;

/**
 * A `tf.Callback` that records a model's training in a trackside run. Make it with
 * {@link tracksideCallback}.
 */
export class TracksideCallback extends tf.Callback {
  readonly run: Run;
  /** The model artifact logged at the end of training (`logModel`), or null. `await loggedModel.wait()` gives its version. */
  loggedModel: LoggedArtifact | null = null;
  private readonly settings: Readonly<CallbackSettings>;
  private readonly plan: StepPlan;
  /** The rows waiting for their values, in order. */
  private rows: Promise<void> = Promise.resolve();
  /** The step of the last row logged, which stays open for the epoch's metrics until the next step. */
  private lastStep = -1;
  private lastEpoch: Record<string, number> = {};
  private epochs = 0;
  private readonly warned = new Set<string>();

  constructor(run: Run, options?: TracksideCallbackOptions) {
    super();
    this.settings = checkOptions(options);
    this.run = checkRun(run);
    this.plan = new StepPlan(this.settings.batchEvery);
    // tfjs calls the hooks of a callback that is not first in a list of plain objects as bare
    // functions (CustomCallback): bound, they still reach this object.
    this.onTrainBegin = this.onTrainBegin.bind(this);
    this.onBatchEnd = this.onBatchEnd.bind(this);
    this.onEpochEnd = this.onEpochEnd.bind(this);
    this.onTrainEnd = this.onTrainEnd.bind(this);
  }

  override async onTrainBegin(): Promise<void> {
    this.plan.begin(this.run.step);
    this.lastStep = -1;
    this.epochs = 0;
    if (!this.settings.logConfig) return;
    if (!this.model) return this.warn("no-model", "the TensorFlow.js callback was not given the model (put tracksideCallback() first among tf.Callback objects): the model's config is not logged.");
    try {
      this.run.config.update(trainingConfig(this.model, this.params as Record<string, unknown>));
    } catch (err) {
      this.warn("config", `the model's config could not be logged: ${(err as Error).message}`);
    }
  }

  override async onBatchEnd(_batch: number, logs?: Logs): Promise<void> {
    const step = this.plan.batch();
    if (step >= 0 && logs) this.enqueue(step, read(logs, "batch/"));
  }

  override async onEpochEnd(epoch: number, logs?: Logs): Promise<void> {
    const step = this.plan.epoch();
    const lr = learningRate(this.model?.optimizer);
    this.epochs++;
    // `epoch` counts the epochs done (1 after the first), as "Epoch 1/3" does.
    const extra: Record<string, number> = lr === undefined ? { epoch: epoch + 1 } : { epoch: epoch + 1, learning_rate: lr };
    const metrics = read(logs ?? {}, "");
    // Read now, before the next epoch's first batch updates them, into the epoch's row.
    const histograms = this.settings.logWeights ? this.weights() : null;
    this.enqueue(
      step,
      Promise.all([metrics, histograms]).then(([values, weights]) => {
        this.lastEpoch = values;
        return { ...values, ...extra, ...weights };
      }),
    );
  }

  override async onTrainEnd(): Promise<void> {
    await this.rows;
    // Close the last row now rather than at the run's next log() or finish(): a process killed
    // after training keeps it.
    if (this.lastStep >= 0 && this.run.step === this.lastStep) this.run.log({}, { step: this.lastStep, commit: true });
    if (!this.settings.logModel) return;
    if (!this.model) return this.warn("no-model", "the TensorFlow.js callback was not given the model (put tracksideCallback() first among tf.Callback objects): the model is not logged.");
    try {
      const name = this.settings.modelName ?? `model-${this.run.id}`;
      this.loggedModel = await logModelArtifact(this.run, this.model, name, { epochs: this.epochs, params: this.model.countParams(), metrics: this.lastEpoch });
    } catch (err) {
      this.warn("model", `the model could not be logged as an artifact: ${describeError(err)}`);
    }
  }

  /** The weight histograms of this moment; a failure to read them is a warning and no histograms. */
  private weights(): Promise<Row> {
    if (!this.model) {
      this.warn("no-model-weights", "the TensorFlow.js callback was not given the model (put tracksideCallback() first among tf.Callback objects): its weights are not logged.");
      return Promise.resolve({});
    }
    return weightHistograms(this.model).catch((err: unknown) => {
      this.warn("weights", `the model's weights could not be read and their histograms were not logged: ${describeError(err)}`);
      return {};
    });
  }

  /** Logs `values` at `step` once they are read, after the rows before it. */
  private enqueue(step: number, values: Promise<Row>): void {
    this.rows = this.rows
      .then(() => values)
      .then((v) => {
        // Never backwards: should the program have logged rows of its own meanwhile, this row
        // goes to the run's current step instead of being refused.
        const at = Math.max(step, this.run.step);
        this.run.log(v, { step: at });
        this.lastStep = at;
      })
      .catch((err: unknown) => this.warn("read", `training metrics could not be read and were not logged: ${describeError(err)}`));
  }

  /** Once per kind: a loop must not flood the terminal. */
  private warn(kind: string, message: string): void {
    if (this.warned.has(kind)) return;
    this.warned.add(kind);
    process.stderr.write(`trackside: warning: ${message}\n`);
  }
}

/**
 * A callback for `model.fit()` and `model.fitDataset()` that logs the training to `run`:
 * per-batch metrics (`batch/loss`, ...) at a step per batch, per-epoch metrics (`loss`,
 * `val_loss`, ..., `epoch`, `learning_rate`) at the step of the epoch's last batch, the model's,
 * the optimizer's and fit()'s settings in the config, and, with `logModel`, the trained model as
 * an artifact.
 * @throws TRK_ERR_INVALID_OPTION for a bad option or something other than a run.
 * @example
 * import * as tf from "@tensorflow/tfjs";
 * import * as trackside from "trackside";
 * import { tracksideCallback } from "trackside/tfjs";
 * const run = await trackside.init({ project: "mnist" });
 * await model.fit(xs, ys, { epochs: 3, validationSplit: 0.2, callbacks: [tracksideCallback(run, { logModel: true })] });
 * await run.finish();
 */
export function tracksideCallback(run: Run, options?: TracksideCallbackOptions): TracksideCallback {
  return new TracksideCallback(run, options);
}

/** @internal Reads tfjs's logs: the reads start now (before tfjs frees the tensors), the values come later. */
export function read(logs: Logs, prefix: string): Promise<Record<string, number>> {
  const keys: string[] = [];
  const values: Array<number | Promise<ArrayLike<number>>> = [];
  try {
    for (const key in logs) {
      if (key === "batch" || key === "size") continue; // the batch's index and sample count, not metrics
      const v = logs[key];
      if (typeof v === "number") values.push(v);
      else if (v instanceof tf.Tensor) values.push(v.data() as Promise<ArrayLike<number>>);
      else continue;
      keys.push(prefix + key);
    }
  } catch (err) {
    return Promise.reject(err);
  }
  return Promise.all(values).then((got) => {
    const row: Record<string, number> = {};
    for (let i = 0; i < keys.length; i++) {
      const v = got[i];
      row[keys[i]] = typeof v === "number" ? v : v[0];
    }
    return row;
  });
}

function checkRun(run: unknown): Run {
  const r = run as Partial<Run> | null;
  if (typeof r !== "object" || r === null || typeof r.log !== "function" || typeof r.logArtifact !== "function" || typeof r.config?.update !== "function") {
    throw errors.invalidOption("tracksideCallback(run)", run, "the run that trackside.init() returned");
  }
  return run as Run;
}

function describeError(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  return typeof e?.code === "string" && typeof e.message === "string" ? `${e.code}: ${e.message}` : String((err as Error)?.message ?? err);
}
