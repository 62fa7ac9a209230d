/**
 * One run's metric as the chart draws it: min/max buckets from `GET .../history/buckets`. A zoom
 * fetches buckets of the visible range only, so a zoomed-in chart of a 1 M-step run shows every
 * point. On a live version bump it fetches only the points after the last one it holds and
 * appends them: one request per chart per event, never the whole series again.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import type { HistoryBucketsView } from "../../protocol/api";
import { get, qs, runsPath } from "./api";

/** `{ key }`: another logged metric as x (paired by step on the server: `?xKey=`). */
export type XAxis = "step" | "time" | "runtime" | { key: string };

export interface SeriesData {
  /** The x of each bucket's last point (seconds since the epoch on the time axis). */
  xs: number[];
  /** The point itself for a bucket of one, else the bucket's mean. */
  ys: (number | null)[];
  min: (number | null)[];
  max: (number | null)[];
  /** Points logged in the range, before bucketing. */
  points: number;
}

/** Buckets per chart: about one per horizontal pixel of a wide chart. */
export const BUCKETS = 1000;

/** The axis names and titles the pages offer. */
export const AXIS_LABEL = { step: "Step", runtime: "Relative time (s)", time: "Wall time" } as const;

export const axisName = (x: XAxis): string => (typeof x === "string" ? x : `key:${x.key}`);
export const axisLabel = (x: XAxis): string => (typeof x === "string" ? AXIS_LABEL[x] : x.key);

/** The query of a buckets request for the axis and range, in the server's units. */
export function bucketsQuery(key: string, x: XAxis, from?: number, to?: number, buckets = BUCKETS): Record<string, string | number | undefined> {
  // The page's time axis is in seconds; the server's is in ms.
  const scale = x === "time" ? 1000 : 1;
  const axis = typeof x === "string" ? { x } : { x: "step", xKey: x.key };
  return { key, ...axis, buckets, from: from === undefined ? undefined : from * scale, to: to === undefined ? undefined : to * scale };
}

function fetchBuckets(entity: string, project: string, id: string, key: string, x: XAxis, from?: number, to?: number): Promise<HistoryBucketsView> {
  return get<HistoryBucketsView>(`${runsPath(entity, project, id)}/history/buckets${qs(bucketsQuery(key, x, from, to))}`);
}

/** A view's columns as the chart draws them. */
export function toSeriesData(b: HistoryBucketsView): SeriesData {
  const scale = b.x === "time" ? 1 / 1000 : 1;
  const merged = b.count.some((c) => c > 1);
  return {
    xs: b.xLast.map((x) => x * scale),
    ys: b.count.map((c, i) => (c === 1 ? b.last[i] : b.mean[i])),
    min: merged ? b.min : [],
    max: merged ? b.max : [],
    points: b.points,
  };
}

/** `a` followed by the points of `b` (min/max kept only while both have bands or neither does). */
export function append(a: SeriesData, b: SeriesData): SeriesData {
  const banded = a.min.length > 0 || b.min.length > 0;
  const band = (d: SeriesData, which: "min" | "max") => (d.min.length > 0 ? d[which] : d.ys);
  return {
    xs: a.xs.concat(b.xs),
    ys: a.ys.concat(b.ys),
    min: banded ? band(a, "min").concat(band(b, "min")) : [],
    max: banded ? band(a, "max").concat(band(b, "max")) : [],
    points: a.points + b.points,
  };
}

/** The least x above `x` that the store tells apart from it (the buckets query's `from` is inclusive). */
export const after = (x: number): number => x + Math.max(Math.abs(x) * 1e-15, 1e-12);

interface Held {
  /** What the data was fetched for: a change of any of them throws it away (never drawn on the wrong axis). */
  tag: string;
  data: SeriesData;
  version: number;
}

/**
 * One run's metric as min/max buckets; on a version bump fetches only the points after what it
 * holds. Returns null data while the series for the current key, x and zoom is loading, never
 * the previous axis's points.
 */
export function useRunSeries(
  entity: string,
  project: string,
  runId: string,
  key: string,
  x: XAxis,
  zoom: [number, number] | null,
  version: number,
): { data: SeriesData | null; error: string | null } {
  const tag = JSON.stringify([entity, project, runId, key, axisName(x), zoom]);
  const [held, setHeld] = useState<Held | null>(null);
  const [error, setError] = useState<{ tag: string; message: string } | null>(null);
  const heldRef = useRef<Held | null>(null);
  heldRef.current = held;
  const busy = useRef(false);

  // The whole series (or the zoomed range) whenever what it is of changes.
  useEffect(() => {
    let live = true;
    busy.current = true;
    fetchBuckets(entity, project, runId, key, x, zoom?.[0], zoom?.[1]).then(
      (b) => {
        if (!live) return;
        busy.current = false;
        setHeld({ tag, data: toSeriesData(b), version });
      },
      (e: Error) => {
        if (!live) return;
        busy.current = false;
        setError({ tag, message: e.message });
      },
    );
    return () => {
      live = false;
    };
    // version is read, not followed: a bump is the effect below.
  }, [tag]);

  // A live bump: only the points after the last one held (a zoomed chart shows a fixed range).
  // Against another metric, x need not grow with the steps: the whole series again, still one request.
  useEffect(() => {
    const h = heldRef.current;
    if (!h || h.tag !== tag || version <= h.version || zoom !== null || busy.current) return;
    busy.current = true;
    const whole = typeof x !== "string" || h.data.xs.length === 0;
    const last = h.data.xs[h.data.xs.length - 1];
    fetchBuckets(entity, project, runId, key, x, whole ? undefined : after(last)).then(
      (b) => {
        busy.current = false;
        // Kept even if the version moved on meanwhile: the next bump asks from its end.
        const more = toSeriesData(b);
        setHeld((cur) => (cur && cur.tag === tag ? { tag, data: whole ? more : append(cur.data, more), version } : cur));
      },
      () => {
        busy.current = false;
      },
    );
  }, [version, tag, held?.version]);

  return {
    data: held && held.tag === tag ? held.data : null,
    error: error && error.tag === tag ? error.message : null,
  };
}
