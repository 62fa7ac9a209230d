/**
 * Downsampling of one history metric for charts: equal-width buckets along x, each keeping
 * min, max (so no spike disappears at any zoom), mean and the last point. One pass over the
 * points; independent of the store, which only has to hand over the x and y columns.
 */
import type { HistoryBucketsView } from "../protocol/api.js";
import type { HistoryAxis } from "./store.js";

/** At most this many buckets per request: a chart is at most a few thousand pixels wide. */
export const MAX_BUCKETS = 10_000;

/**
 * Buckets the first `n` points of (xs, ys) whose x lies in [from, to] (the whole range by
 * default). Points are taken in the order given; `last` is the last one given in each bucket.
 *
 * @example
 * bucketize("loss", "step", Float64Array.of(0, 1, 2, 3), Float64Array.of(4, 9, 1, 2), 4, 2)
 * // { x0: [0, 1.5], x1: [1.5, 3], min: [4, 1], max: [9, 2], last: [9, 2], count: [2, 2], ... }
 */
export function bucketize(
  key: string,
  axis: HistoryAxis,
  xs: Float64Array,
  ys: Float64Array,
  n: number,
  buckets: number,
  from = -Infinity,
  to = Infinity,
): HistoryBucketsView {
  let lo = Infinity;
  let hi = -Infinity;
  let points = 0;
  for (let i = 0; i < n; i++) {
    const x = xs[i];
    if (x < from || x > to) continue;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
    points++;
  }
  const out: HistoryBucketsView = { key, x: axis, points, x0: [], x1: [], xLast: [], min: [], max: [], mean: [], last: [], count: [], nonFinite: 0 };
  if (points === 0) return out;

  const width = (hi - lo) / buckets;
  const min = new Float64Array(buckets).fill(Infinity);
  const max = new Float64Array(buckets).fill(-Infinity);
  const sum = new Float64Array(buckets);
  const finite = new Uint32Array(buckets);
  const count = new Uint32Array(buckets);
  const last = new Float64Array(buckets);
  const xLast = new Float64Array(buckets);
  let nonFinite = 0;
  for (let i = 0; i < n; i++) {
    const x = xs[i];
    if (x < from || x > to) continue;
    // x - lo >= 0, so truncating (`| 0`) is flooring, and cheaper than Math.floor.
    let b = width > 0 ? ((x - lo) / width) | 0 : 0;
    if (b >= buckets) b = buckets - 1;
    const y = ys[i];
    count[b]++;
    last[b] = y;
    xLast[b] = x;
    if (y - y === 0) {
      // finite (NaN and the infinities give NaN)
      if (y < min[b]) min[b] = y;
      if (y > max[b]) max[b] = y;
      sum[b] += y;
      finite[b]++;
    } else {
      nonFinite++;
    }
  }
  for (let b = 0; b < buckets; b++) {
    if (count[b] === 0) continue;
    out.x0.push(lo + b * width);
    out.x1.push(b === buckets - 1 ? hi : lo + (b + 1) * width);
    out.xLast.push(xLast[b]);
    out.count.push(count[b]);
    const f = finite[b];
    out.min.push(f ? min[b] : null);
    out.max.push(f ? max[b] : null);
    out.mean.push(f ? sum[b] / f : null);
    out.last.push(Number.isFinite(last[b]) ? last[b] : null);
  }
  out.nonFinite = nonFinite;
  return out;
}
