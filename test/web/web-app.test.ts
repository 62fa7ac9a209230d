/**
 * The web app in a real browser (Debian's Chromium through playwright-core) against a real
 * server on port 0, on each store backend (SQLite, then PostgreSQL: test/helpers/backends.ts):
 * sign in through a one-time link, open a project, sort the runs table, open a run and find
 * every overview field, count a chart's points, edit a tag, watch a running run gain points
 * while its page is open, and read its system metrics and its console output (searched on the
 * server). One browser serves both backends, each in a context of its own. Screenshots (of the
 * SQLite run only: the pages are the same) go to test-output/screenshots/.
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

const history = (from: number, n: number): HistoryRow[] =>
  Array.from({ length: n }, (_, i) => ({ _step: from + i, _timestamp: T0 + (from + i) * 1000, _runtime: from + i, loss: 1 / (from + i + 1), acc: (from + i) / 100 }));

// Debian's Chromium drives these tests; .ci/run installs it. On a developer's machine without
// it they are skipped, loudly; in CI (CI=true) a missing browser fails them.
const runBrowser = browserOrSkip("test/web/web-app");

let browser: Browser;

// One browser for the file: each backend's run gets a context (cookies, storage) of its own.
beforeAll(async () => {
  if (!runBrowser) return;
  mkdirSync(SHOTS, { recursive: true });
  browser = await launchChromium();
});

afterAll(() => browser?.close());

describeBackends(
  "web app",
  (backend) => {
    let home: string;
    let savedHome: string | undefined;
    let server: RunningServer;
    let key: string;
    let entity: string;
    let context: BrowserContext;
    let page: Page;

    /** A screenshot of the SQLite run's page: the PostgreSQL run's pages are the same, and each shot costs time. */
    const shot = async (name: string, fullPage = false): Promise<void> => {
      if (backend.name === "SQLite") await page.screenshot({ path: join(SHOTS, name), fullPage });
    };

    async function post(path: string, records: RunRecord[]) {
      await postRecords(server.url, key, path, records);
    }

    function info(id: string, over: Partial<RunInfo> = {}): RunInfo {
      return {
        id, entity, project: "mnist", name: `run-${id}`, notes: null, tags: [], group: null, jobType: null, config: { lr: 0.001 }, createdAt: T0,
        program: { executable: "/usr/bin/node", args: ["train.js", "--epochs", "3"], cwd: "/w", pid: 1, host: "gpu-box-1", nodeVersion: "v20.11.0", os: "linux 6.1.0 x64", tracksideVersion: "0.1.0" },
        ...over,
      };
    }

    beforeAll(async () => {
      savedHome = process.env.HOME;
      home = mkdtempSync(join(tmpdir(), "trackside-web-"));
      process.env.HOME = home;
      server = await startServer({ port: 0, dataDir: join(home, ".trackside", "server"), database: backend.database() });
      const cred = readCredential(server.url)!;
      key = cred.apiKey;
      entity = cred.user;
      // Three finished runs and one that runs on.
      for (const [i, name] of ["charlie", "alpha", "bravo"].entries()) {
        await post(`${entity}/mnist/done000${i}`, [
          { k: "run", seq: 0, run: info(`done000${i}`, { name, createdAt: T0 + i * 1000, tags: ["sweep"], jobType: "train", group: "g1", notes: `notes of ${name}` }) },
          { k: "history", seq: 1, rows: history(0, 40) },
          { k: "summary", seq: 41, summary: { loss: 0.025, acc: 0.39 } },
          { k: "meta", seq: 0, metadata: { host: "gpu-box-1", cpu: { model: "AMD EPYC 7B13", physicalCores: 16 }, memory: { totalMB: 65536 } } },
          { k: "exit", seq: 42, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: T0 + 3_723_000 },
        ]);
      }
      // What the server kept without applying (issue #13): a refusal report of the daemon's, and a
      // record of a kind this server does not know (a newer daemon's).
      await post(`${entity}/mnist/done0001`, [
        { k: "refused", seq: 0, at: T0 + 5, records: 12, bytes: 1200, error: "TRK_ERR_BAD_VALUE: Cannot store the value of \"big\"" },
        { k: "gpu-topology", seq: 0, at: T0 + 6, links: [] } as unknown as RunRecord,
      ]);
      await post(`${entity}/mnist/live0001`, [{ k: "run", seq: 0, run: info("live0001", { name: "live-run", createdAt: T0 + 5000 }) }, { k: "history", seq: 1, rows: history(0, 10) }]);
      // System samples (the daemon's, seq 0, keyed by time) and console lines for the System and Logs tabs.
      const samples: RunRecord[] = Array.from({ length: 12 }, (_, i) => ({
        k: "system" as const,
        seq: 0 as const,
        at: T0 + i * 10_000,
        values: { "system/cpu": 12.5 + i, "system/memory": 40 + i / 2, ...(i % 2 ? {} : { "system/gpu.0.temp": 60 + i }) },
      }));
      const lines = Array.from({ length: 30 }, (_, i) => ({ at: T0 + i * 1000, stream: i === 17 ? ("stderr" as const) : ("stdout" as const), text: i === 17 ? "warning: loss spiked at epoch 2" : `epoch ${Math.floor(i / 10)} batch ${i} loss=${(1 / (i + 1)).toFixed(4)}` }));
      await post(`${entity}/mnist/done0002`, [...samples, { k: "console", seq: 43, lines }]);

      context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
      page = await context.newPage();
      // Sign in as a person would: a one-time link minted with the key.
      const link = await fetch(`${server.url}/api/v1/auth/login-links`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify({ next: `/${entity}/mnist` }) });
      await page.goto((await link.json()).url as string);
    });

    afterAll(async () => {
      await context?.close();
      await server?.close();
      process.env.HOME = savedHome;
      rmSync(home, { recursive: true, force: true });
    });

    const rowNames = () => page.locator("table.runs tbody tr td:nth-child(2)").allInnerTexts();

    it("lists the projects and the runs, and sorts the table on the server", async () => {
      await page.waitForSelector("table.runs tbody tr");
      expect(new URL(page.url()).pathname).toBe(`/${entity}/mnist`);
      expect(await rowNames()).toEqual(["live-run", "bravo", "alpha", "charlie"]); // newest first
      await page.locator('th[data-column="name"]').click();
      await expect.poll(rowNames).toEqual(["alpha", "bravo", "charlie", "live-run"]);
      await page.locator('th[data-column="name"]').click();
      await expect.poll(rowNames).toEqual(["live-run", "charlie", "bravo", "alpha"]);
      await page.selectOption('select[aria-label="State filter"]', "running");
      await expect.poll(rowNames).toEqual(["live-run"]);
      await page.selectOption('select[aria-label="State filter"]', "");
      expect(await page.locator("table.runs tbody tr").first().locator(".badge").innerText()).toBeTruthy();
      await shot("project.png", true);
      await page.goto(`${server.url}/`);
      await page.waitForSelector(`a[href="/${entity}/mnist"]`);
      await shot("home.png");
    });

    it("shows every overview field of a run, and a tag edit survives a reload", async () => {
      await page.goto(`${server.url}/${entity}/mnist`);
      await page.locator("table.runs a", { hasText: "alpha" }).click();
      await page.waitForSelector("dl.facts");
      const field = (label: string) => page.locator(`dd[data-field="${label}"]`).innerText();
      expect(await field("Run name")).toContain("alpha");
      expect(await field("Description")).toContain("notes of alpha");
      expect(await page.locator('select[aria-label="Privacy"]').inputValue()).toBe("private");
      expect(await field("Tags")).toContain("sweep");
      expect(await field("Author")).toBe(entity);
      expect(await field("State")).toContain("finished");
      expect(await field("Start time")).toBe("2024-05-01 12:00:01 UTC");
      expect(await field("Duration")).toBe("1h 2m 2s");
      expect(await field("Run path")).toBe(`${entity}/mnist/done0001`);
      expect(await field("Host")).toBe("gpu-box-1");
      expect(await field("OS")).toBe("linux 6.1.0 x64");
      expect(await field("Node.js version")).toBe("v20.11.0");
      expect(await field("Command")).toBe("/usr/bin/node train.js --epochs 3");
      expect(await field("Hardware")).toContain("AMD EPYC 7B13 (16 cores), 64.0 GB memory");
      expect(await field("trackside version")).toBe("0.1.0");
      expect(await field("Job type")).toBe("train");
      expect(await field("Group")).toBe("g1");
      expect(await page.locator('[data-section="Artifacts"]').innerText()).toContain("No artifact");
      expect(await page.locator('[data-section="Config"]').innerText()).toContain("lr");
      expect(await page.locator('[data-section="Summary"]').innerText()).toContain("0.39");
      expect(await page.locator('[data-notice="refused"]').innerText()).toContain('12 records were refused by the server: TRK_ERR_BAD_VALUE: Cannot store the value of "big"');
      expect(await page.locator('[data-notice="unknown-records"]').innerText()).toContain("gpu-topology: 1");
      await shot("run-overview.png", true);

      await page.fill('input[aria-label="Add tag"]', "best");
      await page.press('input[aria-label="Add tag"]', "Enter");
      await page.waitForSelector('button[aria-label="Remove tag best"]');
      await page.reload();
      await page.waitForSelector("dl.facts");
      expect(await field("Tags")).toContain("best");
    });

    it("draws a chart per metric with every logged point", async () => {
      await page.goto(`${server.url}/${entity}/mnist/runs/done0001?tab=charts`);
      await page.waitForSelector('figure[data-chart="loss"] canvas');
      expect(await page.locator('figure[data-chart="loss"]').getAttribute("data-points")).toBe("40");
      expect(await page.locator("figure[data-chart]").count()).toBe(2);
      await page.fill('input[aria-label="Search metrics"]', "acc");
      await expect.poll(() => page.locator("figure[data-chart]").count()).toBe(1);
      await shot("run-charts.png", true);
    });

    it("shows a running run gain points and end while its page is open", async () => {
      await page.goto(`${server.url}/${entity}/mnist/runs/live0001?tab=charts`);
      await page.waitForSelector('figure[data-chart="loss"] canvas');
      expect(await page.locator('figure[data-chart="loss"]').getAttribute("data-points")).toBe("10");
      await post(`${entity}/mnist/live0001`, [{ k: "history", seq: 11, rows: history(10, 15) }]);
      await expect.poll(() => page.locator('figure[data-chart="loss"]').getAttribute("data-points"), { timeout: 10_000 }).toBe("25");
      await post(`${entity}/mnist/live0001`, [{ k: "exit", seq: 26, state: "crashed", exitCode: null, signal: null, error: "gone", finishedAt: T0 + 60_000 }]);
      await expect.poll(() => page.locator("h1 .badge").innerText(), { timeout: 10_000 }).toBe("crashed");
      await shot("run-live.png", true);
    });

    it("shows a chart per system metric, the console output, and finds a line", async () => {
      await page.goto(`${server.url}/${entity}/mnist/runs/done0002`);
      await page.getByRole("tab", { name: "System" }).click();
      await page.waitForSelector('figure[data-chart="CPU utilization (%)"] canvas');
      expect(await page.locator("figure[data-chart]").evaluateAll((els) => els.map((e) => e.getAttribute("data-chart")))).toEqual(["CPU utilization (%)", "GPU temperature (°C)", "memory"]);
      expect(await page.locator('figure[data-chart="CPU utilization (%)"]').getAttribute("data-points")).toBe("12");
      expect(await page.locator('figure[data-chart="GPU temperature (°C)"]').getAttribute("data-points")).toBe("6");
      // Each chart's y labels say the values of their grid lines: evenly spaced once read back
      // (CPU 12.5-23.5 % has ticks 2.5 apart; labels of fewer decimals read 13, 15, 18, 20).
      for (const title of ["CPU utilization (%)", "GPU temperature (°C)", "memory"]) {
        const ticks = page.locator(`figure[data-chart="${title}"]`);
        await expect.poll(() => ticks.getAttribute("data-y-ticks")).not.toBeNull();
        const labels = JSON.parse((await ticks.getAttribute("data-y-ticks"))!) as string[];
        const gaps = labels.slice(1).map((l, i) => Number(l.replace(/,/g, "")) - Number(labels[i].replace(/,/g, "")));
        expect(gaps.every((g) => Math.abs(g - gaps[0]) < 1e-9), `${title}: ${labels.join(" ")}`).toBe(true);
      }
      expect(new URL(page.url()).searchParams.get("tab")).toBe("system");
      await shot("run-system.png", true);

      await page.getByRole("tab", { name: "Logs" }).click();
      await page.waitForSelector('pre.console[data-lines="30"]');
      expect(await page.locator("pre.console").innerText()).toContain("epoch 1 batch 12 loss=0.0769");
      expect(await page.locator("pre.console div.stderr").innerText()).toContain("warning: loss spiked at epoch 2");
      await shot("run-logs.png", true);

      await page.fill('input[aria-label="Search logs"]', "spiked");
      await page.waitForSelector('pre.console[data-lines="1"]');
      expect(await page.locator("pre.console div").allInnerTexts()).toEqual([expect.stringContaining("warning: loss spiked at epoch 2")]);
      await page.fill('input[aria-label="Search logs"]', "no such line");
      await page.waitForSelector('pre.console[data-lines="0"]');
      await page.fill('input[aria-label="Search logs"]', "");
      await page.waitForSelector('pre.console[data-lines="30"]');
      await page.fill('input[aria-label="Search logs"]', "batch 2");
      await page.waitForSelector('pre.console[data-lines="11"]'); // batch 2 and batch 20 to 29
      await shot("run-logs-search.png", true);
    });
  },
  { skip: !runBrowser },
);
