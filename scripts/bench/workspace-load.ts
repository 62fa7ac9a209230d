/**
 * The project workspace of a large project in Chromium (issue 16, point 8): `runs` runs of
 * `metrics` metrics and `steps` steps each. Timed from navigation (the page's own clock,
 * `performance.now()`, which starts at navigation) until every panel in view has drawn all its
 * series (`data-ready`), for the default workspace (the most recent 10 runs shown) and with every
 * run shown. Baseline, same run and server: the same page of a project holding one such run.
 * Beside it, the most buckets one chart request returned for one run: each panel's metric is one
 * request for all its runs, of at most 1,000 buckets per run, whatever the run's length.
 *
 * Alone: `npm run build && node dist/scripts/bench/run.js --one benchWorkspaceLoad '[50,20,100000,3]'`.
 */
import type { Page } from "playwright-core";
import type { HistoryBucketsBatchView, HistoryBucketsView } from "../../src/protocol/api.js";
import { median, type Figure } from "./stats.js";
import { startBenchWorkspace, workspaceUrl, type BenchWorkspace } from "./workspace-browser.js";

interface Load {
  ms: number;
  requests: number;
  maxBuckets: number;
  panels: number;
}

/** Navigates to the workspace and waits until each panel in view is drawn. */
async function load(page: Page, url: string): Promise<Load> {
  let requests = 0;
  let maxBuckets = 0;
  const pending: Promise<void>[] = [];
  const onResponse = (r: import("playwright-core").Response) => {
    if (!r.url().includes("/history/buckets")) return;
    requests++;
    // A panel's batched request (`?runs=`) answers per run; the buckets per run per panel are what count.
    const views = (b: HistoryBucketsView | HistoryBucketsBatchView) => ("runs" in b ? Object.values(b.runs) : [b]);
    pending.push(r.json().then((b: HistoryBucketsView | HistoryBucketsBatchView) => void (maxBuckets = Math.max(maxBuckets, ...views(b).map((v) => v.count.length))), () => undefined));
  };
  page.on("response", onResponse);
  await page.goto(url);
  const ms = await page.evaluate(
    () =>
      new Promise<number>((resolve) => {
        const check = () => {
          const inView = [...document.querySelectorAll<HTMLElement>("[data-panel]")].filter((p) => p.getBoundingClientRect().top < innerHeight);
          if (inView.length > 0 && inView.every((p) => p.dataset.ready === "true")) resolve(performance.now());
          else requestAnimationFrame(check);
        };
        check();
      }),
  );
  const panels = await page.locator("[data-panel][data-ready=true]").count();
  page.off("response", onResponse);
  await Promise.all(pending);
  return { ms, requests, maxBuckets, panels };
}

async function measure(ws: BenchWorkspace, project: string, state: Record<string, unknown>, samples: number): Promise<Load[]> {
  const page = await ws.open();
  try {
    await load(page, workspaceUrl(ws.server, ws.user, project, state)); // the server's caches and the browser's assets warm
    const out: Load[] = [];
    for (let s = 0; s < samples; s++) out.push(await load(page, workspaceUrl(ws.server, ws.user, project, state)));
    return out;
  } finally {
    await page.context().close();
  }
}

export async function benchWorkspaceLoad(runs: number, metrics: number, steps: number, samples: number): Promise<Figure[]> {
  const ws = await startBenchWorkspace("workspace-load");
  if (!ws) return [];
  try {
    for (let i = 0; i < runs; i++) await ws.addRun("big", `big${String(i).padStart(5, "0")}`, i, metrics, steps, false);
    await ws.addRun("one", "one00000", 0, metrics, steps, false);
    // Timed at rest: not while the background WAL checkpoint of the fill still copies pages.
    await (ws.server.store as { idle?: () => Promise<void> }).idle?.();
    const size = `${runs} runs x ${metrics} metrics x ${steps.toLocaleString("en")} steps`;
    const base = await measure(ws, "one", {}, samples);
    const figures: Figure[] = [];
    for (const [label, state] of [["default workspace (latest 10 runs shown)", {}], ["every run shown", { recent: runs }]] as const) {
      const loads = await measure(ws, "big", state, samples);
      const shown = Math.min(runs, "recent" in state ? state.recent : 10);
      figures.push({
        name: `workspace in Chromium: ${size}, ${label}: navigation to every panel in view drawn (${loads[0].panels} panels, ${loads[0].requests} chart requests)`,
        value: median(loads.map((l) => l.ms)),
        baseline: median(base.map((l) => l.ms)),
        baselineName: "the same page with one run",
        unit: "ms",
        better: "lower",
        samples,
        goal: "< 1500 ms",
      });
      figures.push({
        name: `workspace in Chromium: ${size}, ${label}: most buckets per run in one chart request (one request per panel, ${shown} runs shown)`,
        value: Math.max(...loads.map((l) => l.maxBuckets)),
        baseline: steps,
        baselineName: "points of the run's metric",
        unit: "buckets",
        better: "lower",
        samples,
        goal: "<= 1000",
      });
    }
    return figures;
  } finally {
    await ws.close();
  }
}
