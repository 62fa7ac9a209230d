/**
 * What the TensorFlow.js callback stores in the run's config: the model (size, shapes, loss,
 * one line per layer), the optimizer (its class and `getConfig()`, the learning rate among it)
 * and fit()'s settings. Read at the start of each fit(), when tfjs has handed the callback the
 * model; every value is plain JSON.
 */
import type * as tf from "@tensorflow/tfjs";

/**
 * Layers listed one by one in `model.summary`: the config travels whole to the daemon at each
 * change, and a model of thousands of layers would make it large for little use; the counts
 * cover every layer.
 */
export const MAX_SUMMARY_LAYERS = 500;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The `model`, `optimizer` and `fit` config keys for a model about to be trained. */
export function trainingConfig(model: tf.LayersModel, params: Record<string, unknown> | undefined): Record<string, Json> {
  const out: Record<string, Json> = { model: modelConfig(model) };
  const optimizer = optimizerConfig(model.optimizer);
  if (optimizer) out.optimizer = optimizer;
  if (params) out.fit = fitConfig(params);
  return out;
}

/**
 * The model's facts. tfjs hands callbacks of a `tf.sequential()` model its inner functional
 * model (named `<name>_model`), whose first layer is an InputLayer: input layers are left out of
 * `layers` and `summary`, as Keras's summary of a Sequential model leaves them out.
 */
export function modelConfig(model: tf.LayersModel): Record<string, Json> {
  const layers = model.layers.filter((l) => l.getClassName() !== "InputLayer");
  return {
    name: model.name,
    layers: layers.length,
    params: model.countParams(),
    trainableParams: model.trainableWeights.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0),
    inputShapes: model.inputs.map((t) => shape(t.shape)),
    outputShapes: model.outputs.map((t) => shape(t.shape)),
    loss: lossName(model.loss),
    metrics: [...(model.metricsNames ?? [])],
    summary: layers.slice(0, MAX_SUMMARY_LAYERS).map((l) => ({
      name: l.name,
      class: l.getClassName(),
      outputShape: attempt(() => shape(l.outputShape as Json)),
      params: attempt(() => l.countParams()),
    })),
  };
}

/** The optimizer's class and settings (`learningRate`, `beta1`, ...), or null when there is none. */
export function optimizerConfig(optimizer: tf.Optimizer | undefined | null): Record<string, Json> | null {
  if (!optimizer) return null;
  const settings = attempt(() => optimizer.getConfig() as Record<string, Json>) ?? {};
  return { class: optimizer.getClassName(), ...plain(settings) };
}

/** The optimizer's learning rate now (a schedule may change it between epochs), when it has one. */
export function learningRate(optimizer: tf.Optimizer | undefined | null): number | undefined {
  const lr = (optimizer as { learningRate?: unknown } | null | undefined)?.learningRate;
  return typeof lr === "number" ? lr : undefined;
}

function fitConfig(params: Record<string, unknown>): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [from, to] of [["epochs", "epochs"], ["initialEpoch", "initialEpoch"], ["batchSize", "batchSize"], ["samples", "samples"], ["steps", "stepsPerEpoch"], ["doValidation", "validation"]]) {
    const v = params[from];
    if (typeof v === "number" || typeof v === "boolean") out[to] = v;
  }
  return out;
}

function lossName(loss: unknown): Json {
  if (typeof loss === "string") return loss;
  if (typeof loss === "function") return loss.name || "custom";
  if (Array.isArray(loss)) return loss.map(lossName);
  if (loss && typeof loss === "object") return Object.fromEntries(Object.entries(loss).map(([k, v]) => [k, lossName(v)]));
  return null;
}

function shape(s: unknown): Json {
  return Array.isArray(s) ? s.map((d) => (typeof d === "number" || d === null ? d : shape(d))) : null;
}

/** Only what JSON holds: an optimizer of one's own may put anything in its config. */
function plain(o: Record<string, unknown>): Record<string, Json> {
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(o)) if (v === null || ["number", "string", "boolean"].includes(typeof v)) out[k] = v as Json;
  return out;
}

/** A layer's outputShape throws when the layer was called more than once (shared layers): null then. */
function attempt<T>(f: () => T): T | null {
  try {
    return f();
  } catch {
    return null;
  }
}
