/**
 * trackside/tfjs without a daemon: where rows go (StepPlan), which options are refused, that
 * tfjs's scalar tensors are read without a wait per batch, and that `trackside` itself never
 * loads TensorFlow.js. The whole path, with a daemon and a server, is test/e2e/tfjs.test.ts.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { isTracksideError } from "../../src/protocol/errors.js";
import { read, tracksideCallback } from "../../src/integrations/tfjs/callback.js";
import { StepPlan } from "../../src/integrations/tfjs/steps.js";
import { ROOT } from "../helpers/processes.js";

/** Enough of a Run for the callback: records what it logs, with History's step rule (a row stays open until the step moves). */
function recordingRun() {
  const rows: Array<{ step: number; values: Record<string, unknown> }> = [];
  const run = {
    id: "abcd1234",
    step: 0,
    config: { update: () => {} },
    logArtifact: async () => {
      throw new Error("not in this test");
    },
    log(values: Record<string, unknown>, opts: { step?: number; commit?: boolean } = {}) {
      const step = opts.step ?? run.step;
      if (step < run.step) throw new Error(`step ${step} is behind ${run.step}`);
      const open = rows.at(-1);
      if (open && open.step === step) Object.assign(open.values, values);
      else rows.push({ step, values: { ...values } });
      run.step = opts.commit || opts.step === undefined ? step + 1 : step;
    },
  };
  return { run, rows };
}

describe("StepPlan", () => {
  it("gives batch k of a fit the run's step at its start plus k, and an epoch the step of its last batch", () => {
    const plan = new StepPlan(1);
    plan.begin(10);
    expect([plan.batch(), plan.batch(), plan.batch()]).toEqual([10, 11, 12]);
    expect(plan.epoch()).toBe(12);
    expect([plan.batch(), plan.batch()]).toEqual([13, 14]);
    expect(plan.epoch()).toBe(14);
    plan.begin(15); // a second fit() goes on from where the run is
    expect(plan.batch()).toBe(15);
  });

  it("logs every n-th batch at the same steps, and none with 0; epochs keep their steps", () => {
    const every3 = new StepPlan(3);
    every3.begin(0);
    expect(Array.from({ length: 7 }, () => every3.batch())).toEqual([-1, -1, 2, -1, -1, 5, -1]);
    expect(every3.epoch()).toBe(6);
    const none = new StepPlan(0);
    none.begin(0);
    expect(Array.from({ length: 4 }, () => none.batch())).toEqual([-1, -1, -1, -1]);
    expect(none.epoch()).toBe(3);
  });
});

describe("tracksideCallback options", () => {
  const { run } = recordingRun();
  it.each([
    [{ logFreq: 0 }, "logFreq"],
    [{ logFreq: 2.5 }, "logFreq"],
    [{ logFreq: "step" }, "logFreq"],
    [{ logModel: "yes" }, "logModel"],
    [{ logConfig: 1 }, "logConfig"],
    [{ modelName: "a/b" }, "modelName"],
    [{ logfreq: 1 }, "logfreq"],
    [null, "options"],
    [[], "options"],
  ])("refuses %j with TRK_ERR_INVALID_OPTION naming it", (options, name) => {
    let caught: unknown;
    try {
      tracksideCallback(run as never, options as never);
    } catch (err) {
      caught = err;
    }
    expect(isTracksideError(caught, "TRK_ERR_INVALID_OPTION"), String(caught)).toBe(true);
    expect((caught as Error).message).toContain(name);
  });

  it("refuses something that is not a run", () => {
    expect(() => tracksideCallback({} as never)).toThrow(/TRK_ERR_INVALID_OPTION|the run that trackside.init\(\) returned/);
  });
});

describe("the callback in model.fit()", () => {
  it("starts reading tfjs's scalar tensors at once, so that tfjs may free them as soon as onBatchEnd returns", async () => {
    const logs = { batch: 0, size: 16, loss: tf.scalar(0.5), acc: 0.25 };
    const pending = read(logs, "batch/");
    logs.loss.dispose(); // tfjs frees the batch's tensors as soon as onBatchEnd returns
    expect(await pending).toEqual({ "batch/loss": 0.5, "batch/acc": 0.25 });
  });

  it("keeps steps forward when the program logs rows of its own during training", async () => {
    const { run, rows } = recordingRun();
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2] })] });
    model.compile({ optimizer: tf.train.sgd(0.1), loss: "meanSquaredError" });
    const x = tf.ones([8, 2]);
    const y = tf.ones([8, 1]);
    const own = new tf.CustomCallback({ onEpochEnd: async () => run.log({ mine: 1 }) });
    const cb = tracksideCallback(run as never);
    await model.fit(x, y, { epochs: 2, batchSize: 4, callbacks: [cb, own], verbose: 0 });
    const steps = rows.map((r) => r.step);
    expect([...steps].sort((a, b) => a - b)).toEqual(steps);
    expect(rows.filter((r) => "loss" in r.values).map((r) => r.values.epoch)).toEqual([1, 2]);
    expect(rows.filter((r) => "batch/loss" in r.values)).toHaveLength(4);
    expect(run.step).toBe(steps.at(-1)! + 1); // the last row is closed at the end of training
  });
});

describe("the callback after plain-object callbacks", () => {
  it("still logs the metrics, and warns once that it has no model for the config", async () => {
    const { run, rows } = recordingRun();
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2] })] });
    model.compile({ optimizer: tf.train.sgd(0.1), loss: "meanSquaredError" });
    const written: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => (written.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      // tfjs wraps every entry of a list that does not start with a tf.Callback in a CustomCallback, which calls hooks as bare functions.
      await model.fit(tf.ones([8, 2]), tf.ones([8, 1]), { epochs: 2, batchSize: 4, callbacks: [{ onEpochEnd: () => {} }, tracksideCallback(run as never) as never], verbose: 0 });
    } finally {
      process.stderr.write = write;
    }
    expect(rows.filter((r) => "loss" in r.values).map((r) => [r.step, r.values.epoch])).toEqual([[1, 1], [3, 2]]);
    expect(written.filter((l) => l.includes("was not given the model"))).toHaveLength(1);
  });
});

describe("the trackside entry", () => {
  it("does not load TensorFlow.js: only trackside/tfjs does", () => {
    expect(readFileSync(join(ROOT, "dist/client/index.js"), "utf8")).not.toContain("@tensorflow");
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { exports: Record<string, unknown>; peerDependenciesMeta: Record<string, unknown> };
    expect(pkg.exports["./tfjs"]).toEqual({ types: "./dist/src/integrations/tfjs/index.d.ts", default: "./dist/src/integrations/tfjs/index.js" });
    expect(pkg.peerDependenciesMeta["@tensorflow/tfjs"]).toEqual({ optional: true });
  });
});
