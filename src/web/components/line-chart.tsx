/**
 * A line chart on uPlot: one or more series over a shared x, drag to zoom (the parent refetches
 * the zoomed range at full resolution), an optional min/max band per series (so spikes show
 * even when points are merged into buckets).
 */
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface ChartSeries {
  label: string;
  /** Values at each x of the chart (null: no point there). */
  values: (number | null)[];
  min?: (number | null)[];
  max?: (number | null)[];
}

const COLORS = ["#2f6fdb", "#e0662f", "#2a9d5c", "#a23fc2", "#c9a100", "#d43f6b", "#2bb0c4", "#6b6b6b"];

export interface LineChartProps {
  title: string;
  xs: number[];
  series: ChartSeries[];
  /** x is a time in seconds since the epoch. */
  time?: boolean;
  xLabel?: string;
  /** Called with the x range a person dragged over. */
  onZoom?: (from: number, to: number) => void;
  width?: number;
  height?: number;
  /** Points logged (shown under the title, and in data-points for tests and people alike). */
  points?: number;
}

export function LineChart(props: LineChartProps) {
  const el = useRef<HTMLDivElement>(null);
  const zoom = useRef(props.onZoom);
  zoom.current = props.onZoom;
  useEffect(() => {
    if (!el.current) return;
    const series: uPlot.Series[] = [{ label: props.xLabel ?? "x" }];
    const data: uPlot.AlignedData = [props.xs] as unknown as uPlot.AlignedData;
    const bands: uPlot.Band[] = [];
    props.series.forEach((s, i) => {
      const color = COLORS[i % COLORS.length];
      series.push({ label: s.label, stroke: color, width: 1.5, spanGaps: true, points: { show: props.xs.length < 60 } });
      (data as unknown as (number | null)[][]).push(s.values);
      if (s.min && s.max) {
        const at = series.length;
        series.push({ label: `${s.label} min`, stroke: "transparent", spanGaps: true, points: { show: false } });
        series.push({ label: `${s.label} max`, stroke: "transparent", spanGaps: true, points: { show: false } });
        (data as unknown as (number | null)[][]).push(s.min, s.max);
        bands.push({ series: [at + 1, at], fill: `${color}33` });
      }
    });
    const opts: uPlot.Options = {
      width: props.width ?? Math.max(300, el.current.clientWidth || 480),
      height: props.height ?? 220,
      scales: { x: { time: props.time ?? false } },
      series,
      bands,
      legend: { show: props.series.length > 1 },
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
    };
    const plot = new uPlot(opts, data, el.current);
    return () => plot.destroy();
  }, [props.xs, props.series, props.time, props.width, props.height]);
  return (
    <figure class="chart" data-chart={props.title} data-points={props.points ?? props.xs.length}>
      <figcaption>
        <strong>{props.title}</strong>
        {props.points !== undefined ? <span class="muted"> · {props.points.toLocaleString("en")} points</span> : null}
      </figcaption>
      <div ref={el} />
    </figure>
  );
}

/** Exponential moving average (TensorBoard's smoothing): weight 0 is the raw series. */
export function smooth(values: (number | null)[], weight: number): (number | null)[] {
  if (weight <= 0) return values;
  let last: number | null = null;
  return values.map((v) => {
    if (v === null || !Number.isFinite(v)) return v;
    last = last === null ? v : last * weight + v * (1 - weight);
    return last;
  });
}
