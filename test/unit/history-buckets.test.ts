import { describe, expect, it } from "vitest";
import { bucketize, bucketizeAny, bucketizeSorted } from "../../src/server/store/history-buckets.js";

/** A small seeded generator (mulberry32), so that a failure can be replayed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Ascending x with runs of equal values and uneven gaps; y with NaN and infinities among them. */
function points(random: () => number, n: number): { xs: Float64Array; ys: Float64Array } {
  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  let x = random() * 100 - 50;
  for (let i = 0; i < n; i++) {
    if (random() > 0.3) x += random() < 0.1 ? random() * 1000 : random() * 3;
    xs[i] = x;
    const r = random();
    ys[i] = r < 0.05 ? NaN : r < 0.07 ? Infinity : r < 0.09 ? -Infinity : (random() - 0.5) * 1e6;
  }
  return { xs, ys };
}

describe("bucketize", () => {
  it("gives the same buckets on ascending x by its fast path as by the general one", () => {
    const random = rng(7);
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + Math.floor(random() * 3000);
      const { xs, ys } = points(random, n);
      const buckets = 1 + Math.floor(random() * (trial % 3 ? 50 : 2000));
      const used = Math.floor(random() * n) + 1; // only the first `used` points count
      // Bounds on a point's x exactly, between points, or none.
      const bound = (none: number, off: number) => (random() < 0.33 ? none : xs[Math.floor(random() * n)] + (random() < 0.5 ? 0 : off * random()));
      const from = bound(-Infinity, -1);
      const to = bound(Infinity, 1);
      const fast = bucketizeSorted("y", "step", xs, ys, used, buckets, from, to);
      expect(fast, `trial ${trial}`).toEqual(bucketizeAny("y", "step", xs, ys, used, buckets, from, to));
    }
  });

  it("gives the same buckets on integer steps, where bucket edges fall on points", () => {
    for (const n of [999, 1000, 1001, 12345]) {
      const xs = Float64Array.from({ length: n }, (_, i) => i);
      const ys = Float64Array.from({ length: n }, (_, i) => Math.sin(i));
      for (const buckets of [1, 3, 7, 999, 1000]) expect(bucketizeSorted("y", "step", xs, ys, n, buckets)).toEqual(bucketizeAny("y", "step", xs, ys, n, buckets));
    }
  });

  it("takes the general path unless the first n x ascend, with no NaN among them", () => {
    const ys = Float64Array.of(1, 2, 3, 4, 5, 6);
    const cases = [
      Float64Array.of(0, 1, 2, 3, 2, 1), // ascending only in the first 4
      Float64Array.of(5, 4, 3, 2, 1, 0), // descending
      Float64Array.of(0, 1, NaN, 3, 4, 5), // a NaN x
      Float64Array.of(NaN, 1, 2, 3, 4, 5), // a NaN first x (alone when n is 1)
      Float64Array.of(-Infinity, 0, 1, 2, 3, Infinity), // infinite x
    ];
    for (const xs of cases) for (const n of [1, 4, 6]) expect(bucketize("y", "step", xs, ys, n, 3)).toEqual(bucketizeAny("y", "step", xs, ys, n, 3));
  });

  it("gives the same buckets when every x is equal, and when none lies in range", () => {
    const xs = new Float64Array(50).fill(3);
    const ys = Float64Array.from({ length: 50 }, (_, i) => i);
    expect(bucketizeSorted("y", "step", xs, ys, 50, 10)).toEqual(bucketizeAny("y", "step", xs, ys, 50, 10));
    expect(bucketizeSorted("y", "step", xs, ys, 50, 10).count).toEqual([50]);
    expect(bucketizeSorted("y", "step", xs, ys, 50, 10, 4, 9)).toEqual(bucketizeAny("y", "step", xs, ys, 50, 10, 4, 9));
    expect(bucketizeSorted("y", "step", xs, ys, 50, 10, 4, 9).points).toBe(0);
  });

  it("buckets x in any order, keeping the last point given in each bucket", () => {
    const xs = Float64Array.of(3, 0, 2, 1);
    const ys = Float64Array.of(30, 0, 20, 10);
    const b = bucketize("y", "step", xs, ys, 4, 2);
    expect(b).toMatchObject({ points: 4, x0: [0, 1.5], x1: [1.5, 3], count: [2, 2], min: [0, 20], max: [10, 30], last: [10, 20], xLast: [1, 2] });
  });

  it("keeps min, max and mean of finite values and counts the others", () => {
    const b = bucketize("y", "step", Float64Array.of(0, 1, 2, 3), Float64Array.of(4, NaN, Infinity, 2), 4, 1);
    expect(b).toMatchObject({ count: [4], min: [2], max: [4], mean: [3], last: [2], nonFinite: 2 });
  });
});
