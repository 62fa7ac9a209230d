import type { RunState } from "../../protocol/records";

/** A run's state as a coloured badge (green running, blue finished, red failed/crashed/killed). */
export function StateBadge({ state }: { state: RunState }) {
  return (
    <span class={`badge state-${state}`} data-state={state}>
      {state}
    </span>
  );
}
