/**
 * `logModel`: the trained model as an artifact of type "model", in TensorFlow.js's own layout
 * (the one `model.save("file://dir")` of tfjs-node writes and `tf.loadLayersModel()` reads):
 * `model.json` (topology and weights manifest) and `weights.bin` (every weight, one file).
 * Saved through `tf.io.withSaveHandler` into a temporary directory, so it needs no tfjs-node;
 * the directory is removed once logArtifact() has staged the files in the run directory.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { artifact, type LoggedArtifact, type Run } from "trackside";

/** Saves `model` and hands it to the run as artifact `name`; resolves once the daemon holds it. */
export async function logModelArtifact(run: Run, model: tf.LayersModel, name: string, metadata: Record<string, unknown>): Promise<LoggedArtifact> {
  let saved: tf.io.ModelArtifacts | null = null;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
  const a = saved as tf.io.ModelArtifacts | null;
  if (!a) throw new Error("model.save() gave the save handler nothing");
  const dir = await mkdtemp(join(tmpdir(), "trackside-tfjs-"));
  try {
    await writeFile(join(dir, "model.json"), JSON.stringify(modelJson(a)));
    await writeFile(join(dir, "weights.bin"), weightBytes(a.weightData));
    const bundle = artifact(name, "model", { metadata: { format: "tfjs-layers-model", tfjsVersion: tf.version.tfjs, ...metadata } });
    bundle.addFile(join(dir, "model.json")).addFile(join(dir, "weights.bin"));
    return await run.logArtifact(bundle);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** model.json as tfjs writes it (io_utils' getModelJSONForModelArtifacts, which tfjs does not export). */
function modelJson(a: tf.io.ModelArtifacts): Record<string, unknown> {
  const json: Record<string, unknown> = {
    modelTopology: a.modelTopology,
    format: a.format,
    generatedBy: a.generatedBy,
    convertedBy: a.convertedBy,
    weightsManifest: [{ paths: ["./weights.bin"], weights: a.weightSpecs ?? [] }],
  };
  for (const key of ["signature", "userDefinedMetadata", "modelInitializer", "initializerSignature", "trainingConfig"] as const) {
    if (a[key] != null) json[key] = a[key];
  }
  return json;
}

/** tfjs 4 may hand the weights as several buffers; the file holds them one after another. */
function weightBytes(data: tf.io.ModelArtifacts["weightData"]): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  return Array.isArray(data) ? Buffer.concat(data.map((b) => new Uint8Array(b))) : new Uint8Array(data as ArrayBuffer);
}
