/** Small helpers shared by the benchmarks: medians, ratios, the markdown table. */

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The value at quantile q (0.99: the 99th percentile) of xs: the nearest rank, no interpolation. */
export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

export interface Figure {
  /** What is measured. */
  name: string;
  /** trackside's median, in `unit`. */
  value: number;
  /** The baseline's median, measured in the same run. */
  baseline: number;
  baselineName: string;
  unit: string;
  /** "higher" if a larger value is better (throughput), "lower" for times and sizes. */
  better: "higher" | "lower";
  samples: number;
  goal?: string;
}

/** value/baseline, so that > 1 means "more than the baseline" whatever the unit. */
export function ratio(f: Figure): number {
  return f.value / f.baseline;
}

export function fmt(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)} k`;
  if (n >= 100) return n.toFixed(0);
  return n.toFixed(n >= 10 ? 1 : 2);
}

export function table(figures: Figure[]): string {
  const rows = figures.map((f) => `| ${f.name} | ${fmt(f.value)} ${f.unit} | ${f.baselineName}: ${fmt(f.baseline)} ${f.unit} | ${ratio(f).toFixed(2)}x | ${f.goal ?? ""} | ${f.samples} |`);
  return ["| figure | trackside (median) | baseline, same run (median) | ratio | goal | runs |", "| --- | --- | --- | --- | --- | --- |", ...rows].join("\n");
}

export function rows10(n: number, offset = 0): Record<string, number>[] {
  const out: Record<string, number>[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const s = offset + i;
    out[i] = { m0: s, m1: s * 0.5, m2: s * 0.25, m3: 1 / (s + 1), m4: s % 7, m5: s * 1.5, m6: s * 2.5, m7: s * 3.5, m8: -s, m9: s + 0.125 };
  }
  return out;
}

export function makeRow(s: number): Record<string, number> {
  return { m0: s, m1: s * 0.5, m2: s * 0.25, m3: 1 / (s + 1), m4: s % 7, m5: s * 1.5, m6: s * 2.5, m7: s * 3.5, m8: -s, m9: s + 0.125 };
}

/**
 * Steps start..start+n-1 as the client sends them, in columns: `_step`, `_timestamp`
 * (1.7e12 + step ms), `_runtime` (step / 1000 s) and makeRow's ten metrics.
 */
export function historyColumns(start: number, n: number): Record<string, Float64Array> {
  const cols: Record<string, Float64Array> = { _step: new Float64Array(n), _timestamp: new Float64Array(n), _runtime: new Float64Array(n) };
  for (const k of Object.keys(makeRow(0))) cols[k] = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const s = start + i;
    cols._step[i] = s;
    cols._timestamp[i] = 1.7e12 + s;
    cols._runtime[i] = s / 1000;
    for (const [k, v] of Object.entries(makeRow(s))) cols[k][i] = v;
  }
  return cols;
}
