/**
 * One panel of the workspace: one or more metrics of every visible run in one chart, each run in
 * its own colour, or each group as its mean line with a min-max band (and its members faintly,
 * when asked). Each metric fetches every run's series in one request (usePanelSeries), and when a
 * run logs a point only that run's new points are asked for: one request per panel. A panel
 * fetches nothing until it first comes near the viewport, so a workspace of many panels costs
 * the server only what a person can see.
 */
import { useCallback, useEffect, useMemo, useState } from "preact/hooks";
import type { RunListItem } from "../../../protocol/api";
import { formatValue } from "../../lib/format";
import { axisLabel, xAxisOf, type Axis, type ChartControls, type PanelState } from "../../lib/url-state";
import { AxisOptions } from "./axis-options";
import { aggregate, groupRuns } from "./grouping";
import { colorFor } from "../../lib/colors";
import { usePanelSeries } from "../../lib/panel-series";
import type { SeriesData } from "../../lib/series";
import { LineChart, type ChartSeries } from "../line-chart";
import { useNearViewport } from "../../lib/near-viewport";


interface Props {
  entity: string;
  project: string;
  panel: PanelState;
  runs: RunListItem[];
  groupBy: string;
  members: boolean;
  /** The workspace's controls; the panel's own override them. */
  controls: ChartControls;
  versions: Map<string, number>;
  /** Metrics offered as an x axis. */
  allMetrics: string[];
  onChange: (p: PanelState) => void;
  onRemove: () => void;
  onMove: (by: -1 | 1) => void;
}

/** A series' key in the panel: with the x axis, so that a new axis never draws the old axis' data. */
const seriesKey = (run: string, metric: string, x: Axis) => `${run}\u0000${metric}\u0000${x}`;

/** Fetches one metric of every run in one request and hands the series up; draws nothing. */
function Source(props: { entity: string; project: string; runs: string[]; metric: string; x: ChartControls["x"]; zoom: [number, number] | null; versions: Map<string, number>; onData: (ds: [string, SeriesData][]) => void }) {
  const { data } = usePanelSeries(props.entity, props.project, props.runs, props.metric, xAxisOf(props.x ?? "step"), props.zoom, props.versions);
  useEffect(() => {
    if (data.size > 0) props.onData([...data].map(([run, d]) => [seriesKey(run, props.metric, props.x ?? "step"), d]));
  }, [data]);
  return null;
}

export function Panel({ entity, project, panel, runs, groupBy, members, controls, versions, allMetrics, onChange, onRemove, onMove }: Props) {
  const c = { ...controls, ...Object.fromEntries(Object.entries(panel).filter(([k, v]) => ["x", "smoothing", "logY", "ignoreOutliers"].includes(k) && v !== undefined)) } as ChartControls;
  const x: Axis = c.x ?? "step";
  const [data, setData] = useState(() => new Map<string, SeriesData>());
  const onData = useCallback((ds: [string, SeriesData][]) => setData((m) => new Map([...m, ...ds])), []);
  const many = panel.metrics.length > 1;
  const [box, seen] = useNearViewport<HTMLDivElement>();
  const zoom = panel.zoom ?? null;
  const runIds = useMemo(() => runs.map((r) => r.id), [runs.map((r) => r.id).join(",")]);

  const series = useMemo(() => {
    const out: ChartSeries[] = [];
    for (const metric of panel.metrics) {
      const name = (s: string) => (many ? `${s} · ${metric}` : s);
      if (groupBy) {
        for (const [g, rs] of groupRuns(runs, groupBy)) {
          const ds = rs.map((r) => data.get(seriesKey(r.id, metric, x))).filter((d): d is SeriesData => !!d);
          if (!ds.length) continue;
          const a = aggregate(ds);
          const id = `group:${groupBy}=${g}`;
          out.push({ id, label: name(`${g} (${rs.length})`), color: colorFor(id), xs: a.xs, ys: a.ys, min: a.min, max: a.max });
          if (members) rs.forEach((r) => {
            const d = data.get(seriesKey(r.id, metric, x));
            if (d) out.push({ id: r.id, label: name(r.name), color: colorFor(r.id), xs: d.xs, ys: d.ys, faint: true });
          });
        }
      } else {
        for (const r of runs) {
          const d = data.get(seriesKey(r.id, metric, x));
          if (d) out.push({ id: r.id, label: name(r.name), color: colorFor(r.id), xs: d.xs, ys: d.ys, ...(d.points > d.xs.length ? { min: d.min, max: d.max } : {}) });
        }
      }
    }
    return out;
  }, [data, runs, groupBy, members, x, panel.metrics.join("\u0000")]);
  const points = runs.reduce((s, r) => s + panel.metrics.reduce((t, m) => t + (data.get(seriesKey(r.id, m, x))?.points ?? 0), 0), 0);
  const title = panel.metrics.join(", ");
  // Every (run, metric) series has come: the panel is drawn (data-ready, for tests and benchmarks).
  const ready = seen && runs.every((r) => panel.metrics.every((m) => data.has(seriesKey(r.id, m, x))));
  const historyLess = ready && runs.length > 0 && points === 0;

  return (
    <div ref={box} class={`panel span-${panel.span ?? 1}`} data-panel={title} data-ready={ready ? "true" : "false"}>
      {!seen ? null : panel.metrics.map((m) => <Source key={`${m}/${x}`} entity={entity} project={project} runs={runIds} metric={m} x={x} zoom={zoom} versions={versions} onData={onData} />)}
      <div class="panel-bar">
        <button type="button" class="link" aria-label={`Move ${title} earlier`} onClick={() => onMove(-1)}>◀</button>
        <button type="button" class="link" aria-label={`Move ${title} later`} onClick={() => onMove(1)}>▶</button>
        <button type="button" class="link" aria-label={`Resize ${title}`} onClick={() => onChange({ ...panel, span: (panel.span ?? 1) === 1 ? 2 : 1 })}>{(panel.span ?? 1) === 1 ? "Wider" : "Narrower"}</button>
        <details class="panel-settings">
          <summary aria-label={`Settings of ${title}`}>⚙</summary>
          <div class="menu">
            <label>
              Metrics <input aria-label={`Metrics of ${title}`} value={panel.metrics.join(", ")} onChange={(e) => onChange({ ...panel, metrics: e.currentTarget.value.split(",").map((s) => s.trim()).filter(Boolean) })} />
            </label>
            <label>
              x{" "}
              <select aria-label={`x axis of ${title}`} value={panel.x ?? ""} onChange={(e) => onChange({ ...panel, x: (e.currentTarget.value || undefined) as PanelState["x"], zoom: null })}>
                <option value="">Workspace's</option>
                <AxisOptions metrics={allMetrics} />
              </select>
            </label>
            <label>
              Smoothing <input type="number" min={0} max={0.99} step={0.05} aria-label={`Smoothing of ${title}`} value={panel.smoothing ?? ""} onChange={(e) => onChange({ ...panel, smoothing: e.currentTarget.value === "" ? undefined : Number(e.currentTarget.value) })} />
            </label>
            <label>
              <input type="checkbox" aria-label={`Log scale of ${title}`} checked={c.logY ?? false} onChange={(e) => onChange({ ...panel, logY: e.currentTarget.checked })} /> Log scale
            </label>
            <label>
              <input type="checkbox" aria-label={`Ignore outliers of ${title}`} checked={c.ignoreOutliers ?? false} onChange={(e) => onChange({ ...panel, ignoreOutliers: e.currentTarget.checked })} /> Ignore outliers
            </label>
          </div>
        </details>
        <button type="button" class="link" aria-label={`Remove ${title}`} onClick={onRemove}>✕</button>
      </div>
      {historyLess ? (
        <p class="muted" data-history-less>
          {title}: no history logged, only a summary value ({runs.map((r) => `${r.name}: ${panel.metrics.map((m) => formatValue(r.summary[m])).join(", ")}`).join("; ")}).
        </p>
      ) : (
        <LineChart
          title={title}
          series={series}
          xLabel={axisLabel(x)}
          yLabel={title}
          time={x === "time"}
          smoothing={c.smoothing ?? 0}
          logY={c.logY}
          ignoreOutliers={c.ignoreOutliers}
          points={points}
          onZoom={(a, b) => onChange({ ...panel, zoom: [a, b] })}
        />
      )}
      {zoom ? <button type="button" class="link" onClick={() => onChange({ ...panel, zoom: null })}>Reset zoom</button> : null}
      {/* The drawn series, for tests and tools: one item per series, its values as the item's
          `seriesValues` property (not attributes: 50 runs' JSON in the DOM cost every panel more
          than drawing it). */}
      <ul class="series-data" hidden>
        {series.map((s) => (
          <li
            key={s.id}
            data-series={s.label}
            data-color={s.color}
            ref={(el) => {
              if (el) (el as HTMLLIElement & { seriesValues?: unknown }).seriesValues = { xs: s.xs, ys: s.ys, min: s.min ?? null, max: s.max ?? null };
            }}
          />
        ))}
      </ul>
    </div>
  );
}
