/**
 * TEMPORARY, until the server's media read routes (helper S, branch h-mserver) are merged: a
 * stand-in for `GET /runs/:entity/:project/:id/media` and `.../media/values` that a test's
 * browser page answers itself (playwright's page.route) from the media records the test posted,
 * by the contract's shapes (src/protocol/media.ts: the newest record of a (key, step) wins; each
 * image with its `url`, the blob route of its project). Everything else (the records, the blobs,
 * the pages, the live events) is the real server's. Delete this file and its uses in
 * test/web/media.test.ts (the lines marked TEMPORARY) once the routes are in.
 */
import type { Page } from "playwright-core";
import type { ImageRef, MediaValue, MediaValueView, TableCell } from "../../src/protocol/media.js";
import type { RunRecord } from "../../src/protocol/records.js";

/** "entity/project/id" -> key -> step -> value (the newest record last, so it wins). */
const runs = new Map<string, Map<string, Map<number, MediaValue>>>();

/** Notes the media records posted to run `path` (entity/project/id), in seq order. */
export function rememberMedia(path: string, records: RunRecord[]): void {
  const run = runs.get(path) ?? new Map<string, Map<number, MediaValue>>();
  runs.set(path, run);
  for (const r of [...records].sort((a, b) => a.seq - b.seq)) {
    if (r.k !== "media") continue;
    const steps = run.get(r.key) ?? new Map<number, MediaValue>();
    run.set(r.key, steps);
    steps.set(r.step, r.value);
  }
}

/** Answers the media read routes of every run on `page`. */
export async function standInMediaRoutes(page: Page): Promise<void> {
  await page.route(/\/api\/v1\/runs\/[^/]+\/[^/]+\/[^/]+\/media(\/values)?(\?.*)?$/, async (route) => {
    const u = new URL(route.request().url());
    const [entity, project, id] = u.pathname.split("/").slice(4, 7).map(decodeURIComponent);
    const run = runs.get(`${entity}/${project}/${id}`) ?? new Map<string, Map<number, MediaValue>>();
    const url = (im: ImageRef) => ({ ...im, url: `/api/v1/artifacts/${encodeURIComponent(entity)}/${encodeURIComponent(project)}/blobs/${im.digest}` });
    const view = (v: MediaValue): MediaValueView =>
      v.type === "image" ? url(v) : v.type === "images" ? { ...v, items: v.items.map(url) } : v.type === "table" ? { ...v, rows: v.rows.map((r) => r.map((c: TableCell) => (c !== null && typeof c === "object" ? url(c) : c))) } : v;
    if (!u.pathname.endsWith("/values")) {
      const keys = [...run].map(([key, byStep]) => {
        const steps = [...byStep.keys()].sort((a, b) => a - b);
        return { key, type: byStep.get(steps[steps.length - 1])!.type, steps: steps.length, firstStep: steps[0], lastStep: steps[steps.length - 1] };
      });
      return route.fulfill({ json: { keys } });
    }
    const key = u.searchParams.get("key") ?? "";
    const from = Number(u.searchParams.get("fromStep") ?? -Infinity);
    const to = Number(u.searchParams.get("toStep") ?? Infinity);
    const limit = Number(u.searchParams.get("limit") ?? 1000);
    const entries = [...(run.get(key) ?? new Map<number, MediaValue>())]
      .filter(([s]) => s >= from && s <= to)
      .sort((a, b) => a[0] - b[0])
      .slice(0, limit)
      .map(([step, v]) => ({ step, value: view(v) }));
    return route.fulfill({ json: { key, entries } });
  });
}
