/**
 * TensorFlow.js with trackside's callback: a small classifier on synthetic "MNIST-like" data
 * (10 classes of 64-pixel images: a blob per class plus noise), trained 3 epochs with
 * `model.fit()`. The run gets per-batch and per-epoch metrics, the model's and the optimizer's
 * settings in its config, a histogram of each weight per epoch (`weights/dense_Dense1/kernel`,
 * ...), and the trained model as an artifact.
 * Run it after `npm run build`, with a server (`trackside server`): `node dist/examples/tfjs-mnist-like.js`.
 */
import * as tf from "@tensorflow/tfjs";
import * as trackside from "trackside";
import { tracksideCallback } from "trackside/tfjs";

const classes = 10;
const pixels = 64;
const samples = 1000;

/** Class c lights pixels 6c..6c+5 of an 8x8 image; every pixel gets noise. Seeded: the same data each run. */
function syntheticDigits(): { xs: tf.Tensor2D; ys: tf.Tensor2D } {
  return tf.tidy(() => {
    const labels = tf.tensor1d(Array.from({ length: samples }, (_, i) => i % classes), "int32");
    const pixel = tf.range(0, pixels, 1, "int32").expandDims(0);
    const start = labels.mul(6).expandDims(1);
    const blob = pixel.greaterEqual(start).logicalAnd(pixel.less(start.add(6))).toFloat();
    const xs = blob.add(tf.randomUniform([samples, pixels], 0, 0.8, "float32", 42)) as tf.Tensor2D;
    return { xs, ys: tf.oneHot(labels, classes).toFloat() as tf.Tensor2D };
  });
}

const config = { epochs: 3, batchSize: 32, validationSplit: 0.2 };
const run = await trackside.init({ project: process.env.TRACKSIDE_PROJECT ?? "tfjs-example", jobType: "train", tags: ["example", "tfjs"], config });
console.log(`Training a small TensorFlow.js classifier; its run: ${run.url}`);

const model = tf.sequential({
  layers: [
    tf.layers.dense({ units: 32, inputShape: [pixels], activation: "relu" }),
    tf.layers.dropout({ rate: 0.1 }),
    tf.layers.dense({ units: classes, activation: "softmax" }),
  ],
});
model.compile({ optimizer: tf.train.adam(0.01), loss: "categoricalCrossentropy", metrics: ["acc"] });

const { xs, ys } = syntheticDigits();
await model.fit(xs, ys, { ...config, verbose: 0, callbacks: [tracksideCallback(run, { logModel: true, logWeights: true })] });
await run.finish();
