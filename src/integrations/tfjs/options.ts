/**
 * The TensorFlow.js callback's options, checked once where the callback is made, so that a typo
 * is a coded error (TRK_ERR_INVALID_OPTION) before training starts rather than a silent default.
 */
import { errors, TracksideError } from "../../protocol/errors.js";
import { validateArtifactName } from "../../protocol/artifacts.js";

/** Options of {@link tracksideCallback}. */
export interface TracksideCallbackOptions {
  /**
   * How often per-batch metrics (`batch/loss`, ...) are logged: `"batch"` (every batch, the
   * default), every N batches (a positive integer), or `"epoch"` (none: per-epoch metrics only).
   * Per-epoch metrics are always logged.
   */
  logFreq?: "batch" | "epoch" | number;
  /** Store the model's, the optimizer's and fit()'s settings in the run's config (`model`, `optimizer`, `fit`); default true. */
  logConfig?: boolean;
  /** At the end of training, log the model (model.json and weights.bin) as an artifact of type "model"; default false. */
  logModel?: boolean;
  /** The model artifact's name; default `model-<run id>`. */
  modelName?: string;
  /**
   * At the end of each epoch, log a histogram of each trainable weight (`weights/<layer>/<weight>`,
   * e.g. `weights/dense_Dense1/kernel`) at the epoch's step; default false. Reads every weight once
   * an epoch: see weight-histograms.ts for the cost.
   */
  logWeights?: boolean;
}

/** The options resolved: defaults filled in. */
export interface CallbackSettings {
  /** Log every n-th batch; 0: no batch metrics. */
  batchEvery: number;
  logConfig: boolean;
  logModel: boolean;
  /** null: `model-<run id>`. */
  modelName: string | null;
  logWeights: boolean;
}

const KNOWN = ["logFreq", "logConfig", "logModel", "modelName", "logWeights"];

/** Resolves the options, or throws TRK_ERR_INVALID_OPTION naming the bad one. */
export function checkOptions(options: unknown): Readonly<CallbackSettings> {
  if (options === undefined) options = {};
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw errors.invalidOption("tracksideCallback(run, options)", options, "an object of options, or nothing");
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!KNOWN.includes(key)) throw errors.invalidOption(`tracksideCallback ${key}`, o[key], `one of the options ${KNOWN.join(", ")} (is it misspelt?)`);
  }
  return Object.freeze({
    batchEvery: batchEvery(o.logFreq),
    logConfig: flag("logConfig", o.logConfig, true),
    logModel: flag("logModel", o.logModel, false),
    modelName: modelName(o.modelName),
    logWeights: flag("logWeights", o.logWeights, false),
  });
}

function batchEvery(v: unknown): number {
  if (v === undefined || v === "batch") return 1;
  if (v === "epoch") return 0;
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 1) return v;
  throw errors.invalidOption("tracksideCallback logFreq", v, '"batch", "epoch", or a whole number of batches of at least 1');
}

function flag(name: string, v: unknown, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== "boolean") throw errors.invalidOption(`tracksideCallback ${name}`, v, "true or false");
  return v;
}

function modelName(v: unknown): string | null {
  if (v === undefined) return null;
  try {
    return validateArtifactName(v);
  } catch (err) {
    if (!(err instanceof TracksideError)) throw err;
    throw errors.invalidOption("tracksideCallback modelName", v, `an artifact name (${err.message})`);
  }
}
