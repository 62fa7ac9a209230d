/**
 * trackside/tfjs with a real daemon and a real server: a user's process (test/fixtures/tfjs-fit.mjs)
 * trains a small model with pure TensorFlow.js and the callback; what the run holds is read back
 * through the server, as a user would: per-epoch metrics equal to what fit() returned, per-batch
 * metrics at a step per batch, the optimizer's settings in the config, the state, with
 * `logModel` the model as an artifact that loads back into the same model, and with `logWeights`
 * a histogram per weight at each epoch's step.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Histogram } from "../../src/client/media.js";
import type { MediaKeyView, MediaValuesView } from "../../src/protocol/index.js";
import { ROOT, cli, runFixture, serverWithEnv, showRun, start, type TestEnv, type TestServer } from "../helpers/processes.js";
import { localUser } from "../helpers/run-dir.js";

interface FixtureOut {
  id: string;
  path: string;
  history: Record<string, number[]>;
  prediction: number[];
  model?: string;
  finished: string;
}

type Row = Record<string, number> & { _step: number };

function lines(stdout: string): FixtureOut {
  return Object.assign({}, ...stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as object)) as FixtureOut;
}

describe("trackside/tfjs: a model trained with the callback", () => {
  let t: TestEnv;
  let server: TestServer;
  let apiKey: string;

  beforeAll(async () => {
    ({ t, server } = await serverWithEnv());
    apiKey = localUser(t.home, server.url).apiKey;
  });
  afterAll(() => server.stop());

  async function history(path: string, keys: string[]): Promise<Row[]> {
    const [entity, project, id] = path.split("/");
    const res = await fetch(`${server.url}/api/v1/runs/${entity}/${project}/${id}/history?keys=${keys.join(",")}`, { headers: { authorization: `Bearer ${apiKey}` } });
    expect(res.status).toBe(200);
    return ((await res.json()) as { rows: Row[] }).rows.filter((r) => keys.some((k) => k in r));
  }

  async function get<T>(path: string, tail: string): Promise<T> {
    const [entity, project, id] = path.split("/");
    const res = await fetch(`${server.url}/api/v1/runs/${entity}/${project}/${id}/${tail}`, { headers: { authorization: `Bearer ${apiKey}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as T;
  }

  /** The model artifact's weights as the artifact's model.json names them, downloaded with the CLI. */
  async function artifactWeights(ref: string): Promise<Map<string, Float32Array>> {
    const dir = mkdtempSync(join(tmpdir(), "trk-model-"));
    const got = await cli(["artifacts", "get", ref, "--dir", dir], t.env);
    expect(got.code, got.stderr).toBe(0);
    const json = JSON.parse(readFileSync(join(dir, "model.json"), "utf8")) as { weightsManifest: { weights: tf.io.WeightsManifestEntry[] }[] };
    const bin = readFileSync(join(dir, "weights.bin"));
    const out = new Map<string, Float32Array>();
    let offset = 0;
    for (const w of json.weightsManifest[0].weights) {
      expect(w.dtype).toBe("float32");
      const n = w.shape.reduce((a, b) => a * b, 1);
      out.set(w.name, new Float32Array(bin.buffer.slice(bin.byteOffset + offset, bin.byteOffset + offset + 4 * n)));
      offset += 4 * n;
    }
    return out;
  }

  async function train(plan: object): Promise<FixtureOut> {
    const r = await runFixture("tfjs-fit", t.env, [JSON.stringify(plan)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/trackside: warning/);
    return lines(r.stdout);
  }

  it("fit() for 3 epochs: per-epoch metrics as fit() returned them, per-batch metrics at a step per batch, the optimizer in the config, finished", async () => {
    const out = await train({});
    expect(out.finished).toBe("finished");
    const run = await showRun(out.path, t.env);
    expect(run.state).toBe("finished");
    const config = run.config as Record<string, Record<string, unknown>>;
    expect(config.optimizer).toEqual({ class: "Adam", learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 });
    expect(config.model).toMatchObject({ layers: 2, params: 4 * 8 + 8 + 8 + 1, trainableParams: 49, inputShapes: [[null, 4]], loss: "meanSquaredError" });
    expect(config.model.summary).toEqual([
      expect.objectContaining({ class: "Dense", outputShape: [null, 8], params: 40 }),
      expect.objectContaining({ class: "Dense", outputShape: [null, 1], params: 9 }),
    ]);
    expect(config.fit).toEqual({ epochs: 3, initialEpoch: 0, batchSize: 16, samples: 48, validation: true });
    expect(config.seed).toBe(7); // the program's own config is kept
    // 48 training samples in batches of 16: 3 batches an epoch, 9 in all, steps 0..8; each
    // epoch's metrics at the step of its last batch.
    const epochs = await history(out.path, ["loss", "val_loss", "mse", "epoch", "learning_rate"]);
    expect(epochs.map((r) => r._step)).toEqual([2, 5, 8]);
    expect(epochs.map((r) => r.epoch)).toEqual([1, 2, 3]);
    expect(epochs.map((r) => r.loss)).toEqual(out.history.loss);
    expect(epochs.map((r) => r.val_loss)).toEqual(out.history.val_loss);
    expect(epochs.map((r) => r.learning_rate)).toEqual([0.01, 0.01, 0.01]);
    const batches = await history(out.path, ["batch/loss", "batch/mse"]);
    expect(batches.map((r) => r._step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    for (const r of batches) expect(r["batch/loss"]).toBeGreaterThan(0);
    expect(Object.keys(batches[0]).sort()).toEqual(["_step", "batch/loss", "batch/mse"]); // not tfjs's `batch` and `size`
    expect(run.historySteps).toBe(9);
    expect(run.summary).toMatchObject({ loss: out.history.loss[2], epoch: 3 });
    // logWeights is off by default: no weight histograms.
    expect((await get<{ keys: MediaKeyView[] }>(out.path, "media")).keys).toEqual([]);
  });

  it("logWeights: a histogram per trainable weight at each epoch's step, of all its values; the last one of the trained weights", async () => {
    const out = await train({ options: { logWeights: true, logModel: true, modelName: "weighed" } });
    // The model's four weights (kernel and bias of two dense layers), 64 bins, at the epochs' steps 2, 5, 8.
    const { keys } = await get<{ keys: MediaKeyView[] }>(out.path, "media");
    // (tfjs numbers layers per process: the fixture's are its first two.)
    expect(keys.map((k) => k.key)).toEqual(["weights/dense_Dense1/bias", "weights/dense_Dense1/kernel", "weights/dense_Dense2/bias", "weights/dense_Dense2/kernel"]);
    for (const k of keys) expect(k).toMatchObject({ type: "histogram", steps: 3, firstStep: 2, lastStep: 8 });
    const trained = await artifactWeights(`${out.path.split("/").slice(0, 2).join("/")}/weighed:v0`);
    expect([...trained.values()].map((w) => w.length)).toEqual([32, 8, 8, 1]);
    const kernelBins: number[][] = [];
    for (const { key } of keys) {
      const name = key.slice("weights/".length);
      const size = trained.get(name)!.length;
      const { entries } = await get<MediaValuesView>(out.path, `media/values?key=${encodeURIComponent(key)}`);
      expect(entries.map((e) => e.step)).toEqual([2, 5, 8]);
      for (const e of entries) {
        const v = e.value as { type: string; bins: number[]; counts: number[] };
        expect(v.type).toBe("histogram");
        expect(v.counts).toHaveLength(64);
        expect(v.counts.reduce((a, b) => a + b, 0)).toBe(size);
      }
      // Read at the end of the third epoch: the weights the model was saved with.
      const last = Histogram(trained.get(name)!, { bins: 64 });
      expect(entries[2].value).toEqual({ type: "histogram", bins: last.bins, counts: last.counts });
      if (key === "weights/dense_Dense1/kernel") kernelBins.push(...entries.map((e) => (e.value as { bins: number[] }).bins));
    }
    // Each epoch's own weights, not one read three times: training moved the kernel's range.
    expect(kernelBins).toHaveLength(3);
    expect(kernelBins[0]).not.toEqual(kernelBins[1]);
    expect(kernelBins[1]).not.toEqual(kernelBins[2]);
    // The epochs' metrics are in the same rows as before.
    const epochs = await history(out.path, ["loss", "epoch"]);
    expect(epochs.map((r) => [r._step, r.epoch])).toEqual([[2, 1], [5, 2], [8, 3]]);
    expect(epochs.map((r) => r.loss)).toEqual(out.history.loss);
  });

  it("fitDataset(), every 2nd batch, after rows the program logged: steps go on from the run's", async () => {
    const out = await train({ dataset: true, before: 2, options: { logFreq: 2 } });
    // 64 samples in batches of 16: 4 an epoch, 12 in all, at steps 2..13 (the program logged 0 and 1).
    const batches = await history(out.path, ["batch/loss"]);
    expect(batches.map((r) => r._step)).toEqual([3, 5, 7, 9, 11, 13]);
    const epochs = await history(out.path, ["loss", "epoch"]);
    expect(epochs.map((r) => [r._step, r.epoch])).toEqual([[5, 1], [9, 2], [13, 3]]);
    expect(epochs.map((r) => r.loss)).toEqual(out.history.loss);
    expect((await showRun(out.path, t.env)).state).toBe("finished");
  });

  it("logModel: the trained model is artifact v0 of type model, model.json and weights.bin, and loads back into the same model", async () => {
    const out = await train({ options: { logModel: true, modelName: "dense-regressor" } });
    expect(out.model).toBe("dense-regressor:v0");
    const [entity, project] = out.path.split("/");
    const shown = await cli(["artifacts", "show", `${entity}/${project}/dense-regressor:v0`, "--json"], t.env);
    expect(shown.code, shown.stderr).toBe(0);
    const version = JSON.parse(shown.stdout) as { type: string; files: { path: string }[]; metadata: Record<string, unknown> };
    expect(version.type).toBe("model");
    expect(version.files.map((f) => f.path).sort()).toEqual(["model.json", "weights.bin"]);
    expect(version.metadata).toMatchObject({ format: "tfjs-layers-model", tfjsVersion: tf.version.tfjs, epochs: 3, params: 49, metrics: { loss: out.history.loss[2] } });
    const run = await showRun(out.path, t.env);
    expect(run.artifactOutputs).toEqual([expect.objectContaining({ name: "dense-regressor", version: "v0", type: "model" })]);

    const dir = mkdtempSync(join(tmpdir(), "trk-model-"));
    const got = await cli(["artifacts", "get", `${entity}/${project}/dense-regressor:v0`, "--dir", dir], t.env);
    expect(got.code, got.stderr).toBe(0);
    const json = JSON.parse(readFileSync(join(dir, "model.json"), "utf8")) as { modelTopology: object; weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
    expect(json.weightsManifest[0].paths).toEqual(["./weights.bin"]);
    const weights = readFileSync(join(dir, "weights.bin"));
    const loaded = await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) }),
    );
    const prediction = Array.from((loaded.predict(tf.tensor2d([[1, 2, 3, 4], [-1, 0, 1, 0.5]])) as tf.Tensor).dataSync());
    expect(prediction).toEqual(out.prediction);
  });

  it("the example examples/tfjs-mnist-like.ts runs to a finished run", async () => {
    const p = start([join(ROOT, "dist/examples/tfjs-mnist-like.js")], { ...t.env, TRACKSIDE_PROJECT: "tfjs-example" });
    const done = await p.exited;
    expect(done.code, done.stderr).toBe(0);
    const url = /its run: (http:\S+)/.exec(done.stdout)?.[1];
    expect(url, done.stdout).toBeDefined();
    const path = new URL(url!).pathname.slice(1).replace("/runs/", "/");
    const run = await showRun(path, t.env);
    expect(run).toMatchObject({ state: "finished", config: { optimizer: { class: "Adam" }, model: { layers: 3 } } });
    const epochs = await history(path, ["val_acc", "epoch"]);
    expect(epochs.map((r) => r.epoch)).toEqual([1, 2, 3]);
    expect(epochs[2].val_acc).toBeGreaterThan(0.5); // the synthetic classes are easy: it learnt something
    expect(run.artifactOutputs).toEqual([expect.objectContaining({ type: "model", version: "v0" })]);
    // logWeights: the two dense layers' kernels and biases (the dropout layer has no weights), each epoch.
    const { keys } = await get<{ keys: MediaKeyView[] }>(path, "media");
    expect(keys).toEqual(["weights/dense_Dense1/bias", "weights/dense_Dense1/kernel", "weights/dense_Dense2/bias", "weights/dense_Dense2/kernel"].map((key) => expect.objectContaining({ key, type: "histogram", steps: 3 })));
  });
});
