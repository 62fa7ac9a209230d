/**
 * The System tab: the daemon's `system/...` samples over wall time, from `GET .../system`, with
 * readable titles and units; keys of one kind per device (`system/cpu.<i>.percent`,
 * `system/gpu.<i>.temp`) are one chart with a series per core or GPU, not one chart each.
 */
import { useEffect, useMemo, useState } from "preact/hooks";
import type { RunView, SystemMetricsView } from "../../protocol/api";
import { LineChart, type ChartSeries } from "../components/line-chart";
import { get, num, runsPath } from "../lib/api";
import { colorFor } from "../lib/colors";

/** The monitor's keys (src/daemon/system-monitor.ts, gpu.ts) by their titles. */
const TITLES: Record<string, string> = {
  cpu: "CPU utilization (%)",
  "memory.percent": "Memory used (%)",
  "memory.availableMB": "Memory available (MB)",
  "disk.percent": "Disk used (%)",
  "disk.readMB": "Disk read (MB)",
  "disk.writeMB": "Disk written (MB)",
  "network.recvMB": "Network received (MB)",
  "network.sentMB": "Network sent (MB)",
  "proc.count": "Processes",
  "proc.cpu.percent": "Process CPU (%)",
  "proc.memory.rssMB": "Process memory, resident (MB)",
  "cpu.percent": "CPU utilization per core (%)",
  "gpu.gpu": "GPU utilization (%)",
  "gpu.memory": "GPU memory used (%)",
  "gpu.memoryMB": "GPU memory used (MB)",
  "gpu.temp": "GPU temperature (°C)",
  "gpu.powerWatts": "GPU power (W)",
};

/** One chart: its title and its series' keys, each with the series' name. */
export interface SystemChart {
  title: string;
  keys: { key: string; label: string }[];
}

/**
 * Groups the keys into charts: `system/<kind>.<i>.<metric>` (a core, a GPU) into one chart per
 * kind and metric with a series per device; any other key a chart of its own.
 *
 * @example
 * systemCharts(["system/cpu.0.percent", "system/cpu.1.percent", "system/memory.percent"])
 * // [{ title: "CPU utilization per core (%)", keys: [cpu 0, cpu 1] }, { title: "Memory used (%)", ... }]
 */
export function systemCharts(keys: string[]): SystemChart[] {
  const charts = new Map<string, SystemChart>();
  for (const key of keys) {
    const name = key.replace(/^system\//, "");
    const device = /^([a-z]+)\.(\d+)\.(.+)$/.exec(name);
    const kind = device ? `${device[1]}.${device[3]}` : name;
    const title = TITLES[kind] ?? (device ? `${device[1].toUpperCase()} ${device[3]}` : name.replace(/\./g, " "));
    const chart = charts.get(kind) ?? { title, keys: [] };
    chart.keys.push({ key, label: device ? `${device[1]} ${device[2]}` : title });
    charts.set(kind, chart);
  }
  for (const c of charts.values()) c.keys.sort((a, b) => a.label.localeCompare(b.label, "en", { numeric: true }));
  return [...charts.values()].sort((a, b) => a.title.localeCompare(b.title));
}

export function SystemTab({ run, version }: { run: RunView; version: number }) {
  const [data, setData] = useState<SystemMetricsView | null>(null);
  useEffect(() => {
    get<SystemMetricsView>(`${runsPath(run.entity, run.project, run.id)}/system?limit=100000`).then(setData, () => setData({ keys: [], rows: [] }));
  }, [run.entity, run.project, run.id, version]);
  const charts = useMemo(() => {
    if (!data) return [];
    return systemCharts(data.keys).map((c) => {
      const series: ChartSeries[] = c.keys.map(({ key, label }) => {
        const rows = data.rows.filter((r) => key in r);
        return { id: `${run.id}/${key}`, label, color: c.keys.length > 1 ? colorFor(key) : colorFor(run.id), xs: rows.map((r) => r.at / 1000), ys: rows.map((r) => num(r[key])) };
      });
      return { title: c.title, series, points: series.reduce((n, s) => n + s.xs.length, 0) };
    });
  }, [data, run.id]);
  if (!data) return <p class="muted">Loading…</p>;
  if (data.keys.length === 0) return <p class="muted">No system metrics yet.</p>;
  return (
    <div class="charts">
      {charts.map((c) => (
        <LineChart key={c.title} title={c.title} yLabel={c.title} series={c.series} time xLabel="Wall time" points={c.points} />
      ))}
    </div>
  );
}
