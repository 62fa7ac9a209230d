/**
 * Stand-ins for what CHARTS builds in parallel (issue 16's contract): `colorFor`,
 * `useRunSeries`, `useProjectVersions` and a `LineChart` taking one `ChartSeries` per line with
 * its own xs. They keep the contract's names and shapes, so that once CHARTS' branch is merged
 * the workspace imports them from `lib/colors`, `lib/series`, `lib/live` and
 * `components/line-chart` instead, and this file goes.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { HistoryBucketsView, HistoryView, RunEvent } from "../../../protocol/api";
import { API, get, num, qs, runsPath } from "../../lib/api";
import { smooth } from "../line-chart";

export type XAxis = "step" | "time" | "runtime" | { key: string };
export interface SeriesData {
  xs: number[];
  ys: (number | null)[];
  min: (number | null)[];
  max: (number | null)[];
  points: number;
}
export interface ChartSeries {
  id: string;
  label: string;
  color: string;
  xs: number[];
  ys: (number | null)[];
  min?: (number | null)[];
  max?: (number | null)[];
  faint?: boolean;
}
export interface LineChartProps {
  title: string;
  series: ChartSeries[];
  xLabel: string;
  yLabel?: string;
  time?: boolean;
  smoothing?: number;
  logY?: boolean;
  ignoreOutliers?: boolean;
  onZoom?: (from: number, to: number) => void;
  height?: number;
  points?: number;
}

const PALETTE = ["#2f6fdb", "#e0662f", "#2a9d5c", "#a23fc2", "#c9a100", "#d43f6b", "#2bb0c4", "#6b6b6b", "#8c564b", "#17becf"];

/** The same colour for the same id everywhere: a hash of the id into a fixed palette. */
export function colorFor(id: string): string {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0;
  return PALETTE[h % PALETTE.length];
}

/** One run's metric as min/max buckets (the server's); refetched whole on a version bump. */
export function useRunSeries(entity: string, project: string, runId: string, key: string, x: XAxis, zoom: [number, number] | null, version: number) {
  const [data, setData] = useState<SeriesData | null>(null);
  const [error, setError] = useState<string | null>(null);
  const axis = typeof x === "string" ? x : "step";
  const xKey = typeof x === "string" ? null : x.key;
  useEffect(() => {
    let live = true;
    if (xKey !== null) {
      // A metric as x: the rows holding both keys (the first 10,000), in the order of x.
      get<HistoryView>(`${runsPath(entity, project, runId)}/history${qs({ keys: `${key},${xKey}`, limit: 10_000 })}`).then(
        (h) => {
          if (!live) return;
          const pairs = h.rows.map((r) => [num(r[xKey]), num(r[key])] as const).filter((p): p is readonly [number, number] => p[0] !== null && Number.isFinite(p[0]) && p[1] !== null);
          pairs.sort((a, b) => a[0] - b[0]);
          const ys = pairs.map((p) => p[1]);
          setData({ xs: pairs.map((p) => p[0]), ys, min: ys, max: ys, points: pairs.length });
          setError(null);
        },
        (e: Error) => live && setError(e.message),
      );
      return () => {
        live = false;
      };
    }
    const range = zoom ? { from: axis === "time" ? zoom[0] * 1000 : zoom[0], to: axis === "time" ? zoom[1] * 1000 : zoom[1] } : {};
    get<HistoryBucketsView>(`${runsPath(entity, project, runId)}/history/buckets${qs({ key, x: axis, buckets: 1000, ...range })}`).then(
      (b) => {
        if (!live) return;
        const xs = b.x === "time" ? b.xLast.map((v) => v / 1000) : b.xLast;
        setData({ xs, ys: b.count.map((c, i) => (c === 1 ? b.last[i] : b.mean[i])), min: b.min, max: b.max, points: b.points });
        setError(null);
      },
      (e: Error) => live && setError(e.message),
    );
    return () => {
      live = false;
    };
  }, [entity, project, runId, key, axis, xKey, zoom?.[0], zoom?.[1], version]);
  return { data, error };
}

/**
 * Run id -> version, going up when that run changed. Stand-in: one stream per running run
 * given (the project stream of the contract replaces it with one per page).
 */
export function useProjectVersions(entity: string, project: string, enabled: boolean, running: string[] = []): Map<string, number> {
  const [versions, setVersions] = useState(() => new Map<string, number>());
  const ids = running.slice(0, 4).join(",");
  useEffect(() => {
    if (!enabled || !ids) return;
    const sources = ids.split(",").map((id) => {
      const s = new EventSource(`${API}${runsPath(entity, project, id)}/events`);
      s.addEventListener("run", (e) => {
        void (JSON.parse((e as MessageEvent<string>).data) as RunEvent);
        setVersions((m) => new Map(m).set(id, (m.get(id) ?? 0) + 1));
      });
      return s;
    });
    return () => sources.forEach((s) => s.close());
  }, [entity, project, enabled, ids]);
  return versions;
}

/** The y range of the 1st to 99th percentile of the values (outliers left out), padded by 5%. */
function percentileRange(values: (number | null)[][]): [number, number] | null {
  const all = values.flat().filter((v): v is number => v !== null && Number.isFinite(v)).sort((a, b) => a - b);
  if (all.length < 2) return null;
  const lo = all[Math.floor(all.length * 0.01)];
  const hi = all[Math.min(all.length - 1, Math.ceil(all.length * 0.99) - 1)];
  const pad = (hi - lo || Math.abs(hi) || 1) * 0.05;
  return [lo - pad, hi + pad];
}

/**
 * The contract's chart, drawn with uPlot: each series in its own colour over the union of the
 * series' xs, smoothed with the raw line faint behind, a band where it has min and max, log
 * scale, an outlier-ignoring range, drag to zoom; the legend names every series and shows its
 * value at the cursor.
 */
export function LineChart(props: LineChartProps) {
  const el = useRef<HTMLDivElement>(null);
  const zoom = useRef(props.onZoom);
  zoom.current = props.onZoom;
  useEffect(() => {
    if (!el.current) return;
    const xs = [...new Set(props.series.flatMap((s) => s.xs))].sort((a, b) => a - b);
    const at = new Map(xs.map((x, i) => [x, i]));
    const place = (s: ChartSeries, v: (number | null)[]) => {
      const out: (number | null)[] = new Array(xs.length).fill(null);
      s.xs.forEach((x, j) => (out[at.get(x)!] = v[j] ?? null));
      return out;
    };
    const weight = props.smoothing ?? 0;
    const series: uPlot.Series[] = [{ label: props.xLabel }];
    const data: (number | null)[][] = [xs];
    const bands: uPlot.Band[] = [];
    const lines: (number | null)[][] = [];
    for (const s of props.series) {
      const raw = place(s, s.ys);
      if (weight > 0) {
        series.push({ label: `${s.label} (raw)`, stroke: `${s.color}40`, width: 1, spanGaps: true, points: { show: false } });
        data.push(raw);
      }
      series.push({ label: s.label, stroke: s.faint ? `${s.color}66` : s.color, width: s.faint ? 1 : 1.5, spanGaps: true, points: { show: xs.length < 60 && !s.faint } });
      const line = weight > 0 ? place(s, smooth(s.ys, weight)) : raw;
      data.push(line);
      lines.push(line);
      if (s.min && s.max) {
        const i = series.length;
        series.push({ label: `${s.label} min`, stroke: "transparent", spanGaps: true, points: { show: false } });
        series.push({ label: `${s.label} max`, stroke: "transparent", spanGaps: true, points: { show: false } });
        data.push(place(s, s.min), place(s, s.max));
        bands.push({ series: [i + 1, i], fill: `${s.color}33` });
      }
    }
    const range = props.ignoreOutliers ? percentileRange(lines) : null;
    const plot = new uPlot(
      {
        width: Math.max(300, el.current.clientWidth || 480),
        height: props.height ?? 220,
        scales: { x: { time: props.time ?? false }, y: { distr: props.logY ? 3 : 1, ...(range ? { range: () => range } : {}) } },
        axes: [{ label: props.xLabel }, { label: props.yLabel ?? props.title, size: 60 }],
        series,
        bands,
        cursor: { drag: { x: true, y: false, setScale: false } },
        hooks: {
          setSelect: [
            (u) => {
              if (u.select.width < 2) return;
              const from = u.posToVal(u.select.left, "x");
              const to = u.posToVal(u.select.left + u.select.width, "x");
              u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
              zoom.current?.(from, to);
            },
          ],
        },
      },
      data as unknown as uPlot.AlignedData,
      el.current,
    );
    return () => plot.destroy();
  }, [props.series, props.smoothing, props.logY, props.ignoreOutliers, props.time, props.height, props.xLabel]);
  return (
    <figure class="chart" data-chart={props.title} data-points={props.points ?? 0}>
      <figcaption>
        <strong>{props.title}</strong>
        {props.points !== undefined ? <span class="muted"> · {props.points.toLocaleString("en")} points</span> : null}
      </figcaption>
      <div ref={el} />
    </figure>
  );
}
