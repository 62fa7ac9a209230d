/** The System tab: one chart per `system/...` key over wall time, from `GET .../system`. */
import { useEffect, useState } from "preact/hooks";
import type { SystemMetricsView } from "../../protocol/api";
import { LineChart } from "../components/line-chart";
import { get, num, runsPath } from "../lib/api";
import type { RunView } from "../../protocol/api";

export function SystemTab({ run, version }: { run: RunView; version: number }) {
  const [data, setData] = useState<SystemMetricsView | null>(null);
  useEffect(() => {
    get<SystemMetricsView>(`${runsPath(run.entity, run.project, run.id)}/system?limit=100000`).then(setData, () => setData({ keys: [], rows: [] }));
  }, [run.entity, run.project, run.id, version]);
  if (!data) return <p class="muted">Loading…</p>;
  if (data.keys.length === 0) return <p class="muted">No system metrics yet.</p>;
  const xs = data.rows.map((r) => r.at / 1000);
  return (
    <div class="charts">
      {data.keys.map((k) => (
        <LineChart
          key={k}
          title={k}
          xs={xs}
          time
          xLabel="Wall time"
          points={data.rows.filter((r) => k in r).length}
          series={[{ label: k, values: data.rows.map((r) => (k in r ? num(r[k]) : null)) }]}
        />
      ))}
    </div>
  );
}
