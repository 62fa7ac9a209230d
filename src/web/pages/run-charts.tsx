/**
 * The Charts tab: one chart per history metric, x by step, relative time, wall time or another
 * logged metric; search;
 * EMA smoothing (the raw line stays drawn faintly behind), log y, outlier-ignoring y range. A
 * key that only the summary holds shows its value, not an empty chart.
 */
import { useEffect, useMemo, useState } from "preact/hooks";
import type { HistoryView, RunView } from "../../protocol/api";
import { MetricChart } from "../components/metric-chart";
import { get, qs, runsPath } from "../lib/api";
import { AXIS_LABEL, axisName, type XAxis } from "../lib/series";

type Axis = keyof typeof AXIS_LABEL;

/** The x select's value of an axis ("step", or "key:<metric>") and back. */
const parseAxis = (v: string): XAxis => (v.startsWith("key:") ? { key: v.slice(4) } : (v as Axis));

/**
 * Metric keys: those of the first rows and of the summary (a metric may start late; its summary
 * names it). The rows are read once; a live change adds the keys the run's summary (read again
 * by the run page) gained, with no request of its own.
 */
export function useMetricKeys(run: RunView): string[] | null {
  const [fromRows, setFromRows] = useState<string[] | null>(null);
  useEffect(() => {
    get<HistoryView>(`${runsPath(run.entity, run.project, run.id)}/history${qs({ limit: 1000, media: "false" })}`).then((h) => {
      const found = new Set<string>();
      for (const row of h.rows) for (const [k, v] of Object.entries(row)) if (typeof v === "number" || v === "NaN") found.add(k);
      setFromRows([...found]);
    }, () => setFromRows([]));
  }, [run.entity, run.project, run.id]);
  return useMemo(() => {
    if (fromRows === null) return null;
    const found = new Set(fromRows);
    for (const [k, v] of Object.entries(run.summary)) if (typeof v === "number") found.add(k);
    return [...found].filter((k) => !k.startsWith("_")).sort();
  }, [fromRows, run.summary]);
}

export function ChartsTab({ run, version }: { run: RunView; version: number }) {
  const keys = useMetricKeys(run);
  const [x, setX] = useState<XAxis>("step");
  const [search, setSearch] = useState("");
  const [smoothing, setSmoothing] = useState(0);
  const [logY, setLogY] = useState(false);
  const [ignoreOutliers, setIgnoreOutliers] = useState(false);
  if (keys === null) return <p class="muted">Loading…</p>;
  const shown = keys.filter((k) => k.toLowerCase().includes(search.toLowerCase()));
  return (
    <section>
      <div class="toolbar">
        <input type="search" aria-label="Search metrics" placeholder="Search metrics" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
        <label>
          x{" "}
          <select aria-label="x axis" value={axisName(x)} onChange={(e) => setX(parseAxis(e.currentTarget.value))}>
            {(Object.keys(AXIS_LABEL) as Axis[]).map((a) => (
              <option value={a} key={a}>
                {AXIS_LABEL[a]}
              </option>
            ))}
            <optgroup label="Metric">
              {keys.map((k) => (
                <option value={`key:${k}`} key={k}>
                  {k}
                </option>
              ))}
            </optgroup>
          </select>
        </label>
        <label>
          Smoothing{" "}
          <input type="range" aria-label="Smoothing" min={0} max={0.99} step={0.01} value={smoothing} onInput={(e) => setSmoothing(Number(e.currentTarget.value))} />{" "}
          {smoothing.toFixed(2)}
        </label>
        <label>
          <input type="checkbox" aria-label="Log scale" checked={logY} onChange={(e) => setLogY(e.currentTarget.checked)} /> Log y
        </label>
        <label>
          <input type="checkbox" aria-label="Ignore outliers" checked={ignoreOutliers} onChange={(e) => setIgnoreOutliers(e.currentTarget.checked)} /> Ignore outliers
        </label>
        <span class="muted">Drag over a chart to zoom.</span>
      </div>
      {shown.length === 0 ? <p class="muted">{keys.length ? "No metric matches." : "No metrics logged yet."}</p> : null}
      <div class="charts">
        {shown.map((k) => (
          <MetricChart
            key={k}
            entity={run.entity}
            project={run.project}
            id={run.id}
            runName={run.name}
            metric={k}
            summary={run.summary[k]}
            x={x}
            smoothing={smoothing}
            logY={logY}
            ignoreOutliers={ignoreOutliers}
            version={version}
          />
        ))}
      </div>
    </section>
  );
}
