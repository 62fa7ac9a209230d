/**
 * A logged metric as the x axis of another (`acc` against `lr`, say): the points of the y metric
 * paired with the x metric's value at the same step. Shared by every backend, which only hands
 * over both metrics' columns on the step axis (cached as for any chart), so their answers agree.
 */
import type { Columns } from "./history-columns.js";

/**
 * Pairs y's points with x's at equal steps; a step where either metric has no point is left
 * out. Steps in ascending order (nearly every run) take one merge pass; any other order a map
 * of x's steps. Where a step repeats, its last x is used.
 *
 * @example
 * joinOnStep({ xs: [0, 1, 2], ys: [0.1, 0.2, 0.3], n: 3 }, { xs: [1, 2], ys: [5, 6], n: 2 })
 * // { xs: [0.2, 0.3], ys: [5, 6], n: 2 }
 */
export function joinOnStep(x: Pick<Columns, "xs" | "ys" | "n">, y: Pick<Columns, "xs" | "ys" | "n">): { xs: Float64Array; ys: Float64Array; n: number } {
  const xs = new Float64Array(y.n);
  const ys = new Float64Array(y.n);
  let n = 0;
  if (ascending(x.xs, x.n) && ascending(y.xs, y.n)) {
    let i = 0;
    for (let j = 0; j < y.n; j++) {
      const step = y.xs[j];
      while (i < x.n && x.xs[i] < step) i++;
      // The last x point of this step (a step logged twice keeps its newer value).
      let k = i;
      while (k + 1 < x.n && x.xs[k + 1] === step) k++;
      if (k < x.n && x.xs[k] === step) {
        xs[n] = x.ys[k];
        ys[n] = y.ys[j];
        n++;
      }
    }
  } else {
    const at = new Map<number, number>();
    for (let i = 0; i < x.n; i++) at.set(x.xs[i], x.ys[i]);
    for (let j = 0; j < y.n; j++) {
      const v = at.get(y.xs[j]);
      if (v === undefined) continue;
      xs[n] = v;
      ys[n] = y.ys[j];
      n++;
    }
  }
  return { xs, ys, n };
}

function ascending(a: Float64Array, n: number): boolean {
  for (let i = 1; i < n; i++) if (!(a[i] >= a[i - 1])) return false;
  return true;
}
