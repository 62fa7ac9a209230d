/**
 * What the workspace benchmarks share: Debian's Chromium (through playwright-core, as the web
 * tests drive it), a server on port 0 with its credentials under a temp HOME, a signed-in page,
 * and filling runs' history straight through the store in column batches (as the daemon uploads
 * them; ingesting millions of points through HTTP would take minutes and is not what is measured).
 */
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import type { RunInfo } from "../../src/protocol/records.js";
import { readCredential } from "../../src/protocol/local-config.js";
import { startServer, type RunningServer } from "../../src/server/index.js";
import { benchRoot } from "./procs.js";

export const CHROMIUM = "/usr/bin/chromium";
/** Columns per ingest batch: the daemon's upload size. */
const BATCH = 4096;

export interface BenchWorkspace {
  server: RunningServer;
  apiKey: string;
  user: string;
  browser: Browser;
  /** A signed-in page (in a browser context of its own). */
  open(): Promise<Page>;
  /** Adds a run with `steps` steps of `metrics` metrics (m0..), `state` running or finished. */
  addRun(project: string, id: string, i: number, metrics: number, steps: number, running: boolean): Promise<void>;
  close(): Promise<void>;
}

export function runInfo(project: string, id: string, i: number): RunInfo {
  return {
    id, entity: "", project, name: `run-${i}`, notes: null, tags: [], group: null, jobType: null, config: { lr: 1 / (i + 1), seed: i % 3 }, createdAt: 1.7e12 + i * 1000,
    program: { executable: "node", args: ["train.js"], cwd: "/", pid: 1, host: "bench", nodeVersion: process.version, os: process.platform, tracksideVersion: "0" },
  };
}

/** A metric's value at a step: different per run and metric, with some noise so that buckets differ. */
export const metricValue = (run: number, m: number, s: number) => (m + 1) / (s + 1 + run) + Math.sin(s * 0.37 + m) * 0.01;

/** A server (SQLite) and a browser; null with a warning where Chromium is not installed. */
export async function startBenchWorkspace(label: string): Promise<BenchWorkspace | null> {
  if (!existsSync(CHROMIUM)) {
    process.stderr.write(`no ${CHROMIUM}: the ${label} benchmark is left out\n`);
    return null;
  }
  const root = benchRoot(label);
  const savedHome = process.env.HOME;
  process.env.HOME = root; // the bootstrap writes its credentials file here, not in the real home
  const server = await startServer({ port: 0, dataDir: join(root, "server"), log: { level: "warn" } });
  const { apiKey, user } = readCredential(server.url)!;
  const entity = (await server.store.getEntity(user))!;
  const author = (await server.store.getUserByName(user))!;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
  });
  return {
    server,
    apiKey,
    user,
    browser,
    async open() {
      const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
      const page = await context.newPage();
      const link = await fetch(`${server.url}/api/v1/auth/login-links`, { method: "POST", headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" }, body: JSON.stringify({ next: "/" }) });
      await page.goto(((await link.json()) as { url: string }).url);
      await page.waitForLoadState("load");
      return page;
    },
    async addRun(project, id, i, metrics, steps, running) {
      const target = { entityId: entity.id, project, runId: id, authorUserId: author.id };
      await server.store.ingest(target, [{ k: "run", seq: 0, run: { ...runInfo(project, id, i), entity: user } }], Date.now());
      let seq = 1;
      for (let start = 0; start < steps; start += BATCH) {
        const n = Math.min(BATCH, steps - start);
        const cols: Record<string, Float64Array> = { _step: new Float64Array(n), _timestamp: new Float64Array(n), _runtime: new Float64Array(n) };
        for (let m = 0; m < metrics; m++) cols[`m${m}`] = new Float64Array(n);
        for (let j = 0; j < n; j++) {
          const s = start + j;
          cols._step[j] = s;
          cols._timestamp[j] = 1.7e12 + s * 10;
          cols._runtime[j] = s / 100;
          for (let m = 0; m < metrics; m++) cols[`m${m}`][j] = metricValue(i, m, s);
        }
        await server.store.ingest(target, [{ k: "history", seq, n, cols }], Date.now());
        seq += n;
      }
      const summary: Record<string, number> = {};
      for (let m = 0; m < metrics; m++) summary[`m${m}`] = metricValue(i, m, steps - 1);
      const end = running ? [] : [{ k: "exit" as const, seq: seq + 1, state: "finished" as const, exitCode: 0, signal: null, error: null, finishedAt: 1.7e12 + i * 1000 + steps * 10 }];
      await server.store.ingest(target, [{ k: "summary", seq, summary }, ...end], Date.now());
    },
    async close() {
      await browser.close();
      await server.close();
      process.env.HOME = savedHome;
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** The project page with a workspace state (lib/url-state.ts's `ws` parameter). */
export function workspaceUrl(server: RunningServer, user: string, project: string, state: Record<string, unknown>): string {
  return `${server.url}/${user}/${project}?ws=${encodeURIComponent(JSON.stringify(state))}`;
}
