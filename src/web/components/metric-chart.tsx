/**
 * One history metric of one run as a chart, downsampled by the server
 * (`GET .../history/buckets`): the line is each bucket's mean (the point itself where a bucket
 * holds one), the band its min and max. Dragging zooms in and fetches that range again, at full
 * resolution once it holds fewer points than buckets.
 */
import { useEffect, useMemo, useState } from "preact/hooks";
import type { HistoryBucketsView } from "../../protocol/api";
import { get, qs, runsPath } from "../lib/api";
import { LineChart, smooth } from "./line-chart";

export type Axis = "step" | "time" | "runtime";
export const AXIS_LABEL: Record<Axis, string> = { step: "Step", time: "Wall time", runtime: "Runtime (s)" };

/** Buckets per chart: about one per horizontal pixel of a wide chart. */
export const BUCKETS = 1000;

export function fetchBuckets(entity: string, project: string, id: string, key: string, x: Axis, zoom: [number, number] | null) {
  const range = zoom ? { from: x === "time" ? zoom[0] * 1000 : zoom[0], to: x === "time" ? zoom[1] * 1000 : zoom[1] } : {};
  return get<HistoryBucketsView>(`${runsPath(entity, project, id)}/history/buckets${qs({ key, x, buckets: BUCKETS, ...range })}`);
}

/** The chart's x of each bucket: its last point (time in seconds for uPlot's time axis). */
export const bucketXs = (b: HistoryBucketsView) => (b.x === "time" ? b.xLast.map((x) => x / 1000) : b.xLast);
/** The line: the point itself for a bucket of one, else the mean. */
export const bucketLine = (b: HistoryBucketsView) => b.count.map((c, i) => (c === 1 ? b.last[i] : b.mean[i]));

interface Props {
  entity: string;
  project: string;
  id: string;
  metric: string;
  x: Axis;
  smoothing: number;
  /** Goes up when the run changed: refetch. */
  version: number;
}

export function MetricChart({ entity, project, id, metric, x, smoothing, version }: Props) {
  const [data, setData] = useState<HistoryBucketsView | null>(null);
  const [zoom, setZoom] = useState<[number, number] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => setZoom(null), [x]);
  useEffect(() => {
    let live = true;
    fetchBuckets(entity, project, id, metric, x, zoom).then(
      (b) => live && setData(b),
      (e: Error) => live && setError(e.message),
    );
    return () => {
      live = false;
    };
  }, [entity, project, id, metric, x, zoom, version]);
  const xs = useMemo(() => (data ? bucketXs(data) : []), [data]);
  const series = useMemo(() => {
    if (!data) return [];
    const merged = data.count.some((c) => c > 1);
    return [{ label: metric, values: smooth(bucketLine(data), smoothing), ...(merged ? { min: data.min, max: data.max } : {}) }];
  }, [data, smoothing, metric]);
  if (error) return <p class="error">{metric}: {error}</p>;
  if (!data) return <figure class="chart loading">{metric}…</figure>;
  return (
    <div class="chart-box">
      <LineChart title={metric} xs={xs} series={series} time={x === "time"} xLabel={AXIS_LABEL[x]} points={data.points} onZoom={(a, b) => setZoom([a, b])} />
      {zoom ? (
        <button type="button" class="link" onClick={() => setZoom(null)}>
          Reset zoom
        </button>
      ) : null}
    </div>
  );
}
