/**
 * The project workspace's whole state (visible runs, grouping, panels, sections, chart
 * controls, the table's sort, filters and columns) as one object, kept in the URL's `ws`
 * parameter as JSON, so that a reload or a shared link shows the same workspace. Only what
 * differs from the defaults is written, which keeps links short; a saved view (the server's
 * `/views` API) stores the same object.
 */
import { useLayoutEffect, useState } from "preact/hooks";

/** The x axis: step, wall time, relative time, or `metric:<key>` (a logged metric as x). */
export type Axis = "step" | "time" | "runtime" | `metric:${string}`;

/** The x axis as the series hook takes it. */
export function xAxisOf(a: Axis): "step" | "time" | "runtime" | { key: string } {
  return a.startsWith("metric:") ? { key: a.slice(7) } : (a as "step" | "time" | "runtime");
}

/** The axis title. */
export function axisLabel(a: Axis): string {
  return a === "step" ? "Step" : a === "time" ? "Wall time" : a === "runtime" ? "Relative time (s)" : a.slice(7);
}

/** Chart controls; a panel's own override the workspace's where set. */
export interface ChartControls {
  x?: Axis;
  smoothing?: number;
  logY?: boolean;
  ignoreOutliers?: boolean;
}

export interface PanelState extends ChartControls {
  /** A stable id within the workspace. */
  id: string;
  /** One or more metrics drawn in the panel. */
  metrics: string[];
  /** Grid columns it spans (1 or 2). */
  span?: number;
  /** The x range dragged over, or none. */
  zoom?: [number, number] | null;
}

export interface WorkspaceState {
  /** Runs shown; null: the most recent `recent` runs. */
  visible: string[] | null;
  recent: number;
  /** "group", "jobType", "tag:<name>", "config.<key>", or "" for none. */
  groupBy: string;
  /** With grouping, draw each member faintly too. */
  members: boolean;
  /** Panels, in order; null: one per metric (automatic). */
  panels: PanelState[] | null;
  /** Section prefixes collapsed ("system" by default). */
  collapsed: string[];
  controls: ChartControls;
  sort: string;
  order: "asc" | "desc";
  state: string;
  tag: string;
  q: string;
  columns: string[];
}

export const DEFAULT_STATE: WorkspaceState = {
  visible: null,
  recent: 10,
  groupBy: "",
  members: false,
  panels: null,
  collapsed: ["system"],
  controls: { x: "step", smoothing: 0, logY: false, ignoreOutliers: false },
  sort: "createdAt",
  order: "desc",
  state: "",
  tag: "",
  q: "",
  columns: [],
};

/** The state in a URL's search part (defaults for what it lacks or cannot read). */
export function readState(search: string): WorkspaceState {
  const raw = new URLSearchParams(search).get("ws");
  if (!raw) return DEFAULT_STATE;
  try {
    return { ...DEFAULT_STATE, ...(JSON.parse(raw) as Partial<WorkspaceState>) };
  } catch {
    return DEFAULT_STATE;
  }
}

/** Only the fields that differ from the defaults. */
export function diffState(s: WorkspaceState): Partial<WorkspaceState> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) if (JSON.stringify(v) !== JSON.stringify(DEFAULT_STATE[k as keyof WorkspaceState])) out[k] = v;
  return out as Partial<WorkspaceState>;
}

/** The search part for a state: `?ws=...`, or "" for the defaults. */
export function writeState(s: WorkspaceState): string {
  const d = diffState(s);
  return Object.keys(d).length ? `?${new URLSearchParams({ ws: JSON.stringify(d) }).toString()}` : "";
}

/** The state, read from and written back to the URL (replaceState: no history entry per keystroke). */
export function useUrlState(): [WorkspaceState, (update: Partial<WorkspaceState> | ((s: WorkspaceState) => Partial<WorkspaceState>)) => void, (s: WorkspaceState) => void] {
  const [state, setState] = useState(() => readState(location.search));
  // Before the browser paints: what a person sees changed is in the URL already, so a reload
  // right after a click keeps it.
  useLayoutEffect(() => {
    const search = writeState(state);
    if (search !== location.search) history.replaceState(null, "", location.pathname + search);
  }, [state]);
  const update = (u: Partial<WorkspaceState> | ((s: WorkspaceState) => Partial<WorkspaceState>)) => setState((s) => ({ ...s, ...(typeof u === "function" ? u(s) : u) }));
  const replace = (s: WorkspaceState) => setState({ ...DEFAULT_STATE, ...s });
  return [state, update, replace];
}
