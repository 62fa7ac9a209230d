/** The Charts tab: one chart per history metric, x by step, wall time or runtime; search; smoothing. */
import { useEffect, useState } from "preact/hooks";
import type { HistoryView, RunView } from "../../protocol/api";
import { AXIS_LABEL, MetricChart, type Axis } from "../components/metric-chart";
import { get, qs, runsPath } from "../lib/api";

/** Metric keys: those of the summary and of the first rows (a metric may start late; its summary names it). */
export function useMetricKeys(run: RunView, version: number): string[] | null {
  const [keys, setKeys] = useState<string[] | null>(null);
  useEffect(() => {
    get<HistoryView>(`${runsPath(run.entity, run.project, run.id)}/history${qs({ limit: 1000 })}`).then((h) => {
      const found = new Set<string>();
      for (const row of h.rows) for (const [k, v] of Object.entries(row)) if (typeof v === "number" || v === "NaN") found.add(k);
      for (const [k, v] of Object.entries(run.summary)) if (typeof v === "number") found.add(k);
      setKeys([...found].filter((k) => !k.startsWith("_")).sort());
    }, () => setKeys([]));
  }, [run.entity, run.project, run.id, version > 0 && run.historySteps < 1000 ? version : 0]);
  return keys;
}

export function ChartsTab({ run, version }: { run: RunView; version: number }) {
  const keys = useMetricKeys(run, version);
  const [x, setX] = useState<Axis>("step");
  const [search, setSearch] = useState("");
  const [smoothing, setSmoothing] = useState(0);
  if (keys === null) return <p class="muted">Loading…</p>;
  const shown = keys.filter((k) => k.toLowerCase().includes(search.toLowerCase()));
  return (
    <section>
      <div class="toolbar">
        <input type="search" aria-label="Search metrics" placeholder="Search metrics" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
        <label>
          x{" "}
          <select aria-label="x axis" value={x} onChange={(e) => setX(e.currentTarget.value as Axis)}>
            {(Object.keys(AXIS_LABEL) as Axis[]).map((a) => (
              <option value={a} key={a}>
                {AXIS_LABEL[a]}
              </option>
            ))}
          </select>
        </label>
        <label>
          Smoothing{" "}
          <input type="range" aria-label="Smoothing" min={0} max={0.99} step={0.01} value={smoothing} onInput={(e) => setSmoothing(Number(e.currentTarget.value))} />{" "}
          {smoothing.toFixed(2)}
        </label>
        <span class="muted">Drag over a chart to zoom.</span>
      </div>
      {shown.length === 0 ? <p class="muted">{keys.length ? "No metric matches." : "No metrics logged yet."}</p> : null}
      <div class="charts">
        {shown.map((k) => (
          <MetricChart key={k} entity={run.entity} project={run.project} id={run.id} metric={k} x={x} smoothing={smoothing} version={version} />
        ))}
      </div>
    </section>
  );
}
