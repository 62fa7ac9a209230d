/**
 * The project workspace in a real browser (Debian's Chromium through playwright-core) against a
 * real server on port 0 (SQLite): a project of three runs logging `loss` and `acc` opens to
 * panels that draw every run, named in the legend, with nothing selected; grouping by a config
 * key draws each group's mean with its min-max band, equal to the logged data's at each step; the
 * workspace lives in the URL and a saved view survives a reload and opens in a fresh browser
 * session; a point logged by a running run appears without a reload, for at most one chart
 * request per visible panel.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { readCredential } from "../../src/protocol/local-config.js";
import type { HistoryRow, RunInfo, RunRecord } from "../../src/protocol/records.js";
import { startServer, type RunningServer } from "../../src/server/index.js";
import { describeBackends } from "../helpers/backends.js";
import { browserOrSkip, launchChromium, postRecords, SHOTS } from "../helpers/browser.js";

const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);
const runBrowser = browserOrSkip("test/web/workspace");

/** Each run's logged values: different per run, so that a group's mean, min and max differ. */
const RUNS = [
  { id: "wsrun001", name: "adam-one", opt: "adam", scale: 1 },
  { id: "wsrun002", name: "adam-two", opt: "adam", scale: 3 },
  { id: "wsrun003", name: "sgd-one", opt: "sgd", scale: 2 },
];
const loss = (scale: number, step: number) => scale / (step + 1);
const rows = (scale: number, from: number, n: number): HistoryRow[] =>
  Array.from({ length: n }, (_, i) => ({ _step: from + i, _timestamp: T0 + (from + i) * 1000, _runtime: from + i, loss: loss(scale, from + i), acc: (from + i) / (100 * scale) }));

let browser: Browser;
beforeAll(async () => {
  if (!runBrowser) return;
  mkdirSync(SHOTS, { recursive: true });
  browser = await launchChromium();
});
afterAll(() => browser?.close());

describeBackends(
  "project workspace",
  (backend) => {
    let home: string;
    let savedHome: string | undefined;
    let server: RunningServer;
    let key: string;
    let entity: string;
    let context: BrowserContext;
    let page: Page;

    async function post(path: string, records: RunRecord[]) {
      await postRecords(server.url, key, path, records);
    }
    const info = (id: string, name: string, createdAt: number, config: Record<string, unknown>): RunInfo => ({
      id, entity, project: "ws", name, notes: null, tags: [], group: null, jobType: null, config, createdAt,
      program: { executable: "/usr/bin/node", args: ["train.js"], cwd: "/w", pid: 1, host: "h", nodeVersion: "v20.11.0", os: "linux", tracksideVersion: "0.1.0" },
    });

    /** A fresh signed-in browser session (context) on `next`. */
    async function signIn(next: string): Promise<{ context: BrowserContext; page: Page }> {
      const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
      const page = await context.newPage();
      const link = await fetch(`${server.url}/api/v1/auth/login-links`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify({ next }) });
      await page.goto((await link.json()).url as string);
      return { context, page };
    }

    /** The series a panel draws, as its hidden data list holds them (the values as a property of each item: panel.tsx). */
    const seriesOf = (panel: string) =>
      page.locator(`[data-panel="${panel}"] ul.series-data li`).evaluateAll((lis) =>
        lis.map((li) => {
          const v = (li as unknown as { seriesValues: { xs: number[]; ys: number[]; min: number[] | null; max: number[] | null } }).seriesValues;
          return { label: li.getAttribute("data-series")!, xs: v.xs, ys: v.ys, min: v.min, max: v.max };
        }),
      );

    beforeAll(async () => {
      savedHome = process.env.HOME;
      home = mkdtempSync(join(tmpdir(), "trackside-ws-"));
      process.env.HOME = home;
      server = await startServer({ port: 0, dataDir: join(home, ".trackside", "server"), database: backend.database() });
      const cred = readCredential(server.url)!;
      key = cred.apiKey;
      entity = cred.user;
      for (const [i, r] of RUNS.entries()) {
        await post(`${entity}/ws/${r.id}`, [
          { k: "run", seq: 0, run: info(r.id, r.name, T0 + i * 1000, { opt: r.opt, lr: 0.001 * (i + 1), _internal: "x" }) },
          { k: "history", seq: 1, rows: rows(r.scale, 0, 20) },
          { k: "summary", seq: 21, summary: { loss: loss(r.scale, 19), acc: 19 / (100 * r.scale), best: 0.5 + i / 10, _wandb: { runtime: 60 } } },
          { k: "exit", seq: 22, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: T0 + 60_000 },
        ]);
      }
      ({ context, page } = await signIn(`/${entity}/ws`));
    });

    afterAll(async () => {
      await context?.close();
      await server?.close();
      process.env.HOME = savedHome;
      rmSync(home, { recursive: true, force: true });
    });

    it("opens to a workspace whose loss panel draws every run, named in its legend, with nothing selected", async () => {
      await page.waitForSelector('[data-panel="loss"] canvas');
      await expect.poll(async () => (await seriesOf("loss")).map((s) => s.label).sort()).toEqual(["adam-one", "adam-two", "sgd-one"]);
      // The chart draws after the data came (an effect): wait for its legend to name the three.
      const legend = async () => (await page.locator('[data-panel="loss"] .u-legend .u-series th').allInnerTexts()).map((t) => t.trim());
      await expect
        .poll(async () => {
          const l = await legend();
          return RUNS.map((r) => r.name).filter((n) => !l.includes(n));
        })
        .toEqual([]);
      await expect.poll(() => page.locator('[data-panel="acc"] canvas').count()).toBe(1);
      // Each run keeps its colour in every panel.
      const colors = async (p: string) => Object.fromEntries(await page.locator(`[data-panel="${p}"] ul.series-data li`).evaluateAll((lis) => lis.map((li) => [li.getAttribute("data-series"), li.getAttribute("data-color")])));
      await expect.poll(async () => Object.keys(await colors("acc")).length).toBe(3);
      expect(await colors("acc")).toEqual(await colors("loss"));
      // A key with a summary value but no history says so instead of drawing an empty chart.
      await expect.poll(() => page.locator('[data-panel="best"] [data-history-less]').innerText()).toContain("sgd-one: 0.7");
      if (backend.name === "SQLite") await page.screenshot({ path: join(SHOTS, "workspace.png"), fullPage: true });
    });

    it("draws each panel's runs from one chart request, not one per run", async () => {
      const charts: string[] = [];
      page.on("request", (r) => r.url().includes("/history/buckets") && charts.push(decodeURIComponent(r.url())));
      await page.reload();
      await expect.poll(() => page.locator("[data-panel][data-ready=true]").count()).toBe(3);
      // Three panels, one of them (a summary-only key) with no history: three requests, not nine.
      expect(charts.length, charts.join("\n")).toBe(3);
      for (const url of charts) for (const r of RUNS) expect(url).toContain(r.id);
    });

    it("tags many runs at once, keeps the name column in view and hides _-prefixed keys", async () => {
      await page.locator('input[aria-label="Select adam-one"]').check();
      await page.locator('input[aria-label="Select adam-two"]').check();
      await page.fill('input[aria-label="Tag for selected runs"]', "keep");
      await page.click('button:has-text("Add tag")');
      const tagsOf = (name: string) => page.locator("table.runs tbody tr", { hasText: name }).locator(".tag").allInnerTexts();
      await expect.poll(() => tagsOf("adam-two")).toEqual(["keep"]);
      expect(await tagsOf("adam-one")).toEqual(["keep"]);
      expect(await tagsOf("sgd-one")).toEqual([]);
      await page.fill('input[aria-label="Tag for selected runs"]', "keep");
      await page.click('button:has-text("Remove tag")');
      await expect.poll(() => tagsOf("adam-one")).toEqual([]);
      expect(await page.locator('th[data-column="name"]').evaluate((th) => getComputedStyle(th).position)).toBe("sticky");
      await page.click("details.columns summary");
      const keys = await page.locator("details.columns label").allInnerTexts();
      expect(keys.map((k) => k.trim())).toContain("config.opt");
      expect(keys.some((k) => k.includes("_"))).toBe(false);
      await page.click("details.columns summary");
    });

    it("groups by a config key: each group's mean line and band equal the members' mean, min and max at each step", async () => {
      await page.selectOption('select[aria-label="Group by"]', "config.opt");
      await expect.poll(async () => (await seriesOf("loss")).map((s) => s.label).sort()).toEqual(["adam (2)", "sgd (1)"]);
      expect(await page.locator('tr.group-row[data-group="adam"] [data-count]').getAttribute("data-count")).toBe("2");
      const adam = (await seriesOf("loss")).find((s) => s.label === "adam (2)")!;
      expect(adam.xs).toEqual(Array.from({ length: 20 }, (_, i) => i));
      for (const step of adam.xs) {
        const members = RUNS.filter((r) => r.opt === "adam").map((r) => loss(r.scale, step));
        expect(adam.ys[step]).toBeCloseTo(members.reduce((a, b) => a + b, 0) / members.length, 12);
        expect(adam.min![step]).toBeCloseTo(Math.min(...members), 12);
        expect(adam.max![step]).toBeCloseTo(Math.max(...members), 12);
      }
      // Optionally each member too, behind its group's line.
      await page.check('input[aria-label="Show members"]');
      await expect.poll(async () => (await seriesOf("loss")).map((s) => s.label).sort()).toEqual(["adam (2)", "adam-one", "adam-two", "sgd (1)", "sgd-one"]);
      await page.uncheck('input[aria-label="Show members"]');
      // The grouping is in the URL: a reload shows the same.
      expect(new URL(page.url()).searchParams.get("ws")).toContain("config.opt");
      await page.reload();
      await expect.poll(async () => (await seriesOf("loss")).map((s) => s.label).sort()).toEqual(["adam (2)", "sgd (1)"]);
      await page.selectOption('select[aria-label="Group by"]', "");
      await expect.poll(async () => (await seriesOf("loss")).length).toBe(3);
    });

    it("keeps runs hidden from the table, the table's sort and a removed panel in the URL", async () => {
      await page.locator('button[aria-label="Hide sgd-one"]').click();
      await expect.poll(async () => (await seriesOf("loss")).map((s) => s.label).sort()).toEqual(["adam-one", "adam-two"]);
      await page.locator('th[data-column="name"]').click();
      await page.locator('button[aria-label="Remove acc"]').click();
      await expect.poll(() => page.locator('[data-panel="acc"]').count()).toBe(0);
      await page.reload();
      await page.waitForSelector('[data-panel="loss"] canvas');
      await expect.poll(async () => (await seriesOf("loss")).map((s) => s.label).sort()).toEqual(["adam-one", "adam-two"]);
      expect(await page.locator('[data-panel="acc"]').count()).toBe(0);
      expect(await page.locator("table.runs tbody tr td:nth-child(2)").allInnerTexts()).toEqual(["adam-one", "adam-two", "sgd-one"]);
      await page.goto(`${server.url}/${entity}/ws`);
      await expect.poll(async () => (await seriesOf("loss")).length).toBe(3);
    });

    it("adds a panel of two metrics, widens and reorders it, and sections panels by key prefix", async () => {
      await post(`${entity}/ws2/wsprefx1`, [
        { k: "run", seq: 0, run: { ...info("wsprefx1", "prefixed", T0, {}), project: "ws2" } },
        { k: "history", seq: 1, rows: [0, 1, 2].map((s) => ({ _step: s, _timestamp: T0 + s, _runtime: s, "train/loss": 1 / (s + 1), "val/loss": 2 / (s + 1), "system/cpu": 10 + s })) },
        { k: "summary", seq: 4, summary: { "train/loss": 1 / 3, "val/loss": 2 / 3, "system/cpu": 12 } },
      ]);
      await page.goto(`${server.url}/${entity}/ws2`);
      await page.waitForSelector('[data-panel="train/loss"] canvas');
      const sections = () => page.locator("details.section").evaluateAll((ds) => ds.map((d) => [d.getAttribute("data-section"), (d as HTMLDetailsElement).open]));
      expect(await sections()).toEqual([["train", true], ["val", true], ["system", false]]);
      expect(await page.locator('[data-panel="system/cpu"]').count()).toBe(0);
      await page.locator('details.section[data-section="system"] > summary').click();
      await page.waitForSelector('[data-panel="system/cpu"] canvas');

      await page.fill('input[aria-label="Add panel"]', "train/loss, val/loss");
      await page.press('input[aria-label="Add panel"]', "Enter");
      const both = page.locator('[data-panel="train/loss, val/loss"]');
      await expect.poll(async () => (await both.locator("ul.series-data li").evaluateAll((lis) => lis.map((li) => li.getAttribute("data-series")))).sort()).toEqual(["prefixed · train/loss", "prefixed · val/loss"]);
      await page.click('button[aria-label="Resize train/loss, val/loss"]');
      await expect.poll(() => both.getAttribute("class")).toContain("span-2");
      const inTrain = () => page.locator('details.section[data-section="train"] [data-panel]').evaluateAll((ps) => ps.map((p) => p.getAttribute("data-panel")));
      expect(await inTrain()).toEqual(["train/loss", "train/loss, val/loss"]);
      await page.click('button[aria-label="Move train/loss, val/loss earlier"]');
      await expect.poll(inTrain).toEqual(["train/loss, val/loss", "train/loss"]);
      await page.reload();
      await page.waitForSelector('[data-panel="train/loss, val/loss"] canvas');
      expect(await inTrain()).toEqual(["train/loss, val/loss", "train/loss"]);
      expect(await page.locator('[data-panel="train/loss, val/loss"]').getAttribute("class")).toContain("span-2");
      expect(await sections()).toEqual([["train", true], ["val", true], ["system", true]]);
    });

    it("draws a metric against another logged metric as x, and keeps the choice in the URL", async () => {
      await page.goto(`${server.url}/${entity}/ws`);
      await page.waitForSelector('[data-panel="loss"] canvas');
      await page.selectOption('select[aria-label="x axis"]', "metric:acc");
      const one = async () => (await seriesOf("loss")).find((s) => s.label === "adam-one");
      const r = RUNS[0];
      await expect.poll(async () => (await one())?.xs).toEqual(Array.from({ length: 20 }, (_, i) => i / (100 * r.scale)));
      const s = (await one())!;
      expect(s.ys).toEqual(Array.from({ length: 20 }, (_, i) => loss(r.scale, i)));
      expect(JSON.parse(new URL(page.url()).searchParams.get("ws")!).controls.x).toBe("metric:acc");
      await page.selectOption('select[aria-label="x axis"]', "step");
    });

    it("saves a view that survives a reload and opens from its URL in a fresh browser session", async (ctx) => {
      // The saved-views API is RUNPAGE's part of issue 16; until it is merged the route is missing.
      const probe = await fetch(`${server.url}/api/v1/views/${entity}/ws`, { headers: { authorization: `Bearer ${key}` } });
      if (probe.status === 404) ctx.skip();
      await page.goto(`${server.url}/${entity}/ws`);
      await page.waitForSelector('[data-panel="loss"] canvas');
      await page.selectOption('select[aria-label="Group by"]', "config.opt");
      await page.fill('input[aria-label="View name"]', "by optimizer");
      await page.click('button:has-text("Save view")');
      await page.waitForSelector('[data-view="by optimizer"]');
      await page.reload();
      await page.waitForSelector('[data-view="by optimizer"]');
      const href = await page.locator('[data-view="by optimizer"] a').getAttribute("href");
      const fresh = await signIn(href!);
      try {
        const labels = () => fresh.page.locator('[data-panel="loss"] ul.series-data li').evaluateAll((lis) => lis.map((li) => li.getAttribute("data-series")).sort());
        await expect.poll(labels).toEqual(["adam (2)", "sgd (1)"]);
      } finally {
        await fresh.context.close();
      }
      // Made the default, it opens on the bare project URL.
      await page.click('button[aria-label="Make by optimizer the default"]');
      await page.waitForSelector('[data-view="by optimizer"] >> text=default');
      await page.goto(`${server.url}/${entity}/ws`);
      await expect.poll(async () => (await seriesOf("loss")).map((s) => s.label).sort()).toEqual(["adam (2)", "sgd (1)"]);
    });

    it("draws a running run's new point without a reload, for at most one chart request per visible panel", async () => {
      await post(`${entity}/ws/wslive01`, [
        { k: "run", seq: 0, run: info("wslive01", "live-one", T0 + 10_000, { opt: "adam" }) },
        { k: "history", seq: 1, rows: rows(5, 0, 10) },
        { k: "summary", seq: 11, summary: { loss: loss(5, 9), acc: 0.1 } },
      ]);
      await page.goto(`${server.url}/${entity}/ws?ws=${encodeURIComponent(JSON.stringify({ groupBy: "" }))}`);
      const live = async () => (await seriesOf("loss")).find((s) => s.label === "live-one")?.xs.length ?? 0;
      await expect.poll(live).toBe(10);
      const panels = await page.locator("[data-panel]").count();
      expect(panels).toBe(3);
      const charts: string[] = [];
      page.on("request", (r) => r.url().includes("/history/buckets") && charts.push(r.url()));
      await post(`${entity}/ws/wslive01`, [{ k: "history", seq: 12, rows: rows(5, 10, 1) }]);
      await expect.poll(live).toBe(11);
      // Still drawn: the two charts, and the summary-only key's note.
      expect(await page.locator("[data-panel] canvas").count()).toBe(2);
      expect(charts.length, charts.join("\n")).toBeLessThanOrEqual(panels);
      expect(charts.every((u) => u.includes("wslive01")), charts.join("\n")).toBe(true);
      // The table follows too: the run's end shows without a reload (its refresh is coalesced, at most one per 2 s).
      const stateOf = () => page.locator('tr[data-run="wslive01"] .badge').innerText();
      expect(await stateOf()).toBe("running");
      await post(`${entity}/ws/wslive01`, [{ k: "exit", seq: 13, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: T0 + 20_000 }]);
      await expect.poll(stateOf, { timeout: 10_000 }).toBe("finished");
    });
  },
  { skip: !runBrowser },
);
