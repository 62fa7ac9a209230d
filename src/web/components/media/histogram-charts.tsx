/**
 * Histograms drawn: a heat map of a key over steps (x: step, y: value, darker: more of the
 * values of that step fall there; each step's column scaled to its own largest count, so a
 * narrowing distribution reads as one whatever the number of values), and one step's
 * distribution as bars. Drawn on a canvas and in SVG; the numbers drawn are in data attributes,
 * for people's tools and tests to read.
 */
import { useEffect, useMemo, useRef } from "preact/hooks";
import { regrid, type Histogram, type MediaEntry } from "../../lib/media";

/** An axis label: three significant digits (11.5, 0.968, -9.53, 1.2e-5). */
const tick = (v: number) => (v !== 0 && (Math.abs(v) >= 1e5 || Math.abs(v) < 1e-3) ? v.toExponential(1) : String(Number(v.toPrecision(3))));

/** Rows of the heat map's value grid. */
const ROWS = 64;
const HEIGHT = 160;

/** White to the app's blue, through light blues: a sequential scale that prints and reads in grey. */
function shade(t: number): string {
  const from = [247, 251, 255];
  const to = [8, 48, 107];
  const c = from.map((f, i) => Math.round(f + (to[i] - f) * Math.sqrt(t)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

interface HeatMapProps {
  entries: MediaEntry[];
  /** The step the distribution beside shows: marked with a line. */
  step: number;
  /** A click on a column picks its step. */
  onStep: (step: number) => void;
  label: string;
}

export function HistogramHeatMap({ entries, step, onStep, label }: HeatMapProps) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const { lo, hi, grid } = useMemo(() => regrid(entries.map((e) => e.value as Histogram), ROWS), [entries]);
  useEffect(() => {
    const c = canvas.current;
    if (!c) return;
    const width = Math.max(200, c.clientWidth || 400);
    c.width = width;
    c.height = HEIGHT;
    const g = c.getContext("2d");
    if (!g) return;
    g.fillStyle = shade(0);
    g.fillRect(0, 0, width, HEIGHT);
    const colW = width / Math.max(1, grid.length);
    const rowH = HEIGHT / ROWS;
    grid.forEach((col, x) => {
      const top = Math.max(...col);
      if (top <= 0) return;
      col.forEach((v, r) => {
        if (v <= 0) return;
        g.fillStyle = shade(v / top);
        // Row 0 holds the smallest values: drawn at the bottom. Columns overlap by a hair so that no seam shows.
        g.fillRect(Math.floor(x * colW), HEIGHT - (r + 1) * rowH, Math.ceil(colW) + 0.5, Math.ceil(rowH));
      });
    });
    const at = entries.findIndex((e) => e.step === step);
    if (at >= 0) {
      g.strokeStyle = "#dc2626";
      g.lineWidth = 1.5;
      g.beginPath();
      g.moveTo((at + 0.5) * colW, 0);
      g.lineTo((at + 0.5) * colW, HEIGHT);
      g.stroke();
    }
  }, [grid, entries, step]);
  const first = entries[0]?.step ?? 0;
  const last = entries[entries.length - 1]?.step ?? 0;
  return (
    <div class="heatmap" data-heatmap={label} data-steps={entries.length} data-range={JSON.stringify([lo, hi])}>
      <div class="heatmap-body">
        <div class="y-ticks muted">
          <span>{tick(hi)}</span>
          <span>{tick((lo + hi) / 2)}</span>
          <span>{tick(lo)}</span>
        </div>
        <canvas
          ref={canvas}
          role="img"
          aria-label={`${label} over steps`}
          onClick={(e) => {
            const r = e.currentTarget.getBoundingClientRect();
            const i = Math.floor(((e.clientX - r.left) / r.width) * entries.length);
            if (entries[i]) onStep(entries[i].step);
          }}
        />
      </div>
      <div class="x-ticks muted">
        <span>Step {first.toLocaleString("en")}</span>
        <span>Step {last.toLocaleString("en")}</span>
      </div>
    </div>
  );
}

/**
 * One step's distribution as bars over its own bins, or over `range` (runs side by side share
 * one value axis, so that a wider distribution looks wider).
 */
export function HistogramBars({ hist, label, step, range }: { hist: Histogram; label: string; step: number; range?: [number, number] }) {
  const n = hist.counts.length;
  const top = Math.max(0, ...hist.counts);
  const lo = range?.[0] ?? hist.bins[0] ?? 0;
  const hi = range?.[1] ?? hist.bins[n] ?? 0;
  const span = hi - lo || 1;
  const total = hist.counts.reduce((a, b) => a + b, 0);
  return (
    <div class="histogram" data-histogram={label} data-step={step} data-bins={JSON.stringify(hist.bins)} data-counts={JSON.stringify(hist.counts)}>
      <div class="histogram-body">
        <div class="y-ticks muted">
          <span>{top.toLocaleString("en")}</span>
          <span>0</span>
        </div>
        <svg viewBox={`0 0 1000 ${HEIGHT}`} preserveAspectRatio="none" role="img" aria-label={`${label} at step ${step}`}>
          {hist.counts.map((c, i) => {
            const x = ((hist.bins[i] - lo) / span) * 1000;
            const w = ((hist.bins[i + 1] - hist.bins[i]) / span) * 1000;
            const h = top > 0 ? (c / top) * HEIGHT : 0;
            return (
              <rect key={i} x={x} y={HEIGHT - h} width={Math.max(w - 0.6, 0.4)} height={h} class="bar">
                <title>
                  [{tick(hist.bins[i])}, {tick(hist.bins[i + 1])}): {c.toLocaleString("en")}
                </title>
              </rect>
            );
          })}
        </svg>
      </div>
      <div class="x-ticks muted">
        <span>{tick(lo)}</span>
        <span>
          {total.toLocaleString("en")} values · {n} bins
        </span>
        <span>{tick(hi)}</span>
      </div>
    </div>
  );
}
