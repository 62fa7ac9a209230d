/**
 * The artifact pages of issue 18 (point 5), in a real browser (Debian's Chromium through
 * playwright-core) against a real server on port 0, with versions seeded through the HTTP routes
 * as the daemon uploads them: a run's overview lists the versions it logged and used, linked to
 * the version's page; that page shows the collection's versions and aliases, the files (path,
 * size, digest) with working download links, the metadata, and the lineage (tables and a graph
 * run -> artifact -> run); the project links to its artifacts list. Screenshots go to
 * test-output/screenshots/.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readCredential } from "../../src/protocol/local-config.js";
import type { RunInfo, RunRecord } from "../../src/protocol/records.js";
import { startServer, type RunningServer } from "../../src/server/index.js";
import { logVersion, sha256, useVersion } from "../helpers/artifact-seed.js";
import { browserOrSkip, launchChromium, postRecords, SHOTS } from "../helpers/browser.js";

const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);
const runBrowser = browserOrSkip("test/web/artifacts");

const V0 = { "train.csv": "x,y\n1,2\n3,4\n", "labels/names.txt": "cat\ndog\n" };
const V1 = { "train.csv": "x,y\n1,2\n3,4\n5,6\n", "labels/names.txt": "cat\ndog\n" };
const bytes = (files: Record<string, string>) => Object.values(files).reduce((n, f) => n + Buffer.byteLength(f), 0);

describe.skipIf(!runBrowser)("artifact pages", () => {
  let home: string;
  let savedHome: string | undefined;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let key: string;
  let entity: string;

  function info(id: string, name: string): RunInfo {
    return {
      id, entity, project: "mnist", name, notes: null, tags: [], group: null, jobType: null, config: {}, createdAt: T0,
      program: { executable: "/usr/local/bin/node", args: ["train.js"], cwd: "/w", pid: 1, host: "box", nodeVersion: "v20.11.0", os: "linux", tracksideVersion: "0.1.0" },
    };
  }

  async function finishedRun(id: string, name: string) {
    const records: RunRecord[] = [
      { k: "run", seq: 0, run: info(id, name) },
      { k: "exit", seq: 1, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: T0 + 60_000 },
    ];
    await postRecords(server.url, key, `${entity}/mnist/${id}`, records);
  }

  const run = (runId: string) => ({ entity, project: "mnist", runId });

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    savedHome = process.env.HOME;
    home = mkdtempSync(join(tmpdir(), "trackside-artifact-pages-"));
    process.env.HOME = home;
    server = await startServer({ port: 0, dataDir: join(home, ".trackside", "server") });
    const cred = readCredential(server.url)!;
    key = cred.apiKey;
    entity = cred.user;
    // Two runs log two versions of a dataset; a third uses the second; a fourth logs nothing.
    await finishedRun("prep0001", "prep-first");
    await finishedRun("prep0002", "prep-second");
    await finishedRun("train001", "train-model");
    await finishedRun("empty001", "no-artifacts");
    await logVersion(server.url, key, run("prep0001"), { name: "dataset", type: "dataset", files: V0, description: "the first cut", metadata: { rows: 2 } }, ["raw"]);
    await logVersion(server.url, key, run("prep0002"), { name: "dataset", type: "dataset", files: V1, description: "one more row", metadata: { rows: 3, source: { kind: "csv" } } }, ["best"]);
    await useVersion(server.url, key, run("train001"), { entity, project: "mnist", name: "dataset", version: 1 });
    await logVersion(server.url, key, run("train001"), { name: "model", type: "model", files: { "model.bin": new Uint8Array(3000).fill(7) } });

    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
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

  /** The rows of a table, each row's cells' text. */
  const rowsOf = (selector: string) => page.locator(`${selector} tbody tr`).evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent!.trim())));

  it("lists a run's artifact outputs and inputs on its overview, each linked to its version's page", async () => {
    await page.goto(`${server.url}/${entity}/mnist/runs/train001`);
    await page.locator('table[data-section="Artifact outputs"]').waitFor();
    // name:version, aliases, type, size, files.
    expect((await rowsOf('table[data-section="Artifact outputs"]')).map((r) => r.slice(0, 5))).toEqual([["model:v0", "latest", "model", "2.93 KiB", "1"]]);
    expect((await rowsOf('table[data-section="Artifact inputs"]')).map((r) => r.slice(0, 5))).toEqual([["dataset:v1", "latestbest", "dataset", `${bytes(V1)} B`, "2"]]);
    await page.screenshot({ path: join(SHOTS, "artifacts-run-overview.png"), fullPage: true });

    await page.goto(`${server.url}/${entity}/mnist/runs/empty001`);
    await page.locator('[data-section="Artifacts"]').waitFor();
    expect(await page.locator('[data-section="Artifacts"]').innerText()).toContain("No artifact outputs.");
    expect(await page.locator('[data-section="Artifacts"]').innerText()).toContain("No artifact inputs.");

    await page.goto(`${server.url}/${entity}/mnist/runs/prep0002`);
    await page.locator('table[data-section="Artifact outputs"] a', { hasText: "dataset:v1" }).click();
    await page.waitForURL(new RegExp(`/${entity}/mnist/artifacts/dataset/v1$`));
    await page.getByRole("heading", { name: /dataset:v1/ }).waitFor();
  });

  it("shows a version's files with path, size and digest, and each download link gives the file's bytes", async () => {
    await page.goto(`${server.url}/${entity}/mnist/artifacts/dataset/v1`);
    await page.locator('table[data-section="Files"]').waitFor();
    const files = await page.locator('table[data-section="Files"] tbody tr').evaluateAll((trs) =>
      trs.map((tr) => ({ path: tr.getAttribute("data-path"), size: tr.children[1].textContent, digest: tr.querySelector("[data-digest]")!.getAttribute("data-digest") })),
    );
    expect(files).toEqual([
      { path: "labels/names.txt", size: "8 B", digest: sha256(V1["labels/names.txt"]) },
      { path: "train.csv", size: "16 B", digest: sha256(V1["train.csv"]) },
    ]);
    const [download] = await Promise.all([page.waitForEvent("download"), page.locator('tr[data-path="train.csv"] a', { hasText: "Download" }).click()]);
    expect(download.suggestedFilename()).toBe("train.csv");
    expect(readFileSync((await download.path())!, "utf8")).toBe(V1["train.csv"]);
    // Its description, metadata (nested keys dotted) and aliases.
    expect(await page.locator('dd[data-field="Description"]').textContent()).toBe("one more row");
    expect(await page.locator('table[data-section="Metadata"] tr').allInnerTexts()).toEqual(["rows\t3", "source.kind\tcsv"]);
    expect(await page.locator("h1 [data-alias]").allTextContents()).toEqual(["latest", "best"]);
  });

  it("lists the collection's versions with their aliases, the one shown marked, each linked", async () => {
    await page.goto(`${server.url}/${entity}/mnist/artifacts/dataset/raw`);
    await page.getByRole("heading", { name: /dataset:v0/ }).waitFor();
    await page.locator('table[data-section="Versions"]').waitFor();
    expect((await rowsOf('table[data-section="Versions"]')).map((r) => r.slice(0, 2))).toEqual([
      ["v1", "latestbest"],
      ["v0", "raw"],
    ]);
    expect(await page.locator('table[data-section="Versions"] tr.current').getAttribute("data-ref")).toBe("dataset:v0");
    await page.locator('table[data-section="Versions"] a', { hasText: "v1" }).click();
    await page.waitForURL(/\/artifacts\/dataset\/v1$/);
    await page.getByRole("heading", { name: /dataset:v1/ }).waitFor();
  });

  it("shows the lineage: the run that logged the version and the run that used it, as tables and as a graph", async () => {
    await page.goto(`${server.url}/${entity}/mnist/artifacts/dataset`);
    await page.getByRole("heading", { name: /dataset:v1/ }).waitFor();
    await page.locator('table[data-section="Used by"]').waitFor();
    expect((await rowsOf('table[data-section="Logged by"]')).map((r) => r[0])).toEqual(["prep-second"]);
    expect((await rowsOf('table[data-section="Used by"]')).map((r) => r[0])).toEqual(["train-model"]);
    // The graph: producer -> version -> consumer, two edges, the runs linked to their pages.
    const graph = page.locator("svg.lineage");
    expect(await graph.locator('[data-node="run"]').count()).toBe(2);
    expect(await graph.locator('[data-node="artifact"]').textContent()).toContain("dataset:v1");
    expect(await graph.locator(".edge").count()).toBe(2);
    expect(await graph.locator("a").evaluateAll((as) => as.map((a) => a.getAttribute("href")))).toEqual([`/${entity}/mnist/runs/prep0002`, `/${entity}/mnist/runs/train001`]);
    await page.screenshot({ path: join(SHOTS, "artifact-version.png"), fullPage: true });
    await graph.locator("a").nth(1).click();
    await page.waitForURL(/\/runs\/train001$/);
  });

  it("links the project to its artifacts list, filtered by type", async () => {
    await page.goto(`${server.url}/${entity}/mnist`);
    await page.getByRole("link", { name: "Artifacts", exact: true }).click();
    await page.waitForURL(/\/mnist\/artifacts$/);
    await page.locator('table[data-section="Artifacts"]').waitFor();
    expect((await rowsOf('table[data-section="Artifacts"]')).map((r) => r.slice(0, 4)).sort()).toEqual([
      ["dataset", "dataset", "2", "v1"],
      ["model", "model", "1", "v0"],
    ]);
    await page.screenshot({ path: join(SHOTS, "artifacts-list.png"), fullPage: true });
    await page.getByLabel("Type filter").selectOption("model");
    expect((await rowsOf('table[data-section="Artifacts"]')).map((r) => r[0])).toEqual(["model"]);
  });
});
