/**
 * Media logging (issue 19 point 6), each beside baselines measured in the same probe process
 * (media-probe.ts) just before the run, against a `trackside server` child on loopback through a
 * daemon the probe spawns:
 *
 * - a 256 x 256 RGB image of raw pixels (`trackside.Image`) and a scalar logged at each step: the
 *   training loop's time per step beside PNG-encoding the same image alone (pngjs, as the client
 *   does) and beside a run that logs the scalar only; and from the first log() until finish()
 *   returns (every image uploaded) beside encoding them all alone;
 * - a `trackside.Histogram(values, { bins })` and a scalar at each step: the loop beside computing
 *   the same histograms alone and beside the scalar-only run; until finish() returns beside the
 *   scalar-only run's.
 *
 * Each run is checked on the server afterwards: the media key holds every step (and the last
 * image's bytes download whole), so a figure never times a run that lost something.
 *
 * Alone: `npm run build && node dist/scripts/bench/run.js --one benchMediaImages '[1000,3]'`,
 * `... --one benchMediaHistograms '[1000,10000,1000,3]'`.
 */
import { fileURLToPath } from "node:url";
import { rmSync } from "node:fs";
import type { MediaKeysView, MediaValuesView } from "../../src/protocol/media.js";
import { benchRoot, clientEnv, reapDaemons, runProbe, startServerProcess, type BenchServer } from "./procs.js";
import type { Timed } from "./media-probe.js";
import { median, type Figure } from "./stats.js";

const probe = fileURLToPath(new URL("./media-probe.js", import.meta.url));

async function getJson<T>(server: BenchServer, path: string): Promise<T> {
  const res = await fetch(new URL(path, server.url), { headers: { authorization: `Bearer ${server.apiKey}` } });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/**
 * Throws unless finish() said synced and the server holds `key` at every step; for an image key,
 * also that the last image's bytes download at their size.
 */
export async function checkStored(server: BenchServer, run: Timed, key: string, steps: number): Promise<void> {
  if (!run.synced || run.pendingMedia !== 0) throw new Error(`run ${run.path} finished unsynced (${run.pendingMedia} media files left)`);
  const base = `/api/v1/runs/${run.path.split("/").map(encodeURIComponent).join("/")}/media`;
  const keys = await getJson<MediaKeysView>(server, base);
  const found = keys.keys.find((k) => k.key === key);
  if (found?.steps !== steps) throw new Error(`run ${run.path}: ${key} has ${found?.steps ?? 0} steps on the server, not ${steps}`);
  const last = await getJson<MediaValuesView>(server, `${base}/values?key=${encodeURIComponent(key)}&fromStep=${steps - 1}&limit=1`);
  const value = last.entries[0]?.value;
  if (value?.type !== "image") return;
  const res = await fetch(new URL(value.url, server.url), { headers: { authorization: `Bearer ${server.apiKey}` } });
  const bytes = Buffer.from(await res.arrayBuffer());
  if (!res.ok || bytes.length !== value.size) throw new Error(`run ${run.path}: the last image downloads as ${res.status}, ${bytes.length} bytes, not ${value.size}`);
}

/** `samples` probes against one server, each with its own daemon; their results, each run checked. */
async function probes<T extends { scalar: Timed; media: Timed }>(label: string, args: (i: number) => string[], key: string, steps: number, samples: number): Promise<T[]> {
  const root = benchRoot(label);
  const sockets: string[] = [];
  const out: T[] = [];
  const server = await startServerProcess(root);
  try {
    for (let i = 0; i < samples; i++) {
      const { env, socketDir } = clientEnv(server, root);
      sockets.push(socketDir);
      const r = await runProbe<T>(probe, args(i), env);
      await checkStored(server, r.media, key, steps);
      // Each sample on stderr: the baselines' spread (before and after the run) shows the load.
      process.stderr.write(`${label} sample ${i + 1}: ${JSON.stringify(r)}\n`);
      out.push(r);
    }
  } finally {
    await reapDaemons(sockets);
    await server.close();
    rmSync(root, { recursive: true, force: true });
  }
  return out;
}

const perStep = (ms: number, steps: number) => (ms / steps) * 1000;

export async function benchMediaImages(steps: number, samples: number): Promise<Figure[]> {
  // A seed per sample: the images of one probe are not the blobs another already uploaded.
  const rs = await probes<{ scalar: Timed; media: Timed; encodeMs: number; pngBytes: number }>("media-images", (i) => ["image", String(steps), String(i + 1)], "samples/image", steps, samples);
  const what = `a 256x256 RGB image (raw pixels, PNG of ${Math.round(median(rs.map((r) => r.pngBytes)) / 1024)} KiB) + a scalar logged at each of ${steps.toLocaleString("en")} steps`;
  const loop = median(rs.map((r) => perStep(r.media.loopMs, steps)));
  const encode = median(rs.map((r) => perStep(r.encodeMs, steps)));
  return [
    { name: `media ${what}: training-loop time per step`, value: loop, baseline: encode, baselineName: "PNG-encoding the same image alone (pngjs)", unit: "µs", better: "lower", samples },
    { name: `media ${what}: training-loop time per step, beside the scalar alone`, value: loop, baseline: median(rs.map((r) => perStep(r.scalar.loopMs, steps))), baselineName: "a run logging the scalar only", unit: "µs", better: "lower", samples },
    { name: `media ${what}: first log() until finish() returns, every image uploaded`, value: median(rs.map((r) => r.media.loopMs + r.media.finishMs)), baseline: median(rs.map((r) => r.encodeMs)), baselineName: "PNG-encoding the same images alone", unit: "ms", better: "lower", samples },
    { name: `media ${what}: first log() until finish() returns, beside the scalar alone`, value: median(rs.map((r) => r.media.loopMs + r.media.finishMs)), baseline: median(rs.map((r) => r.scalar.loopMs + r.scalar.finishMs)), baselineName: "a run logging the scalar only", unit: "ms", better: "lower", samples },
  ];
}

export async function benchMediaHistograms(steps: number, values: number, bins: number, samples: number): Promise<Figure[]> {
  const rs = await probes<{ scalar: Timed; media: Timed; computeMs: number }>("media-histograms", (i) => ["histogram", String(steps), String(values), String(bins), String(i + 1)], "weights", steps, samples);
  const what = `a ${bins.toLocaleString("en")}-bin histogram of ${values.toLocaleString("en")} values + a scalar logged at each of ${steps.toLocaleString("en")} steps`;
  const loop = median(rs.map((r) => perStep(r.media.loopMs, steps)));
  return [
    { name: `media ${what}: training-loop time per step`, value: loop, baseline: median(rs.map((r) => perStep(r.computeMs, steps))), baselineName: "computing the same trackside.Histogram() alone", unit: "µs", better: "lower", samples },
    { name: `media ${what}: training-loop time per step, beside the scalar alone`, value: loop, baseline: median(rs.map((r) => perStep(r.scalar.loopMs, steps))), baselineName: "a run logging the scalar only", unit: "µs", better: "lower", samples },
    { name: `media ${what}: first log() until finish() returns, all uploaded`, value: median(rs.map((r) => r.media.loopMs + r.media.finishMs)), baseline: median(rs.map((r) => r.scalar.loopMs + r.scalar.finishMs)), baselineName: "a run logging the scalar only", unit: "ms", better: "lower", samples },
  ];
}
