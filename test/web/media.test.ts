/**
 * Media in the web app (issue 19, point 2), in a real browser (Debian's Chromium through
 * playwright-core) against a real server on port 0: runs seeded by posting media records and
 * putting their PNGs through the blob routes, as the daemon uploads them. The run page's Media
 * tab shows an image panel (a list of images side by side, captions, a step slider whose images
 * are the pixels logged at that step), a histogram as a heat map over the steps beside the chosen
 * step's distribution (the counts logged), and a table that sorts, filters and shows its images;
 * the project workspace shows each media key once with the shown runs side by side at one step.
 * Screenshots go to test-output/screenshots/.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readCredential } from "../../src/protocol/local-config.js";
import type { ImageRef, MediaValue } from "../../src/protocol/media.js";
import type { RunInfo, RunRecord } from "../../src/protocol/records.js";
import { startServer, type RunningServer } from "../../src/server/index.js";
import { browserOrSkip, launchChromium, postRecords, SHOTS } from "../helpers/browser.js";
import { rgbPixels, seedImage } from "../helpers/media-seed.js";

const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);
const runBrowser = browserOrSkip("test/web/media");
const STEPS = 10;
const W = 8;
const H = 6;

/** A run's image `i` at `step`: a gradient whose colour says the run, the step and the index. */
const pixelsOf = (run: number, step: number, i: number) => rgbPixels(W, H, (x, y) => [(step * 25 + x * 3) & 255, (i * 120 + y * 7 + run * 60) & 255, (x * y * 5 + step) & 255]);

/** mulberry32: the same "random" normals on every run of the test. */
function normals(n: number, seed: number, mean: number, sd: number): number[] {
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: n }, () => mean + sd * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()));
}

/** 64 equal bins from the smallest value to the largest, as trackside.Histogram makes them. */
function histogram(values: number[], bins = 64): { type: "histogram"; bins: number[]; counts: number[] } {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + ((hi - lo) * i) / bins);
  const counts = new Array<number>(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.floor(((v - lo) / (hi - lo)) * bins))]++;
  return { type: "histogram", bins: edges, counts };
}

let browser: Browser;
let home: string;
let savedHome: string | undefined;
let server: RunningServer;
let page: Page;
let key: string;
let entity: string;

function info(id: string, name: string, project: string, createdAt: number): RunInfo {
  return {
    id, entity, project, name, notes: null, tags: [], group: null, jobType: null, config: {}, createdAt,
    program: { executable: "/usr/local/bin/node", args: ["train.js"], cwd: "/w", pid: 1, host: "box", nodeVersion: "v20.11.0", os: "linux", tracksideVersion: "0.1.0" },
  };
}

/** What a run logged, by step, to compare the page with. */
interface Seeded {
  hists: { type: "histogram"; bins: number[]; counts: number[] }[];
  table: { columns: string[]; rows: (string | number | ImageRef)[][] };
}

/**
 * Run `project/id` (index `n`): at each of 10 steps a loss, two images under `samples/input`
 * (at every `every`th step), a histogram of 10,000 normals under `weights` (wider each step),
 * and the 3-row table `preds` with an image column (at the last step).
 */
async function seedRun(project: string, id: string, name: string, n: number, opts: { every?: number; createdAt?: number } = {}): Promise<Seeded> {
  const createdAt = opts.createdAt ?? T0;
  const records: RunRecord[] = [{ k: "run", seq: 0, run: info(id, name, project, createdAt) }];
  let seq = 1;
  const hists: Seeded["hists"] = [];
  for (let step = 0; step < STEPS; step++) {
    const items: ImageRef[] = [];
    if (step % (opts.every ?? 1) === 0) for (let i = 0; i < 2; i++) items.push(await seedImage(server.url, key, entity, project, W, H, pixelsOf(n, step, i), `sample ${step}-${i}`));
    const h = histogram(normals(10_000, 1000 * n + step, 0, 1 + step / 5));
    hists.push(h);
    records.push({ k: "history", seq: seq++, rows: [{ _step: step, _timestamp: T0 + step * 1000, _runtime: step, loss: 1 / (step + 1) }] });
    const media: [string, MediaValue][] = [...(items.length ? [["samples/input", { type: "images", items }] as [string, MediaValue]] : []), ["weights", h]];
    for (const [k, value] of media) records.push({ k: "media", seq: seq++, step, key: k, value });
  }
  const thumbs = await Promise.all([0, 1, 2].map((i) => seedImage(server.url, key, entity, project, W, H, pixelsOf(n, 99, i), `pred ${i}`)));
  const table: Seeded["table"] = {
    columns: ["id", "image", "label", "score"],
    rows: [
      [1, thumbs[0], "cat", 0.25],
      [2, thumbs[1], "dog", 0.75],
      [3, thumbs[2], "bird", 0.5],
    ],
  };
  records.push({ k: "media", seq: seq++, step: STEPS - 1, key: "preds", value: { type: "table", ...table } });
  records.push({ k: "exit", seq: seq++, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: createdAt + 60_000 });
  await postRecords(server.url, key, `${entity}/${project}/${id}`, records);
  return { hists, table };
}

/** The pixels (RGB) of each loaded image the locator finds, as the browser decoded them. */
const shownPixels = (selector: string) =>
  page.locator(selector).evaluateAll(async (imgs) =>
    Promise.all(
      (imgs as HTMLImageElement[]).map(async (img) => {
        await img.decode();
        const c = document.createElement("canvas");
        c.width = img.naturalWidth;
        c.height = img.naturalHeight;
        const g = c.getContext("2d")!;
        g.drawImage(img, 0, 0);
        const rgba = g.getImageData(0, 0, c.width, c.height).data;
        return { width: c.width, height: c.height, rgb: Array.from(rgba).filter((_, i) => i % 4 !== 3) };
      }),
    ),
  );

beforeAll(async () => {
  if (!runBrowser) return;
  mkdirSync(SHOTS, { recursive: true });
  savedHome = process.env.HOME;
  home = mkdtempSync(join(tmpdir(), "trackside-media-web-"));
  process.env.HOME = home;
  server = await startServer({ port: 0, dataDir: join(home, ".trackside", "server") });
  const cred = readCredential(server.url)!;
  key = cred.apiKey;
  entity = cred.user;
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1400, height: 1100 } });
  page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const link = await fetch(`${server.url}/api/v1/auth/login-links`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify({ next: `/${entity}` }) });
  await page.goto((await link.json()).url as string);
  await page.waitForURL(new RegExp(`/${entity}$`));
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  process.env.HOME = savedHome;
  if (home) rmSync(home, { recursive: true, force: true });
});

describe.skipIf(!runBrowser)("media on the run page", () => {
  let seeded: Seeded;
  const panel = (k: string) => page.locator(`[data-media="${k}"]`);

  beforeAll(async () => {
    seeded = await seedRun("vision", "media001", "pixel-pony-1", 0);
    await page.goto(`${server.url}/${entity}/vision/runs/media001?tab=media`);
    await page.locator('[data-media][data-ready="true"]').nth(2).waitFor();
  });

  it("shows one panel per media key, with its type", async () => {
    const panels = await page.locator("[data-media]").evaluateAll((els) => els.map((e) => [e.getAttribute("data-media"), e.getAttribute("data-type")]));
    expect(panels).toEqual([
      ["preds", "table"],
      ["samples/input", "images"],
      ["weights", "histogram"],
    ]);
  });

  it("shows the last step's images side by side with their captions, decoded to the pixels logged", async () => {
    const p = panel("samples/input");
    expect(await p.locator("[data-step]").getAttribute("data-step")).toBe(String(STEPS - 1));
    expect(await p.locator("figure.media-image figcaption").allTextContents()).toEqual(["sample 9-0", "sample 9-1"]);
    const shown = await shownPixels('[data-media="samples/input"] figure.media-image img');
    expect(shown).toEqual([0, 1].map((i) => ({ width: W, height: H, rgb: Array.from(pixelsOf(0, STEPS - 1, i)) })));
    // Side by side: the second image's left edge is right of the first's right edge, on one row.
    const [a, b] = await p.locator("figure.media-image").evaluateAll((els) => els.map((e) => e.getBoundingClientRect().toJSON() as DOMRect));
    expect(b.left).toBeGreaterThanOrEqual(a.right);
    expect(b.top).toBe(a.top);
    await page.screenshot({ path: join(SHOTS, "media-run-page.png"), fullPage: true });
  });

  it("opens an image at full size in a new tab by its link, where the browser shows it instead of downloading it", async () => {
    const link = panel("samples/input").locator("figure.media-image a").first();
    const [tab] = await Promise.all([page.context().waitForEvent("page"), link.click()]);
    try {
      await tab.waitForLoadState();
      expect(await tab.evaluate(() => document.contentType)).toBe("image/png");
      const img = tab.locator("img");
      expect(await img.evaluate((i: HTMLImageElement) => [i.naturalWidth, i.naturalHeight])).toEqual([W, H]);
    } finally {
      await tab.close();
    }
  });

  it("moves through the steps with its slider: each step shows that step's images", async () => {
    const p = panel("samples/input");
    const slider = p.getByRole("slider", { name: "Step of samples/input" });
    await slider.focus();
    await page.keyboard.press("Home");
    await p.locator('[data-step="0"]').waitFor();
    expect(await p.locator("figure.media-image figcaption").allTextContents()).toEqual(["sample 0-0", "sample 0-1"]);
    expect((await shownPixels('[data-media="samples/input"] figure.media-image img')).map((s) => s.rgb)).toEqual([0, 1].map((i) => Array.from(pixelsOf(0, 0, i))));
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("ArrowRight");
    await p.locator('[data-step="2"]').waitFor();
    expect(await p.locator("figure.media-image figcaption").allTextContents()).toEqual(["sample 2-0", "sample 2-1"]);
    await p.getByRole("button", { name: "Previous step of samples/input" }).click();
    await p.locator('[data-step="1"]').waitFor();
    expect((await shownPixels('[data-media="samples/input"] figure.media-image img')).map((s) => s.rgb)).toEqual([0, 1].map((i) => Array.from(pixelsOf(0, 1, i))));
  });

  it("draws the histogram over all steps as a heat map, and the chosen step's distribution as logged", async () => {
    const p = panel("weights");
    const heat = p.locator("[data-heatmap]");
    expect(await heat.getAttribute("data-steps")).toBe(String(STEPS));
    // The heat map's value range spans every step's bins (the last, widest step sets it).
    const [lo, hi] = JSON.parse((await heat.getAttribute("data-range"))!) as [number, number];
    expect(lo).toBe(Math.min(...seeded.hists.map((h) => h.bins[0])));
    expect(hi).toBe(Math.max(...seeded.hists.map((h) => h.bins[h.bins.length - 1])));
    // The canvas is drawn: some pixel is darker than the empty background.
    const dark = await heat.locator("canvas").evaluate((c: HTMLCanvasElement) => {
      const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] < 128) n++;
      return n;
    });
    expect(dark).toBeGreaterThan(100);
    const bars = p.locator("[data-histogram]");
    expect(await bars.getAttribute("data-step")).toBe(String(STEPS - 1));
    expect(JSON.parse((await bars.getAttribute("data-counts"))!)).toEqual(seeded.hists[STEPS - 1].counts);
    expect(await bars.locator("rect.bar").count()).toBe(64);
    expect(await bars.textContent()).toContain("10,000 values");
    // The slider picks another step's distribution.
    await p.getByRole("button", { name: "Previous step of weights" }).click();
    await p.locator('[data-histogram][data-step="8"]').waitFor();
    expect(JSON.parse((await bars.getAttribute("data-counts"))!)).toEqual(seeded.hists[8].counts);
    expect(JSON.parse((await bars.getAttribute("data-bins"))!)).toEqual(seeded.hists[8].bins);
  });

  it("shows the table with its images inline; sorts by a column and filters rows", async () => {
    const p = panel("preds");
    const firstColumn = () => p.locator("tbody tr td:first-child").allTextContents();
    expect(await p.locator("thead th").allTextContents()).toEqual(["id", "image", "label", "score"]);
    expect(await firstColumn()).toEqual(["1", "2", "3"]);
    const thumbs = await shownPixels('[data-media="preds"] tbody img');
    expect(thumbs.map((t) => t.rgb)).toEqual([0, 1, 2].map((i) => Array.from(pixelsOf(0, 99, i))));
    await p.getByRole("columnheader", { name: "score" }).click();
    expect(await firstColumn()).toEqual(["1", "3", "2"]);
    await p.getByRole("columnheader", { name: /score/ }).click();
    expect(await firstColumn()).toEqual(["2", "3", "1"]);
    await p.getByRole("columnheader", { name: /label/ }).click();
    expect(await firstColumn()).toEqual(["3", "1", "2"]);
    await p.getByRole("searchbox", { name: "Filter preds" }).fill("dog");
    expect(await firstColumn()).toEqual(["2"]);
    expect(await p.locator("[data-rows]").textContent()).toBe("1 of 3 rows");
    await p.getByRole("searchbox", { name: "Filter preds" }).fill("pred 2");
    expect(await firstColumn()).toEqual(["3"]);
  });
});

describe.skipIf(!runBrowser)("media of a running run", () => {
  it("shows a step logged while the page is open, reading only from the last step it held on", async () => {
    const path = `${entity}/vision/live0001`;
    const image = (step: number) => seedImage(server.url, key, entity, "vision", W, H, pixelsOf(3, step, 0), `live ${step}`);
    const first: RunRecord[] = [
      { k: "run", seq: 0, run: info("live0001", "live-lynx-3", "vision", T0) },
      { k: "media", seq: 1, step: 0, key: "samples", value: await image(0) },
      { k: "media", seq: 2, step: 1, key: "samples", value: await image(1) },
    ];
    await postRecords(server.url, key, path, first);
    const asked: string[] = [];
    page.on("request", (r) => r.url().includes("/live0001/media/values") && asked.push(new URL(r.url()).search));
    await page.goto(`${server.url}/${entity}/vision/runs/live0001?tab=media`);
    const p = page.locator('[data-media="samples"]');
    await p.locator('[data-step="1"]').waitFor();
    const more: RunRecord[] = [{ k: "media", seq: 3, step: 2, key: "samples", value: await image(2) }];
    await postRecords(server.url, key, path, more);
    // The panel was on the newest step: it moves on to the new one by itself.
    await p.locator('[data-step="2"]').waitFor();
    expect(await p.locator("figure.media-image figcaption").textContent()).toBe("live 2");
    expect((await shownPixels('[data-media="samples"] figure.media-image img'))[0].rgb).toEqual(Array.from(pixelsOf(3, 2, 0)));
    expect(await p.locator(".steps-of").textContent()).toBe("(3 of 3)");
    expect(asked.length).toBeGreaterThanOrEqual(2);
    expect(new URLSearchParams(asked[0]).get("fromStep")).toBeNull();
    expect(new URLSearchParams(asked[asked.length - 1]).get("fromStep")).toBe("1");
  });
});

describe.skipIf(!runBrowser)("media in the project workspace", () => {
  const runs: Seeded[] = [];
  const panel = (k: string) => page.locator(`[data-media="${k}"]`);
  const column = (k: string, run: string) => panel(k).locator(`[data-run="${run}"]`);
  /** The step each run's column of a panel shows, by run name. */
  const stepsShown = (k: string) => panel(k).locator("[data-run]").evaluateAll((els) => els.map((e) => [e.getAttribute("data-run"), Number(e.getAttribute("data-step"))]));

  beforeAll(async () => {
    // The second logs its images every other step: at an odd step it shows the one before.
    runs.push(await seedRun("compare", "cmp00001", "amber-ant-1", 1, { createdAt: T0 }));
    runs.push(await seedRun("compare", "cmp00002", "brisk-bee-2", 2, { every: 2, createdAt: T0 + 1000 }));
    await page.goto(`${server.url}/${entity}/compare`);
    await page.locator('[data-section="media"] [data-media][data-ready="true"]').nth(2).waitFor();
  });

  it("shows each media key once, with the shown runs side by side", async () => {
    expect(await page.locator('[data-section="media"] [data-media]').evaluateAll((els) => els.map((e) => e.getAttribute("data-media")))).toEqual(["preds", "samples/input", "weights"]);
    const names = await panel("samples/input").locator("[data-run]").evaluateAll((els) => els.map((e) => e.getAttribute("data-run")));
    expect(names.sort()).toEqual(["amber-ant-1", "brisk-bee-2"]);
    const [a, b] = await panel("samples/input").locator("[data-run]").evaluateAll((els) => els.map((e) => e.getBoundingClientRect().toJSON() as DOMRect));
    expect(b.top).toBe(a.top);
    expect(Math.max(a.left, b.left)).toBeGreaterThanOrEqual(Math.min(a.right, b.right));
    await page.locator('[data-section="media"]').screenshot({ path: join(SHOTS, "media-workspace.png") });
  });

  it("moves every run to the same step with one slider; a run without that step shows its last before it", async () => {
    const k = "samples/input";
    const pixels = async (run: string) => (await shownPixels(`[data-media="${k}"] [data-run="${run}"] figure.media-image img`)).map((s) => s.rgb);
    expect(Object.fromEntries(await stepsShown(k))).toEqual({ "amber-ant-1": 9, "brisk-bee-2": 8 });
    expect(await pixels("amber-ant-1")).toEqual([0, 1].map((i) => Array.from(pixelsOf(1, 9, i))));
    expect(await pixels("brisk-bee-2")).toEqual([0, 1].map((i) => Array.from(pixelsOf(2, 8, i))));
    expect(await column(k, "brisk-bee-2").locator("h4").textContent()).toContain("step 8");
    await panel(k).getByRole("slider", { name: `Step of ${k}` }).focus();
    await page.keyboard.press("Home");
    await panel(k).locator('[data-step="0"]').first().waitFor();
    expect(Object.fromEntries(await stepsShown(k))).toEqual({ "amber-ant-1": 0, "brisk-bee-2": 0 });
    expect(await pixels("brisk-bee-2")).toEqual([0, 1].map((i) => Array.from(pixelsOf(2, 0, i))));
    await page.keyboard.press("ArrowRight");
    await column(k, "amber-ant-1").and(page.locator('[data-step="1"]')).waitFor();
    expect(Object.fromEntries(await stepsShown(k))).toEqual({ "amber-ant-1": 1, "brisk-bee-2": 0 });
    expect(await pixels("amber-ant-1")).toEqual([0, 1].map((i) => Array.from(pixelsOf(1, 1, i))));
  });

  it("shows each run's distribution of a histogram at the slider's step, and each run's table", async () => {
    const counts = (run: string) => column("weights", run).locator("[data-histogram]").getAttribute("data-counts").then((c) => JSON.parse(c!) as number[]);
    expect(await counts("amber-ant-1")).toEqual(runs[0].hists[9].counts);
    expect(await counts("brisk-bee-2")).toEqual(runs[1].hists[9].counts);
    // Side by side on one value axis: both runs' bars span the wider of the two ranges.
    const axis = (run: string) => column("weights", run).locator("[data-histogram] .x-ticks span").allTextContents();
    const [a, b] = [await axis("amber-ant-1"), await axis("brisk-bee-2")];
    expect(a[0]).toBe(b[0]);
    expect(a[2]).toBe(b[2]);
    const lo = Math.min(runs[0].hists[9].bins[0], runs[1].hists[9].bins[0]);
    expect(a[0]).toBe(String(Number(lo.toPrecision(3))));
    await panel("weights").getByRole("button", { name: "Previous step of weights" }).click();
    await column("weights", "amber-ant-1").and(page.locator('[data-step="8"]')).waitFor();
    expect(await counts("amber-ant-1")).toEqual(runs[0].hists[8].counts);
    expect(await counts("brisk-bee-2")).toEqual(runs[1].hists[8].counts);
    expect(await column("preds", "brisk-bee-2").locator("tbody tr td:nth-child(3)").allTextContents()).toEqual(["cat", "dog", "bird"]);
    expect((await shownPixels('[data-media="preds"] [data-run="brisk-bee-2"] tbody img')).map((t) => t.rgb)).toEqual([0, 1, 2].map((i) => Array.from(pixelsOf(2, 99, i))));
  });
});
