/** The options of an x-axis select: step, relative time, wall time, then each logged metric. */
export function AxisOptions({ metrics }: { metrics: string[] }) {
  return (
    <>
      <option value="step">Step</option>
      <option value="runtime">Relative time</option>
      <option value="time">Wall time</option>
      {metrics.map((m) => (
        <option key={m} value={`metric:${m}`}>
          {m}
        </option>
      ))}
    </>
  );
}
