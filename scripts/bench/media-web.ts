/**
 * The web app's image panel on a long run (issue 19 point 6), in Debian's Chromium: a run that
 * logged a 256 x 256 RGB image and a loss at each of `steps` steps through a real client and
 * daemon (media-probe.ts) to a `trackside server` child on loopback.
 *
 * - Navigation to the run page's Media tab until the panel's image has loaded (its `load` event),
 *   on the page's own clock (`performance.now()` starts at navigation), each time in a fresh
 *   browser context: no answer and no image cached, the app's files loaded by the sign-in page
 *   just before (as on any page after the first of a visit). Baseline, same run: the same page's Charts tab until the loss chart holds its points
 *   (`data-drawn`, seen by a MutationObserver): the same navigation, sign-in state, run and
 *   server, one panel of one key of the same `steps` steps, so what is left is what the image
 *   panel costs over a chart (its steps' references, one image's bytes). Beside it the same Media
 *   tab of a run that logged one image: what the number of steps costs.
 * - The panel's read of the steps (`GET .../media/values`, from Node.js) beside the Charts tab's
 *   first read of the same run (`GET .../history?limit=1000`): the server's share of the above.
 * - Moving the slider to another step until that step's image has loaded. Baseline, same page:
 *   loading another step's image (not seen before, so not cached) with `new Image()` to its
 *   `load` event: the floor of showing it, one request and decode; the rest is the app's.
 *
 * Alone: `npm run build && node dist/scripts/bench/run.js --one benchMediaWeb '[1000,3]'`.
 */
import { existsSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import type { MediaValuesView } from "../../src/protocol/media.js";
import { checkStored } from "./media.js";
import { benchRoot, clientEnv, reapDaemons, runProbe, startServerProcess, type BenchServer } from "./procs.js";
import type { Timed } from "./media-probe.js";
import { median, type Figure } from "./stats.js";
import { CHROMIUM } from "./workspace-browser.js";

const probe = fileURLToPath(new URL("./media-probe.js", import.meta.url));
const KEY = "samples/image";

/** A run of `steps` steps logging an image and a loss (checked on the server); its path. */
async function logRun(server: BenchServer, root: string, sockets: string[], steps: number, seed: number): Promise<string> {
  const { env, socketDir } = clientEnv(server, root);
  sockets.push(socketDir);
  const r = await runProbe<{ media: Timed }>(probe, ["image", String(steps), String(seed)], env);
  await checkStored(server, r.media, KEY, steps);
  return r.media.path;
}

/** Records, on the page's clock, when a media panel's image first loaded and when the loss chart first held points. */
function watch(): void {
  const w = window as unknown as { __bench: { image?: number; chart?: number } };
  w.__bench = {};
  document.addEventListener(
    "load",
    (e) => {
      const t = e.target;
      if (w.__bench.image === undefined && t instanceof HTMLImageElement && t.closest("[data-media]") && t.naturalWidth > 0) w.__bench.image = performance.now();
    },
    true,
  );
  new MutationObserver(() => {
    if (w.__bench.chart !== undefined) return;
    const chart = document.querySelector('figure.chart[data-chart="loss"]');
    if (chart && Number(chart.getAttribute("data-drawn")) > 0) w.__bench.chart = performance.now();
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-drawn"] });
}

/** A signed-in page in a fresh browser context (an empty cache), watching as above. */
async function signedIn(browser: Browser, server: BenchServer): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  await context.addInitScript(watch);
  const page = await context.newPage();
  const link = await fetch(`${server.url}/api/v1/auth/login-links`, { method: "POST", headers: { authorization: `Bearer ${server.apiKey}`, "content-type": "application/json" }, body: JSON.stringify({ next: "/" }) });
  if (!link.ok) throw new Error(`login link: ${link.status} ${await link.text()}`);
  await page.goto(((await link.json()) as { url: string }).url);
  await page.waitForLoadState("load");
  return page;
}

/** The run page (`/:entity/:project/runs/:id`) at a tab. */
function runUrl(server: BenchServer, path: string, tab: string): string {
  const [entity, project, id] = path.split("/").map(encodeURIComponent);
  return `${server.url}/${entity}/${project}/runs/${id}?tab=${tab}`;
}

/** Navigates a fresh context's page to `url`; ms from navigation until `what` happened. The page stays open for more. */
async function load(browser: Browser, server: BenchServer, url: string, what: "image" | "chart"): Promise<{ ms: number; page: Page }> {
  const page = await signedIn(browser, server);
  await page.goto(url);
  const ms = (await (await page.waitForFunction((w) => (window as unknown as { __bench: Record<string, number | undefined> }).__bench[w], what, { timeout: 60_000 })).jsonValue()) as number;
  return { ms, page };
}

/** Moves the panel's slider to index `i`; ms until the image of the step it shows has loaded. */
function moveSlider(page: Page, i: number): Promise<number> {
  return page.evaluate(
    ({ key, i }) =>
      new Promise<number>((resolve, reject) => {
        const panel = document.querySelector(`[data-media="${key}"]`)!;
        const input = panel.querySelector<HTMLInputElement>('input[type="range"]')!;
        const shown = panel.querySelector("[data-step]")!.getAttribute("data-step");
        const t0 = performance.now();
        input.value = String(i);
        input.dispatchEvent(new Event("input", { bubbles: true }));
        const deadline = t0 + 60_000;
        const check = () => {
          const step = panel.querySelector("[data-step]")!.getAttribute("data-step");
          const img = step !== shown ? panel.querySelector<HTMLImageElement>(`img[alt="${key} at step ${step}"]`) : null;
          if (img) {
            if (img.complete && img.naturalWidth > 0) resolve(performance.now() - t0);
            else img.addEventListener("load", () => resolve(performance.now() - t0), { once: true });
          } else if (performance.now() > deadline) reject(new Error(`the slider at ${i} showed no image of a new step`));
          else requestAnimationFrame(check);
        };
        check();
      }),
    { key: KEY, i },
  );
}

/** Loads `url` as an image in the page, alone; ms to its `load` event. */
function loadImage(page: Page, url: string): Promise<number> {
  return page.evaluate(
    (url) =>
      new Promise<number>((resolve, reject) => {
        const img = new Image();
        const t0 = performance.now();
        img.onload = () => resolve(performance.now() - t0);
        img.onerror = () => reject(new Error(`image ${url} did not load`));
        img.src = url;
      }),
    url,
  );
}

export async function benchMediaWeb(steps: number, samples: number): Promise<Figure[]> {
  if (!existsSync(CHROMIUM)) {
    process.stderr.write(`no ${CHROMIUM}: the media web benchmark is left out\n`);
    return [];
  }
  const root = benchRoot("media-web");
  const sockets: string[] = [];
  const server = await startServerProcess(root);
  let browser: Browser | null = null;
  try {
    const long = await logRun(server, root, sockets, steps, 1);
    const one = await logRun(server, root, sockets, 1, 2);
    const valuesPath = `/api/v1/runs/${long.split("/").map(encodeURIComponent).join("/")}/media/values?key=${encodeURIComponent(KEY)}`;
    // The panel's read beside the Charts tab's first read (the run's first 1,000 history rows), from here.
    const get = async (path: string) => {
      const t0 = performance.now();
      const res = await fetch(new URL(path, server.url), { headers: { authorization: `Bearer ${server.apiKey}` } });
      const bytes = (await res.arrayBuffer()).byteLength;
      if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
      return { ms: performance.now() - t0, bytes };
    };
    const historyPath = `/api/v1/runs/${long.split("/").map(encodeURIComponent).join("/")}/history?limit=1000`;
    await get(valuesPath);
    await get(historyPath);
    const valuesGet: number[] = [];
    const historyGet: number[] = [];
    let valuesBytes = 0;
    for (let i = 0; i < samples; i++) {
      const v = await get(valuesPath);
      valuesBytes = v.bytes;
      valuesGet.push(v.ms);
      historyGet.push((await get(historyPath)).ms);
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
    });
    const b = browser;
    const timed = async (url: string, what: "image" | "chart") => {
      const { ms, page } = await load(b, server, url, what);
      await page.context().close();
      return ms;
    };
    const media = runUrl(server, long, "media");
    const charts = runUrl(server, long, "charts");
    const mediaOne = runUrl(server, one, "media");
    // Warm-up, not timed: the server's caches (SQLite pages, the app's files) as after any first visit.
    await timed(media, "image");
    await timed(charts, "chart");
    await timed(mediaOne, "image");
    const mediaMs: number[] = [];
    const chartsMs: number[] = [];
    const oneMs: number[] = [];
    for (let i = 0; i < samples; i++) {
      mediaMs.push(await timed(media, "image"));
      chartsMs.push(await timed(charts, "chart"));
      oneMs.push(await timed(mediaOne, "image"));
    }
    // The slider: from the newest step to others spread over the run, each beside loading another
    // step's image alone in the same page (a step the slider never shows: not in the cache).
    const { page } = await load(b, server, media, "image");
    const entries = (await page.evaluate((p) => fetch(p).then((r) => r.json()), valuesPath)) as MediaValuesView;
    const urlAt = (i: number) => {
      const v = entries.entries[i].value;
      if (v.type !== "image") throw new Error(`step ${entries.entries[i].step} holds a ${v.type}`);
      return v.url;
    };
    const sliderMs: number[] = [];
    const aloneMs: number[] = [];
    for (let i = 0; i < samples; i++) {
      const at = Math.floor(((i + 1) * (steps - 1)) / (samples + 2));
      sliderMs.push(await moveSlider(page, at));
      aloneMs.push(await loadImage(page, urlAt(Math.min(steps - 2, at + 1))));
    }
    await page.context().close();
    const what = `image panel of a ${steps.toLocaleString("en")}-step run (256x256 PNG per step; ${Math.round(valuesBytes / 1024)} KiB of references)`;
    return [
      { name: `media web in Chromium: ${what}, navigation to the Media tab until the image has loaded`, value: median(mediaMs), baseline: median(chartsMs), baselineName: "the same run's Charts tab until the loss chart holds its points", unit: "ms", better: "lower", samples },
      { name: `media web in Chromium: ${what}, navigation to the Media tab, beside a run of one image`, value: median(mediaMs), baseline: median(oneMs), baselineName: "the Media tab of a run that logged one image", unit: "ms", better: "lower", samples },
      { name: `media web: ${what}, GET of its ${Math.min(steps, 1000).toLocaleString("en")} steps' values (the panel's read), over HTTP on loopback`, value: median(valuesGet), baseline: median(historyGet), baselineName: "GET of the same run's first 1,000 history rows (the Charts tab's first read)", unit: "ms", better: "lower", samples },
      { name: `media web in Chromium: ${what}, slider moved to another step until its image has loaded`, value: median(sliderMs), baseline: median(aloneMs), baselineName: "another step's image loaded alone in the page (new Image())", unit: "ms", better: "lower", samples },
    ];
  } finally {
    await browser?.close();
    await reapDaemons(sockets);
    await server.close();
    rmSync(root, { recursive: true, force: true });
  }
}
