/**
 * Debian's Chromium for the web tests, and how they seed runs on their server, driven by playwright-core (no browser download). Where it
 * is not installed a file's browser tests are skipped with a warning; under CI=true they run (and
 * fail to launch, saying so): .ci/run installs it.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { expect } from "vitest";
import type { RunRecord } from "../../src/protocol/records.js";
import { ROOT } from "./processes.js";

export const CHROMIUM = "/usr/bin/chromium";
/** Where the tests' screenshots go (for people; nothing compares them). */
export const SHOTS = join(ROOT, "test-output", "screenshots");

/** Whether this machine runs the browser tests of `file`; warns once for the file when not. */
export function browserOrSkip(file: string): boolean {
  const run = existsSync(CHROMIUM) || process.env.CI === "true";
  if (!run) console.warn(`${file} skipped: no ${CHROMIUM} (install it with: apt-get install -y chromium)`);
  return run;
}

/** A headless Chromium with nothing that reaches beyond loopback (no updates, sync or background traffic). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
  });
}

/**
 * Uploads records (JSON) to a real server's run `entity/project/id`, as the web tests seed
 * their runs; fails the test with the server's answer unless it is a 200.
 */
export async function postRecords(baseUrl: string, apiKey: string, path: string, records: RunRecord[]): Promise<void> {
  const res = await fetch(`${baseUrl}/api/v1/runs/${path}/records`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: JSON.stringify(records),
  });
  expect(res.status, await res.clone().text()).toBe(200);
}
