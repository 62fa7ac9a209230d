/**
 * An open live workspace (issue 16, point 6): `runs` running runs each upload one history row
 * a second (through HTTP, as the daemon does) for `seconds` seconds while the project's workspace
 * is open in Chromium with every run shown. Counted: the page's requests to the server in that
 * time (the live stream's own connections aside), and the CPU time of the process serving it.
 * Baselines, same run: the uploads applied in that time (one event each: a page that refetched
 * every chart on every event would make panels x uploads requests), and the same uploads' CPU
 * time with no page open.
 *
 * Alone: `npm run build && node dist/scripts/bench/run.js --one benchWorkspaceLive '[10,60]'`.
 */
import type { HistoryRow, RunRecord } from "../../src/protocol/records.js";
import type { Figure } from "./stats.js";
import { metricValue, startBenchWorkspace, workspaceUrl, type BenchWorkspace } from "./workspace-browser.js";

const METRICS = 4;
const STEPS = 1000;

/** Uploads one row to every run each second for `seconds`; returns the CPU ms it all cost this process. */
async function upload(ws: BenchWorkspace, ids: string[], seconds: number, from: number): Promise<{ cpuMs: number; uploads: number }> {
  const cpu = process.cpuUsage();
  let uploads = 0;
  for (let t = 0; t < seconds; t++) {
    const tick = new Promise((r) => setTimeout(r, 1000));
    const step = from + t;
    await Promise.all(
      ids.map(async (id, i) => {
        const row: HistoryRow = { _step: step, _timestamp: 1.7e12 + step * 10, _runtime: step / 100 };
        for (let m = 0; m < METRICS; m++) row[`m${m}`] = metricValue(i, m, step);
        const records: RunRecord[] = [{ k: "history", seq: 1_000_000 + step, rows: [row] }];
        const res = await fetch(`${ws.server.url}/api/v1/runs/${ws.user}/live/${id}/records`, {
          method: "POST",
          headers: { authorization: `Bearer ${ws.apiKey}`, "content-type": "application/json" },
          body: JSON.stringify(records),
        });
        if (!res.ok) throw new Error(`upload: HTTP ${res.status} ${await res.text()}`);
        uploads++;
      }),
    );
    await tick;
  }
  const used = process.cpuUsage(cpu);
  return { cpuMs: (used.user + used.system) / 1000, uploads };
}

export async function benchWorkspaceLive(runs: number, seconds: number): Promise<Figure[]> {
  const ws = await startBenchWorkspace("workspace-live");
  if (!ws) return [];
  try {
    const ids = Array.from({ length: runs }, (_, i) => `live${String(i).padStart(4, "0")}`);
    for (const [i, id] of ids.entries()) await ws.addRun("live", id, i, METRICS, STEPS, true);
    const quiet = await upload(ws, ids, seconds, STEPS);

    const page = await ws.open();
    await page.goto(workspaceUrl(ws.server, ws.user, "live", { recent: runs }));
    await page.waitForFunction(() => {
      const ps = [...document.querySelectorAll<HTMLElement>("[data-panel]")];
      return ps.length > 0 && ps.every((p) => p.dataset.ready === "true");
    });
    let requests = 0;
    page.on("request", (r) => {
      if (!r.url().endsWith("/events")) requests++;
    });
    const open = await upload(ws, ids, seconds, STEPS + seconds);
    await page.context().close();
    const what = `live workspace in Chromium: ${runs} running runs, each uploading a row a second for ${seconds} s`;
    return [
      { name: `${what}: requests by the page (${METRICS} panels)`, value: requests, baseline: open.uploads, baselineName: "uploads (events) in that time", unit: "requests", better: "lower", samples: 1 },
      { name: `${what}: CPU time of the server's process`, value: open.cpuMs, baseline: quiet.cpuMs, baselineName: "the same uploads, no page open", unit: "ms", better: "lower", samples: 1 },
    ];
  } finally {
    await ws.close();
  }
}
