/**
 * A fake training loop: config, 300 steps of loss, accuracy and learning rate, a summary, the
 * "model" it trained logged as an artifact, finish.
 * Run it with `npm run demo`, or on its own: `node dist/examples/train.js` (after `npm run build`).
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as trackside from "trackside";

const config = { lr: 3e-3, batchSize: 64, epochs: 3, optimizer: { name: "adam", betas: [0.9, 0.999] } };
const run = await trackside.init({
  project: process.env.TRACKSIDE_PROJECT ?? "demo",
  jobType: "train",
  tags: ["example", "fake-data"],
  notes: "A fake training loop from examples/train.ts",
  config,
});

const steps = 300;
let best = 0;
for (let step = 0; step < steps; step++) {
  const progress = step / steps;
  // cosine decay, and a noisy curve that improves
  const lr = config.lr * 0.5 * (1 + Math.cos(Math.PI * progress));
  const loss = 2.3 * Math.exp(-3 * progress) + 0.05 * Math.random();
  const acc = Math.min(1, 0.1 + 0.85 * (1 - Math.exp(-4 * progress)) + 0.02 * Math.random());
  best = Math.max(best, acc);
  run.log({ loss, acc, lr, epoch: Math.floor(progress * config.epochs) });
  await new Promise((r) => setTimeout(r, 2));
}
run.summary.set("best_acc", best);
// The checkpoint: the daemon uploads it, and the run's page lists it under artifact outputs.
const checkpoint = mkdtempSync(join(tmpdir(), "demo-model-"));
writeFileSync(join(checkpoint, "model.json"), JSON.stringify({ layers: [784, 128, 10], activation: "relu" }));
writeFileSync(join(checkpoint, "weights.bin"), Buffer.alloc(64 * 1024, 1));
await run.logArtifact(trackside.artifact("demo-model", "model", { metadata: { best_acc: best } }).addDir(checkpoint), { aliases: ["best"] });
await run.finish();
