/**
 * The run page's charts in a real browser (Debian's Chromium through playwright-core) against a
 * real server on port 0 (SQLite: the chart queries' backend equality is the store contract's
 * job): the defects people met on the Charts and System tabs, each as a user would see it.
 * y labels that fit and differ, a summary-only key, values on hover and axis titles, smoothing
 * that keeps the raw data, a wall-time switch that never shows the old data on a date axis,
 * readable system charts with a series per core, and a live tab that fetches only new points.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page, Route } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readCredential } from "../../src/protocol/local-config.js";
import type { HistoryRow, RunInfo, RunRecord } from "../../src/protocol/records.js";
import { startServer, type RunningServer } from "../../src/server/index.js";
import { browserOrSkip, launchChromium, postRecords } from "../helpers/browser.js";

const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);
const runBrowser = browserOrSkip("test/web/charts");

/** `lr` decays from 0.0021 to 0.0010: ticks 0.0001 apart, which a 3-decimal label repeats. */
const lrAt = (i: number) => 0.0021 - i * 0.0000275;
const history = (from: number, n: number): HistoryRow[] =>
  Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return { _step: i, _timestamp: T0 + i * 1000, _runtime: i, loss: 1 / (i + 1), lr: lrAt(i) };
  });

describe.skipIf(!runBrowser)("run charts in Chromium", () => {
  let browser: Browser;
  let home: string;
  let savedHome: string | undefined;
  let server: RunningServer;
  let key: string;
  let entity: string;
  let context: BrowserContext;
  let page: Page;

  async function post(id: string, records: RunRecord[]) {
    await postRecords(server.url, key, `${entity}/charts/${id}`, records);
  }
  const info = (id: string, name: string): RunInfo => ({ id, entity, project: "charts", name, notes: null, tags: [], group: null, jobType: null, config: {}, createdAt: T0,
    program: { executable: "/usr/bin/node", args: ["train.js"], cwd: "/w", pid: 1, host: "box", nodeVersion: "v20.11.0", os: "linux", tracksideVersion: "0.1.0" },
  });

  beforeAll(async () => {
    browser = await launchChromium();
    savedHome = process.env.HOME;
    home = mkdtempSync(join(tmpdir(), "trackside-charts-"));
    process.env.HOME = home;
    server = await startServer({ port: 0, dataDir: join(home, ".trackside", "server") });
    const cred = readCredential(server.url)!;
    key = cred.apiKey;
    entity = cred.user;
    await post("done0001", [
      { k: "run", seq: 0, run: info("done0001", "steady-otter-1") },
      { k: "history", seq: 1, rows: history(0, 40) },
      { k: "summary", seq: 41, summary: { loss: 1 / 40, lr: lrAt(39), best_acc: 0.97 } },
      { k: "exit", seq: 42, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: T0 + 60_000 },
    ]);
    // System samples as the daemon sends them: four cores (the fourth in every other sample only:
    // series with different x), and ~23,340 MB of memory available.
    const samples: RunRecord[] = Array.from({ length: 12 }, (_, i) => ({
      k: "system" as const,
      seq: 0 as const,
      at: T0 + i * 10_000,
      values: { "system/cpu": 20 + i, "system/memory.availableMB": 23_300 + i * 7, ...Object.fromEntries([0, 1, 2, 3].filter((c) => c < 3 || i % 2 === 0).map((c) => [`system/cpu.${c}.percent`, 10 * c + i])) },
    }));
    await post("done0001", samples);
    await post("long0001", [{ k: "run", seq: 0, run: info("long0001", "long-lynx-3") }, { k: "history", seq: 1, rows: history(0, 3000) }]);
    await post("live0001", [{ k: "run", seq: 0, run: info("live0001", "live-heron-2") }, { k: "history", seq: 1, rows: history(0, 10) }]);

    context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    page = await context.newPage();
    const link = await fetch(`${server.url}/api/v1/auth/login-links`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify({ next: `/${entity}/charts` }) });
    await page.goto((await link.json()).url as string);
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.close();
    process.env.HOME = savedHome;
    if (home) rmSync(home, { recursive: true, force: true });
  });

  const chart = (title: string) => page.locator(`figure[data-chart="${title}"]`);

  /** Whether anything is drawn in the canvas's leftmost 2 px columns: a y label cut off at the edge. */
  const drawnAtLeftEdge = (title: string) =>
    chart(title)
      .locator("canvas")
      .evaluate((c: HTMLCanvasElement) => {
        const px = c.getContext("2d")!.getImageData(0, 0, 2, c.height).data;
        for (let i = 3; i < px.length; i += 4) if (px[i] > 0) return true;
        return false;
      });

  /** Hovers the middle of a chart's plot and returns its tooltip's lines. */
  async function hover(title: string): Promise<string[]> {
    const over = chart(title).locator(".u-over");
    const box = (await over.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    const tip = chart(title).locator(".chart-tooltip");
    await tip.waitFor({ state: "visible", timeout: 5_000 });
    return tip.locator("div").allInnerTexts();
  }

  it("draws y labels whole and distinct, names both axes, and shows every series' value on hover", async () => {
    await page.goto(`${server.url}/${entity}/charts/runs/done0001?tab=charts`);
    await page.waitForSelector('figure[data-chart="lr"] canvas');
    expect(await drawnAtLeftEdge("lr")).toBe(false);
    const ticks = JSON.parse((await chart("lr").getAttribute("data-y-ticks"))!) as string[];
    expect(ticks.length).toBeGreaterThan(2);
    expect(new Set(ticks).size).toBe(ticks.length); // never "0.002 0.002 0.002 0.001"
    expect(await chart("lr").locator('[data-axis="x"]').innerText()).toBe("Step");
    expect(await chart("lr").locator('[data-axis="y"]').innerText()).toBe("lr");
    const lines = await hover("loss");
    const step = Number(/Step: (\d+)/.exec(lines[0])![1]);
    expect(lines[1]).toBe(`steady-otter-1: ${(1 / (step + 1)).toLocaleString("en", { maximumSignificantDigits: 6 })}`);
  });

  it("shows a summary-only key's value instead of an empty chart", async () => {
    await page.goto(`${server.url}/${entity}/charts/runs/done0001?tab=charts`);
    await page.waitForSelector('figure[data-chart="best_acc"]');
    expect(await chart("best_acc").innerText()).toContain("0.97");
    expect(await chart("best_acc").locator("canvas").count()).toBe(0);
  });

  it("keeps the raw data under the smoothed line", async () => {
    await page.goto(`${server.url}/${entity}/charts/runs/done0001?tab=charts`);
    await page.waitForSelector('figure[data-chart="loss"] canvas');
    await page.locator('input[aria-label="Smoothing"]').fill("0.9");
    // The chart is redrawn smoothed after the input: wait for a tooltip that says so.
    let lines: string[] = [];
    await expect.poll(async () => (lines = await hover("loss"))[1], { timeout: 10_000 }).toMatch(/\(raw /);
    const step = Number(/Step: (\d+)/.exec(lines[0])![1]);
    const m = /^steady-otter-1: ([\d.]+) \(raw ([\d.]+)\)$/.exec(lines[1]);
    expect(m, lines.join(" | ")).not.toBeNull();
    expect(Number(m![2])).toBeCloseTo(1 / (step + 1), 5);
    expect(Number(m![1])).not.toBeCloseTo(1 / (step + 1), 5); // smoothed: above the raw 1/(n+1) of a falling curve
  });

  it("never draws the step data on a wall-time axis while the time data loads", async () => {
    await page.goto(`${server.url}/${entity}/charts/runs/done0001?tab=charts`);
    await page.waitForSelector('figure[data-chart="loss"] canvas');
    // Hold the wall-time answers until the page has been looked at.
    const held: Route[] = [];
    await page.route(/history\/buckets\?.*x=time/, (route) => void held.push(route));
    await page.selectOption('select[aria-label="x axis"]', "time");
    await expect.poll(() => held.length).toBeGreaterThan(0);
    expect(await chart("loss").locator("canvas").count()).toBe(0);
    for (const r of held) await r.continue();
    await page.unroute(/history\/buckets\?.*x=time/);
    await page.waitForSelector('figure[data-chart="loss"] canvas');
    const lines = await hover("loss");
    expect(lines[0]).toMatch(/^Wall time: 2024-05-01 12:00:/);
  });

  it("names system charts, draws one CPU chart with a series per core, and fits 23,340 MB", async () => {
    await page.goto(`${server.url}/${entity}/charts/runs/done0001?tab=system`);
    await page.waitForSelector("figure[data-chart] canvas");
    const titles = await page.locator("figure[data-chart]").evaluateAll((els) => els.map((e) => e.getAttribute("data-chart")));
    expect(titles).toEqual(["CPU utilization (%)", "CPU utilization per core (%)", "Memory available (MB)"]);
    const cores = chart("CPU utilization per core (%)");
    expect(await cores.getAttribute("data-series")).toBe("4");
    expect(await cores.getAttribute("data-points")).toBe(String(12 * 3 + 6));
    expect(await cores.locator(".u-legend").innerText()).toMatch(/cpu 0[\s\S]*cpu 1[\s\S]*cpu 2[\s\S]*cpu 3/);
    const tip = await hover("CPU utilization per core (%)");
    expect(tip[0]).toMatch(/^Wall time: 2024-05-01 12:0\d:\d\d$/);
    expect(tip.slice(1).map((l) => l.split(":")[0])).toEqual(["cpu 0", "cpu 1", "cpu 2", "cpu 3"]);
    expect(await chart("Memory available (MB)").getAttribute("data-points")).toBe("12");
    expect(await drawnAtLeftEdge("Memory available (MB)")).toBe(false);
    const ticks = JSON.parse((await chart("Memory available (MB)").getAttribute("data-y-ticks"))!) as string[];
    for (const t of ticks) expect(t).toMatch(/^23,3\d\d$/);
    // Time labels never overlap: each, at the chart's 12 px font, fits in its share of the width.
    const mem = chart("Memory available (MB)");
    const xTicks = (JSON.parse((await mem.getAttribute("data-x-ticks"))!) as string[]).filter((t) => t !== "");
    const plotWidth = (await mem.locator(".u-over").boundingBox())!.width;
    const widest = await page.evaluate((labels) => {
      const ctx = document.createElement("canvas").getContext("2d")!;
      ctx.font = "12px system-ui, -apple-system, sans-serif";
      return Math.max(...labels.flatMap((l) => l.split("\n")).map((l) => ctx.measureText(l).width));
    }, xTicks);
    expect(xTicks.length).toBeGreaterThan(1);
    expect(widest * xTicks.length).toBeLessThan(plotWidth);
  });

  it("draws a metric against another logged metric as x", async () => {
    await page.goto(`${server.url}/${entity}/charts/runs/done0001?tab=charts`);
    await page.waitForSelector('figure[data-chart="loss"] canvas');
    await page.selectOption('select[aria-label="x axis"]', "key:lr");
    await expect.poll(() => chart("loss").locator('[data-axis="x"]').innerText()).toBe("lr");
    await page.waitForSelector('figure[data-chart="loss"] canvas');
    expect(await chart("loss").getAttribute("data-points")).toBe("40");
    const lines = await hover("loss");
    const lr = Number(/^lr: ([\d.e-]+)/.exec(lines[0])![1]);
    const step = Math.round((0.0021 - lr) / 0.0000275); // lr's step, from how lr was logged
    expect(Number(/: ([\d.]+)$/.exec(lines[1])![1])).toBeCloseTo(1 / (step + 1), 5);
  });

  it("zooms into a long run by dragging, and then draws every point of the range", async () => {
    await page.goto(`${server.url}/${entity}/charts/runs/long0001?tab=charts`);
    await page.waitForSelector('figure[data-chart="loss"] canvas');
    expect(await chart("loss").getAttribute("data-points")).toBe("3000");
    expect(Number(await chart("loss").getAttribute("data-drawn"))).toBeLessThanOrEqual(1000); // merged into buckets
    const box = (await chart("loss").locator(".u-over").boundingBox())!;
    const zoomed = page.waitForRequest((r) => r.url().includes("history/buckets") && r.url().includes("key=loss") && r.url().includes("from="));
    await page.mouse.move(box.x + box.width * 0.4, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.45, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    const url = new URL((await zoomed).url());
    const [from, to] = [Number(url.searchParams.get("from")), Number(url.searchParams.get("to"))];
    const inRange = Math.floor(to) - Math.ceil(from) + 1;
    await expect.poll(() => chart("loss").getAttribute("data-points")).toBe(String(inRange));
    expect(inRange).toBeGreaterThan(50);
    expect(await chart("loss").getAttribute("data-drawn")).toBe(String(inRange)); // every point, none merged
  });

  it("fetches only the new points of a live run: one request per chart for a new point", async () => {
    await page.goto(`${server.url}/${entity}/charts/runs/live0001?tab=charts`);
    await page.waitForSelector('figure[data-chart="loss"] canvas');
    await page.waitForSelector('figure[data-chart="lr"] canvas');
    const charts = await page.locator("figure[data-chart] canvas").count();
    const asked: string[] = [];
    page.on("request", (r) => {
      if (r.url().includes("/history")) asked.push(r.url());
    });
    await post("live0001", [{ k: "history", seq: 11, rows: history(10, 1) }]);
    await expect.poll(() => chart("loss").getAttribute("data-points"), { timeout: 10_000 }).toBe("11");
    await expect.poll(() => chart("lr").getAttribute("data-points"), { timeout: 10_000 }).toBe("11");
    expect(asked.length, asked.join("\n")).toBeLessThanOrEqual(charts);
    for (const url of asked) expect(Number(new URL(url).searchParams.get("from"))).toBeGreaterThan(9); // after step 9, the last one held
  });
});
