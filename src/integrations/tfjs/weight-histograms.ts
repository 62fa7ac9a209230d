/**
 * `logWeights`: a histogram of each trainable weight of the model at the end of each epoch, under
 * `weights/<weight name>`, the name tfjs gives the weight in its layer (`dense_Dense1/kernel`,
 * the name model.json's weights manifest uses), so `weights/dense_Dense1/kernel`. W&B's Keras
 * callback (`log_weights`) logs `parameters/<layer>.weights`; trackside keeps tfjs's own names,
 * which tell a layer's kernel from its bias and any other weight a layer has.
 *
 * Cost: one read of each weight tensor an epoch (`data()`, started at once and not awaited, as
 * the metrics are: no stall of a GPU backend), then two passes over its values in JavaScript to
 * count them into bins, on the training thread: about 18 ms per million weights (measured: 90 ms
 * for a tensor of 5 million, pure tfjs, 2 shared cores), hence off by default. The weights read
 * are the model's own variables (LayerVariable.read() hands out the variable, no copy): nothing
 * of the model is changed or disposed.
 */
import type * as tf from "@tensorflow/tfjs";
import { Histogram, type HistogramMedia } from "trackside";

/** The prefix of the histogram keys. */
export const WEIGHTS_PREFIX = "weights/";

/**
 * Bins of each weight histogram: trackside.Histogram's default, enough to show the shape of a
 * distribution at about 1.5 KB (as JSON) a weight tensor an epoch.
 */
export const WEIGHT_BINS = 64;

/** The keys of `model`'s trainable weights, in the model's order; a name seen before gets tfjs's unique name instead. */
export function weightKeys(model: tf.LayersModel): string[] {
  const seen = new Set<string>();
  return model.trainableWeights.map((w) => {
    let key = WEIGHTS_PREFIX + w.originalName;
    if (seen.has(key)) key = WEIGHTS_PREFIX + w.name;
    seen.add(key);
    return key;
  });
}

/**
 * Starts reading each trainable weight of `model` now (the values are those at this moment: the
 * optimizer's next update gives a variable new data rather than writing over it) and resolves
 * to their histograms by key.
 */
export function weightHistograms(model: tf.LayersModel): Promise<Record<string, HistogramMedia>> {
  let keys: string[];
  let histograms: Array<Promise<HistogramMedia>>;
  try {
    keys = weightKeys(model);
    // Each weight's values are counted as soon as they arrive and then let go, not kept until
    // every read is done.
    histograms = model.trainableWeights.map((w) => (w.read().data() as Promise<ArrayLike<number>>).then((values) => Histogram(values, { bins: WEIGHT_BINS })));
  } catch (err) {
    return Promise.reject(err);
  }
  return Promise.all(histograms).then((got) => Object.fromEntries(keys.map((k, i) => [k, got[i]])));
}
