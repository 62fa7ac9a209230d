/**
 * trackside's TensorFlow.js integration, `trackside/tfjs`: a callback for `model.fit()` and
 * `model.fitDataset()`. `@tensorflow/tfjs` is an optional peer dependency: only this entry loads
 * it, never `trackside` itself.
 * @example
 * import { tracksideCallback } from "trackside/tfjs";
 * await model.fit(xs, ys, { epochs: 3, callbacks: [tracksideCallback(run)] });
 */
export { tracksideCallback, TracksideCallback } from "./callback.js";
export type { TracksideCallbackOptions } from "./options.js";
