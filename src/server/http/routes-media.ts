/**
 * A run's media over HTTP (docs/api.md, "Media"; shapes in protocol/media.ts):
 *
 * - `GET /api/v1/runs/:entity/:project/:id/media` -> MediaKeysView
 * - `GET /api/v1/runs/:entity/:project/:id/media/values?key=K[&fromStep&toStep&limit]` -> MediaValuesView
 *
 * Both follow the run's rule (run:read). Each image answers with `url`, where its bytes download:
 * the project's blob route (or the bucket's presigned URL), which lets anyone who may read the
 * run fetch the blobs its media references (routes-blobs.ts).
 */
import type { FastifyInstance } from "fastify";
import { API_PREFIX, type HistoryView } from "../../protocol/api.js";
import { MAX_MEDIA_ANSWER_CHARS, type ImageRef, type ImageView, type MediaKeysView, type MediaValue, type MediaValueView, type MediaValuesView } from "../../protocol/media.js";
import type { AppContext } from "./app-context.js";
import { imageAnswer } from "../blobs/blob-type.js";
import { parseMediaValuesQuery } from "./query-params.js";

export function registerMediaRoutes(app: FastifyInstance, ctx: AppContext): void {
  const runRead = { config: { access: "run:read" as const } };
  const base = `${API_PREFIX}/runs/:entity/:project/:id/media`;

  app.get(base, runRead, async (req): Promise<MediaKeysView> => ({ keys: await ctx.store.runMediaKeys(ctx.run(req).pk) }));

  app.get(`${base}/values`, runRead, async (req): Promise<MediaValuesView> => {
    const run = ctx.run(req);
    const { key, ...range } = parseMediaValuesQuery(req.query as Record<string, unknown>);
    const { entries, next } = await ctx.store.runMediaValues(run.pk, key, { ...range, maxChars: MAX_MEDIA_ANSWER_CHARS });
    return { key, entries: await withUrls(ctx, run, entries), next };
  });
}

/** Most steps of one media key a history answer reads (a history answer holds at most 100,000 rows). */
const MAX_HISTORY_MEDIA_STEPS = 100_000;

/**
 * Puts `run`'s media values in a history answer's rows at their steps (the keys asked for, or all
 * with none asked), each image with its URL, so that one history read gives a step's whole row.
 * The values of all keys together hold about MAX_MEDIA_ANSWER_CHARS: a key's values past that are
 * left out, and `mediaLeftOut[key]` names the first step left out (the media route reads on).
 */
export async function addMediaToHistory(ctx: AppContext, run: { pk: number; entity: string; project: string }, view: HistoryView, wanted: string[] | null): Promise<void> {
  if (view.rows.length === 0) return;
  const keys = (await ctx.store.runMediaKeys(run.pk)).filter((k) => wanted === null || wanted.includes(k.key));
  if (keys.length === 0) return;
  const rowAt = new Map(view.rows.map((row) => [row._step as number, row]));
  const steps = [...rowAt.keys()];
  // Every step of the span may hold a value (media at steps without a history row too: a client
  // that posts records of its own), so the limit is the span's, bounded as the media route's is.
  const fromStep = Math.min(...steps);
  const toStep = Math.max(...steps);
  const range = { fromStep, toStep, limit: Math.min(toStep - fromStep + 1, MAX_HISTORY_MEDIA_STEPS) };
  let budget = MAX_MEDIA_ANSWER_CHARS;
  for (const { key } of keys) {
    if (budget <= 0) {
      (view.mediaLeftOut ??= {})[key] = range.fromStep;
      continue;
    }
    const page = await ctx.store.runMediaValues(run.pk, key, { ...range, maxChars: budget });
    for (const { step, value } of await withUrls(ctx, run, page.entries.filter((e) => rowAt.has(e.step)))) {
      rowAt.get(step)![key] = value;
      budget -= JSON.stringify(value).length;
    }
    if (page.next !== null) (view.mediaLeftOut ??= {})[key] = page.next;
    if (wanted === null && !view.keys.includes(key)) view.keys.push(key);
  }
}

/** Stored media values of `run` with each image's download URL. */
export async function withUrls(ctx: AppContext, run: { entity: string; project: string }, entries: { step: number; value: MediaValue }[]): Promise<{ step: number; value: MediaValueView }[]> {
  const scope = { entity: run.entity, project: run.project };
  // One URL per digest: a presigned URL costs a signature, and a table repeats its images. A
  // bucket answers with the type signed into its URL (its objects were uploaded as bytes).
  const urls = new Map<string, Promise<string>>();
  const view = (image: ImageRef): Promise<ImageView> => {
    let url = urls.get(image.digest);
    if (!url) urls.set(image.digest, (url = ctx.blobs.downloadUrl(scope, image.digest, API_PREFIX, imageAnswer(image.digest, image.format))));
    return url.then((u) => ({ ...image, url: u }));
  };
  return Promise.all(entries.map(async (e) => ({ step: e.step, value: await valueView(e.value, view) })));
}

/** A stored media value with each image's download URL. */
async function valueView(value: MediaValue, view: (image: ImageRef) => Promise<ImageView>): Promise<MediaValueView> {
  switch (value.type) {
    case "image":
      return view(value);
    case "images":
      return { type: "images", items: await Promise.all(value.items.map(view)) };
    case "histogram":
      return value;
    case "table":
      return {
        type: "table",
        columns: value.columns,
        rows: await Promise.all(value.rows.map((row) => Promise.all(row.map((cell) => (typeof cell === "object" && cell !== null ? view(cell) : cell))))),
      };
  }
}
