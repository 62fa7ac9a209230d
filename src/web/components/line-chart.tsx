/**
 * The chart engine of every page, on uPlot: any number of series, each with its own x values
 * (aligned by uPlot.join), a legend naming each, a tooltip with every series' value at the
 * cursor, axis titles, EMA smoothing with the raw line kept faintly behind, log y, a y range that
 * ignores outliers, an optional min/max band per series, and drag to zoom (the parent fetches
 * the zoomed range at full resolution).
 */
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface ChartSeries {
  /** Stable key: a run id, or a group's key. */
  id: string;
  /** Legend and tooltip name (a run's display name). */
  label: string;
  /** From colorFor(id). */
  color: string;
  /** This series' own x values, ascending (seconds since the epoch on a time axis). */
  xs: number[];
  /** Raw line values (the chart smooths them when props.smoothing > 0). */
  ys: (number | null)[];
  /** Optional band (bucket min/max, or a group's min/max). */
  min?: (number | null)[];
  max?: (number | null)[];
  /** Drawn thin and translucent (a group's members). */
  faint?: boolean;
}

export interface LineChartProps {
  title: string;
  /** Any number; different xs are aligned by the chart. */
  series: ChartSeries[];
  /** The x axis title. */
  xLabel: string;
  /** The y axis title (default: the title). */
  yLabel?: string;
  /** x is wall time (seconds since the epoch). */
  time?: boolean;
  /** EMA weight 0..0.99; the raw line stays drawn faintly behind. */
  smoothing?: number;
  logY?: boolean;
  /** y range from the 1st to the 99th percentile. */
  ignoreOutliers?: boolean;
  /** Called with the x range a person dragged over. */
  onZoom?: (from: number, to: number) => void;
  height?: number;
  /** Points logged (shown under the title, and in data-points for tests and people alike). */
  points?: number;
}

/** Exponential moving average (TensorBoard's smoothing, debiased): weight 0 is the raw series. */
export function ema(values: (number | null)[], weight: number): (number | null)[] {
  if (weight <= 0) return values;
  let acc = 0;
  let n = 0;
  return values.map((v) => {
    if (v === null || !Number.isFinite(v)) return v;
    acc = acc * weight + v * (1 - weight);
    n++;
    // Debiasing keeps the first points where they were instead of pulled towards 0.
    return acc / (1 - weight ** n);
  });
}

/**
 * Tick labels with as many decimals as the tick spacing needs (0.0021, 0.0022, never "0.002"
 * twice), grouped thousands, and exponents for the very large and very small.
 */
export function tickLabels(values: number[], incr: number): string[] {
  let decimals = Math.max(0, Math.min(12, -Math.floor(Math.log10(Math.abs(incr) || 1) + 1e-9)));
  // Enough for the spacing itself: ticks 2.5 apart read 12.5, 15.0, 17.5, never 13, 15, 18.
  while (decimals < 12 && Math.abs(incr * 10 ** decimals - Math.round(incr * 10 ** decimals)) > 1e-6) decimals++;
  return values.map((v) => {
    if (v === null || !Number.isFinite(v)) return "";
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e9 || a < 1e-4)) return v.toExponential(Math.max(0, Math.min(6, decimals - Math.floor(Math.log10(a)))));
    return v.toLocaleString("en", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
  });
}

/** The axis's width in pixels, from its longest label (so 23,340 is never cut to 3,340). */
function axisSize(u: uPlot, values: string[] | null, axisIdx: number): number {
  const axis = u.axes[axisIdx];
  const longest = (values ?? []).reduce((m, s) => Math.max(m, String(s).length), 0);
  // About 7 px a character of uPlot's 12 px font, plus the ticks, the gap and the axis title.
  return Math.ceil(longest * 7.2) + (axis.ticks?.size ?? 10) + (axis.gap ?? 5) + 6;
}

/** The 1st..99th percentile of the finite values, padded by 5% (null: nothing to range). */
function robustRange(columns: (number | null)[][]): [number, number] | null {
  const all: number[] = [];
  for (const c of columns) for (const v of c) if (v !== null && Number.isFinite(v)) all.push(v);
  if (all.length === 0) return null;
  all.sort((a, b) => a - b);
  const lo = all[Math.floor((all.length - 1) * 0.01)];
  const hi = all[Math.ceil((all.length - 1) * 0.99)];
  const pad = (hi - lo) * 0.05 || Math.abs(hi) * 0.05 || 1;
  return [lo - pad, hi + pad];
}

const fmtValue = (v: number | null | undefined): string =>
  v === null || v === undefined ? "–" : Number.isFinite(v) ? (Math.abs(v) >= 1e6 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(4) : v.toLocaleString("en", { maximumSignificantDigits: 6 })) : String(v);

export function LineChart(props: LineChartProps) {
  const el = useRef<HTMLDivElement>(null);
  const tip = useRef<HTMLDivElement>(null);
  const fig = useRef<HTMLElement>(null);
  const zoom = useRef(props.onZoom);
  zoom.current = props.onZoom;
  useEffect(() => {
    const host = el.current;
    if (!host) return;
    const smoothing = props.smoothing ?? 0;
    // Each ChartSeries gives its table [xs, line, raw?, min?, max?]; join aligns them on one x.
    const tables: uPlot.AlignedData[] = [];
    const series: uPlot.Series[] = [{ label: props.xLabel }];
    const bands: uPlot.Band[] = [];
    /** Per chart series: its index in the joined data, and whether the tooltip lists it. */
    const listed: { idx: number; raw: number | null; label: string; color: string }[] = [];
    let idx = 1;
    const lines: (number | null)[][] = [];
    for (const s of props.series) {
      const cols: (number | null)[][] = [];
      const line = smoothing > 0 ? ema(s.ys, smoothing) : s.ys;
      cols.push(line);
      lines.push(line);
      series.push({ label: s.label, stroke: s.color, width: s.faint ? 1 : 1.75, alpha: s.faint ? 0.35 : 1, spanGaps: true, points: { show: s.xs.length < 60 && !s.faint } });
      listed.push({ idx, raw: smoothing > 0 ? idx + 1 : null, label: s.label, color: s.color });
      idx++;
      if (smoothing > 0) {
        cols.push(s.ys);
        series.push({ label: `${s.label} (raw)`, stroke: s.color, width: 1, alpha: 0.25, spanGaps: true, points: { show: false } });
        idx++;
      }
      if (s.min && s.max) {
        cols.push(s.min, s.max);
        series.push({ label: `${s.label} min`, stroke: "transparent", spanGaps: true, points: { show: false } });
        series.push({ label: `${s.label} max`, stroke: "transparent", spanGaps: true, points: { show: false } });
        bands.push({ series: [idx + 1, idx], fill: `${s.color}2e` });
        idx += 2;
      }
      tables.push([s.xs, ...cols] as unknown as uPlot.AlignedData);
    }
    const data: uPlot.AlignedData = tables.length === 0 ? ([[]] as unknown as uPlot.AlignedData) : tables.length === 1 ? tables[0] : uPlot.join(tables);
    const range = props.ignoreOutliers ? robustRange(lines) : null;
    const showTip = (u: uPlot) => {
      const t = tip.current;
      if (!t) return;
      const i = u.cursor.idx;
      if (i === null || i === undefined || u.cursor.left === undefined || u.cursor.left < 0) {
        t.hidden = true;
        return;
      }
      const x = u.data[0][i];
      const head = props.time ? new Date(x * 1000).toISOString().replace("T", " ").slice(0, 19) : fmtValue(x);
      const at = (k: number) => (u.data[k] as (number | null)[])[i];
      const rows = listed.map((l) => ({ ...l, v: at(l.idx), rawV: l.raw === null ? undefined : at(l.raw) }));
      t.replaceChildren();
      const h = document.createElement("div");
      h.className = "tip-x";
      h.textContent = `${props.xLabel}: ${head}`;
      t.append(h);
      for (const r of rows) {
        const row = document.createElement("div");
        row.className = "tip-row";
        row.dataset.series = r.label;
        const sw = document.createElement("span");
        sw.className = "swatch";
        sw.style.background = r.color;
        row.append(sw, `${r.label}: ${fmtValue(r.v)}${r.rawV === undefined ? "" : ` (raw ${fmtValue(r.rawV)})`}`);
        t.append(row);
      }
      t.hidden = false;
      t.style.left = `${Math.min(u.cursor.left + 60, u.width - 160)}px`;
      t.style.top = `${(u.cursor.top ?? 0) + 10}px`;
    };
    const opts: uPlot.Options = {
      width: Math.max(300, host.clientWidth || 480),
      height: props.height ?? 240,
      scales: {
        x: { time: props.time ?? false },
        y: {
          ...(props.logY ? { distr: 3 } : {}),
          ...(range && !props.logY ? { range: () => range } : {}),
        },
      },
      series,
      bands,
      axes: [
        // Time labels are long ("12:00:40"): more room between ticks, so they never overlap.
        { space: props.time ? 110 : 60 },
        { size: axisSize, ...(props.logY ? {} : { values: (_u: uPlot, v: number[], _a: number, _s: number, incr: number) => tickLabels(v, incr) }) },
      ],
      legend: { show: true, live: false },
      cursor: { drag: { x: true, y: false, setScale: false } },
      hooks: {
        setCursor: [showTip],
        // The axis labels as drawn (on the canvas), for people's tools and tests to read.
        draw: [
          (u) => {
            const labels = (i: number) => (u.axes[i] as uPlot.Axis & { _values?: string[] | null })._values;
            const [xTicks, yTicks] = [labels(0), labels(1)];
            if (fig.current && xTicks) fig.current.dataset.xTicks = JSON.stringify(xTicks);
            if (fig.current && yTicks) fig.current.dataset.yTicks = JSON.stringify(yTicks);
          },
        ],
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
    const plot = new uPlot(opts, data, host);
    // Raw lines behind smoothed ones, and min/max helpers, stay out of the legend.
    plot.root.querySelectorAll(".u-legend .u-series").forEach((row, i) => {
      if (i > 0 && !listed.some((l) => l.idx === i)) (row as HTMLElement).style.display = "none";
    });
    return () => plot.destroy();
  }, [props.series, props.time, props.height, props.smoothing, props.logY, props.ignoreOutliers, props.xLabel, props.yLabel, props.title]);
  const drawn = props.series.reduce((n, s) => n + s.xs.length, 0);
  const points = props.points ?? drawn;
  return (
    <figure ref={fig} class="chart" data-chart={props.title} data-points={points} data-drawn={drawn} data-series={props.series.length}>
      <figcaption>
        <strong>{props.title}</strong>
        {props.points !== undefined ? <span class="muted"> · {props.points.toLocaleString("en")} points</span> : null}
      </figcaption>
      {/* Axis titles as text, not drawn on the canvas: readable, selectable, and found by tests. */}
      <div class="axis-title y" data-axis="y">
        {props.yLabel ?? props.title}
      </div>
      <div class="chart-plot">
        <div ref={el} />
        <div ref={tip} class="chart-tooltip" role="tooltip" hidden />
      </div>
      <div class="axis-title x" data-axis="x">
        {props.xLabel}
      </div>
    </figure>
  );
}
