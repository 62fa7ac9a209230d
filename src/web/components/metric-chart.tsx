/**
 * One history metric of one run as a chart, downsampled by the server
 * (`GET .../history/buckets`, through useRunSeries): the line is each bucket's mean (the point
 * itself where a bucket holds one), the band its min and max. Dragging zooms in and fetches that
 * range again, at full resolution once it holds fewer points than buckets. A key with no history
 * point but a summary value shows that value instead of an empty chart.
 */
import { useEffect, useMemo, useState } from "preact/hooks";
import type { HistoryBucketsView } from "../../protocol/api";
import { get, qs, runsPath } from "../lib/api";
import { colorFor } from "../lib/colors";
import { axisLabel, axisName, BUCKETS, useRunSeries, type XAxis } from "../lib/series";
import { LineChart, type ChartSeries } from "./line-chart";

/** One run's buckets of a metric on the step axis (the project page's compare chart). */
export function fetchBuckets(entity: string, project: string, id: string, key: string, x: "step" | "time" | "runtime", zoom: [number, number] | null) {
  const range = zoom ? { from: x === "time" ? zoom[0] * 1000 : zoom[0], to: x === "time" ? zoom[1] * 1000 : zoom[1] } : {};
  return get<HistoryBucketsView>(`${runsPath(entity, project, id)}/history/buckets${qs({ key, x, buckets: BUCKETS, ...range })}`);
}

/** The chart's x of each bucket: its last point (time in seconds for uPlot's time axis). */
export const bucketXs = (b: HistoryBucketsView) => (b.x === "time" ? b.xLast.map((x) => x / 1000) : b.xLast);
/** The line: the point itself for a bucket of one, else the mean. */
export const bucketLine = (b: HistoryBucketsView) => b.count.map((c, i) => (c === 1 ? b.last[i] : b.mean[i]));

export interface ChartControls {
  x: XAxis;
  smoothing: number;
  logY: boolean;
  ignoreOutliers: boolean;
}

interface Props extends ChartControls {
  entity: string;
  project: string;
  id: string;
  /** The run's display name (legend and tooltip). */
  runName: string;
  metric: string;
  /** The run's summary value of the metric, shown when it has no history point. */
  summary?: unknown;
  /** Goes up when the run changed: fetch the new points. */
  version: number;
}

export function MetricChart({ entity, project, id, runName, metric, summary, x, smoothing, logY, ignoreOutliers, version }: Props) {
  const [zoom, setZoom] = useState<[number, number] | null>(null);
  useEffect(() => setZoom(null), [axisName(x)]);
  const { data, error } = useRunSeries(entity, project, id, metric, x, zoom, version);
  const series = useMemo<ChartSeries[]>(
    () => (data ? [{ id, label: runName, color: colorFor(id), xs: data.xs, ys: data.ys, ...(data.min.length ? { min: data.min, max: data.max } : {}) }] : []),
    [data, id, runName],
  );
  if (error) return <p class="error">{metric}: {error}</p>;
  if (!data) return <figure class="chart loading" data-chart-loading={metric}>{metric}…</figure>;
  if (data.points === 0 && zoom === null && typeof summary === "number") {
    return (
      <figure class="chart summary-only" data-chart={metric} data-points={0}>
        <figcaption>
          <strong>{metric}</strong> <span class="muted">· summary only, no history</span>
        </figcaption>
        <p class="summary-value" data-summary={metric}>
          {summary.toLocaleString("en", { maximumSignificantDigits: 8 })}
        </p>
      </figure>
    );
  }
  return (
    <div class="chart-box">
      <LineChart
        title={metric}
        series={series}
        time={x === "time"}
        xLabel={axisLabel(x)}
        yLabel={metric}
        smoothing={smoothing}
        logY={logY}
        ignoreOutliers={ignoreOutliers}
        points={data.points}
        onZoom={(a, b) => setZoom([a, b])}
      />
      {zoom ? (
        <button type="button" class="link" onClick={() => setZoom(null)}>
          Reset zoom
        </button>
      ) : null}
    </div>
  );
}
