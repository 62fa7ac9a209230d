/**
 * Child of the media benchmarks (media.ts, media-web.ts): one process, one daemon, an online run
 * of `STEPS` steps against the benchmark's server, and its baselines measured in this same
 * process just before it. Prints one JSON line.
 *
 * - `image STEPS SEED`: a bare scalar run (loss only); then a run logging a 256 x 256 RGB
 *   `trackside.Image` of raw pixels and the loss at each step, with the same images PNG-encoded
 *   alone (pngjs, the encoder the client uses, with the client's options) before it and after
 *   it: the baseline is their mean, so that a burst of load on this shared machine during one
 *   side shows as a spread (printed) rather than as a ratio.
 * - `histogram STEPS VALUES BINS SEED`: a bare scalar run; then a run logging a
 *   `trackside.Histogram()` and the loss at each step, the same histograms computed alone before
 *   and after it.
 *
 * Each step's image (histogram values) is a window of one pool of pixels (values), one row (ten
 * values) further on at each step: distinct per step, so nothing is stored once for two steps,
 * and made before any timer starts.
 */
import { createRequire } from "node:module";
import type { PNG as PNGClass } from "pngjs";
import * as trackside from "trackside";

const SIDE = 256;
const CHANNELS = 3;
const ROW = SIDE * CHANNELS;
const IMAGE = SIDE * ROW;
const SETTINGS = { silent: true, finishTimeoutMs: 600_000 };

/** mulberry32: the same pseudo-random numbers for a seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Pixels for `steps` images: smooth colour gradients with noise of +-12 on each channel, about
 * what a generated sample or a photo compresses to (PNG of pure noise is as large as the raw
 * pixels; of a flat gradient, a few KB).
 */
function pixelPool(steps: number, seed: number): Uint8Array {
  const rand = random(seed);
  const pool = new Uint8Array(IMAGE + ROW * steps);
  for (let i = 0; i < pool.length; i += CHANNELS) {
    const y = Math.floor(i / ROW);
    const x = (i % ROW) / CHANNELS;
    const base = [128 + 100 * Math.sin(x / 40 + y / 90), 128 + 100 * Math.cos(y / 35), 128 + 100 * Math.sin((x + y) / 60)];
    for (let c = 0; c < CHANNELS; c++) pool[i + c] = Math.max(0, Math.min(255, Math.round(base[c] + (rand() - 0.5) * 24)));
  }
  return pool;
}

function normalPool(n: number, seed: number): Float64Array {
  const rand = random(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  return out;
}

/** The scalar the runs log beside their media: a loss going down. */
const loss = (s: number) => 1 / (1 + s * 0.01);

/** What a probe prints of one run (media.ts and media-web.ts read it). */
export interface Timed {
  loopMs: number;
  finishMs: number;
  synced: boolean;
  /** Media files finish() left to upload (with `synced`, nothing lost while timing). */
  pendingMedia: number;
  path: string;
}

/** A run whose loop is `step(run, s)` for each step: the loop timed, then finish() (until all is uploaded). */
async function timedRun(project: string, steps: number, step: (run: trackside.Run, s: number) => void): Promise<Timed> {
  const run = await trackside.init({ project, settings: SETTINGS });
  const t0 = performance.now();
  for (let s = 0; s < steps; s++) step(run, s);
  const loopMs = performance.now() - t0;
  const t1 = performance.now();
  const done = await run.finish();
  return { loopMs, finishMs: performance.now() - t1, synced: done.synced, pendingMedia: done.pendingMedia, path: run.path };
}

const [mode, ...args] = process.argv.slice(2);
const steps = Number(args[0]);
const scalar = await timedRun("bench-media-scalar", steps, (run, s) => run.log({ loss: loss(s) }));

if (mode === "image") {
  const seed = Number(args[1]);
  const pool = pixelPool(steps, seed);
  const imageAt = (s: number) => pool.subarray(s * ROW, s * ROW + IMAGE);
  // The encoder the client loads (media-encode.ts: createRequire("pngjs")), with its options for RGB.
  const { PNG } = createRequire(import.meta.url)("pngjs") as { PNG: typeof PNGClass };
  const encode = (px: Uint8Array): Buffer => {
    const png = new PNG({ width: SIDE, height: SIDE, colorType: 2, inputColorType: 2, inputHasAlpha: false });
    png.data = Buffer.from(px.buffer, px.byteOffset, px.byteLength);
    return PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false, filterType: 4 });
  };
  for (let s = 0; s < Math.min(steps, 5); s++) encode(imageAt(steps - 1 - s)); // warm: zlib and the JIT
  let pngBytes = 0;
  const encodeAll = () => {
    pngBytes = 0;
    const t0 = performance.now();
    for (let s = 0; s < steps; s++) pngBytes += encode(imageAt(s)).length;
    return performance.now() - t0;
  };
  const before = encodeAll();
  const media = await timedRun("bench-media", steps, (run, s) => run.log({ "samples/image": trackside.Image(imageAt(s), { height: SIDE, width: SIDE, channels: CHANNELS }), loss: loss(s) }));
  const after = encodeAll();
  console.log(JSON.stringify({ scalar, encodeMs: (before + after) / 2, encodeSpread: [before, after], pngBytes: pngBytes / steps, media }));
} else if (mode === "histogram") {
  const [, values, bins, seed] = args.map(Number);
  const pool = normalPool(values + 10 * steps, seed);
  const valuesAt = (s: number) => pool.subarray(s * 10, s * 10 + values);
  for (let s = 0; s < Math.min(steps, 5); s++) trackside.Histogram(valuesAt(s), { bins }); // warm: the JIT
  let check = 0;
  const computeAll = () => {
    const t0 = performance.now();
    for (let s = 0; s < steps; s++) check += trackside.Histogram(valuesAt(s), { bins }).counts[0];
    return performance.now() - t0;
  };
  const before = computeAll();
  const media = await timedRun("bench-media", steps, (run, s) => run.log({ weights: trackside.Histogram(valuesAt(s), { bins }), loss: loss(s) }));
  const after = computeAll();
  console.log(JSON.stringify({ scalar, computeMs: (before + after) / 2, computeSpread: [before, after], check, media }));
} else throw new Error(`media-probe: unknown mode ${mode}`);
process.exit(0);
