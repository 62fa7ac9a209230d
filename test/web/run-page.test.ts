/**
 * The run page's defects of issue 16 (point 7), in a real browser (Debian's Chromium through
 * playwright-core) against a real server on port 0: live logs that repeated their lines, and
 * overview fields that were missing or shown wrong (the executable, git branch, remote and a
 * dirty flag, copy buttons for the run path and the command, `_timestamp` as a date, multi-line
 * descriptions). The Charts and System tabs are test/web/charts.test.ts's.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readCredential } from "../../src/protocol/local-config.js";
import type { RunInfo, RunRecord } from "../../src/protocol/records.js";
import { startServer, type RunningServer } from "../../src/server/index.js";
import { browserOrSkip, launchChromium, postRecords } from "../helpers/browser.js";

const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);
const runBrowser = browserOrSkip("test/web/run-page");

describe.skipIf(!runBrowser)("run page", () => {
  let home: string;
  let savedHome: string | undefined;
  let server: RunningServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let key: string;
  let entity: string;

  async function post(id: string, records: RunRecord[]) {
    await postRecords(server.url, key, `${entity}/mnist/${id}`, records);
  }

  function info(id: string, over: Partial<RunInfo> = {}): RunInfo {
    return {
      id, entity, project: "mnist", name: `run-${id}`, notes: null, tags: [], group: null, jobType: null, config: {}, createdAt: T0,
      program: { executable: "/usr/local/bin/node", args: ["train.js", "--lr", "0.1"], cwd: "/w", pid: 1, host: "box", nodeVersion: "v20.11.0", os: "linux", tracksideVersion: "0.1.0" },
      ...over,
    };
  }

  const lineText = (i: number) => `line ${i} of the run`;
  /** Console lines; a console record of n lines takes the seqs seq .. seq + n - 1. */
  const lines = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ at: T0 + (from + i) * 1000, stream: "stdout" as const, text: lineText(from + i) }));

  beforeAll(async () => {
    savedHome = process.env.HOME;
    home = mkdtempSync(join(tmpdir(), "trackside-run-page-"));
    process.env.HOME = home;
    server = await startServer({ port: 0, dataDir: join(home, ".trackside", "server") });
    const cred = readCredential(server.url)!;
    key = cred.apiKey;
    entity = cred.user;
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.url });
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
    const link = await fetch(`${server.url}/api/v1/auth/login-links`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify({ next: `/${entity}/mnist` }) });
    await page.goto((await link.json()).url as string);
    await page.waitForURL(/\/mnist$/);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    process.env.HOME = savedHome;
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it("shows each live log line once: 9 lines as 9, then 14 as 14", async () => {
    await post("logs0001", [{ k: "run", seq: 0, run: info("logs0001") }, { k: "console", seq: 1, lines: lines(0, 9) }]);
    await page.goto(`${server.url}/${entity}/mnist/runs/logs0001`);
    await page.getByRole("heading", { name: /run-logs0001/ }).waitFor();
    // An upload while the page is open: the live version goes up before the Logs tab opens.
    const bumped = page.waitForResponse((r) => r.url().endsWith("/runs/" + entity + "/mnist/logs0001") && r.request().method() === "GET");
    await post("logs0001", [{ k: "summary", seq: 10, summary: { loss: 1 } }]);
    await bumped;
    await page.getByRole("tab", { name: "Logs" }).click();
    await page.locator(".console div", { hasText: lineText(8) }).first().waitFor();
    // More lines arrive live.
    await post("logs0001", [{ k: "console", seq: 11, lines: lines(9, 5) }]);
    await page.locator(".console div", { hasText: lineText(13) }).first().waitFor();
    // Every fetch the page started has answered once the console is idle for the live gap.
    await page.waitForLoadState("networkidle");
    const shown = await page.locator(".console div").evaluateAll((els) => els.map((e) => e.textContent!.replace(/^\S+ /, "")));
    expect(shown).toEqual(Array.from({ length: 14 }, (_, i) => lineText(i)));
    await expect(page.locator(".toolbar .muted").textContent()).resolves.toBe("14 lines");
  });

  describe("overview", () => {
    const notes = "First line of the description.\n\n  - an indented item\nlast line";
    const field = (label: string) => page.locator(`dd[data-field="${label}"]`);

    beforeAll(async () => {
      await post("over0001", [
        { k: "run", seq: 0, run: info("over0001", { notes }) },
        {
          k: "meta",
          seq: 0,
          metadata: {
            host: "box",
            program: { executable: "/usr/local/bin/node", args: ["train.js", "--lr", "0.1"], cwd: "/w" },
            git: { remote: "git@github.com:alice/mnist.git", branch: "feature/x", commit: "3f2a9c1e", dirty: true },
          },
        },
        { k: "summary", seq: 1, summary: { loss: 0.5, _timestamp: T0 / 1000 + 90, _runtime: 90 } },
        { k: "exit", seq: 2, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: T0 + 90_000 },
      ]);
      await page.goto(`${server.url}/${entity}/mnist/runs/over0001`);
      await field("Run path").waitFor();
    });

    it("shows the executable as its own field", async () => {
      expect(await field("Executable").textContent()).toBe("/usr/local/bin/node");
    });

    it("shows the git branch, remote, commit and whether the tree was dirty", async () => {
      expect(await field("Git branch").textContent()).toBe("feature/x");
      expect(await field("Git remote").textContent()).toBe("git@github.com:alice/mnist.git");
      expect(await field("Git commit").textContent()).toBe("3f2a9c1e (uncommitted changes)");
    });

    it("copies the run path and the command", async () => {
      await page.getByRole("button", { name: "Copy run path" }).click();
      expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(`${entity}/mnist/over0001`);
      await page.getByRole("button", { name: "Copy command" }).click();
      expect(await page.evaluate(() => navigator.clipboard.readText())).toBe("/usr/local/bin/node train.js --lr 0.1");
    });

    it("shows the summary's _timestamp as a date", async () => {
      const summaryCell = (k: string) => page.locator(`table[data-section="Summary"] tr`, { has: page.locator("th", { hasText: new RegExp(`^${k}$`) }) }).locator("td");
      expect(await summaryCell("_timestamp").textContent()).toBe("2024-05-01 12:01:30 UTC");
      expect(await summaryCell("loss").textContent()).toBe("0.5");
    });

    it("shows a multi-line description as written", async () => {
      // innerText follows the CSS: line breaks and leading spaces come back only where they are shown.
      expect(await field("Description").locator(".editable > span").first().innerText()).toBe(notes);
    });
  });
});
