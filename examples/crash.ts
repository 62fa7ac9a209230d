/**
 * A run that dies: 50 steps, then an uncaught exception. trackside records it as failed, with
 * exit code 1 and the error, and keeps all 50 steps.
 */
import * as trackside from "trackside";

const run = await trackside.init({
  project: process.env.TRACKSIDE_PROJECT ?? "demo",
  jobType: "train",
  tags: ["example", "crash"],
  notes: "Throws after 50 steps (examples/crash.ts)",
  config: { lr: 0.1, batchSize: 32 },
});

for (let step = 0; step < 50; step++) {
  run.log({ loss: 1 / (step + 1), acc: step / 50 });
  await new Promise((r) => setTimeout(r, 2));
}
throw new Error("CUDA out of memory (simulated by examples/crash.ts)");
