/**
 * The project's workspace: panels of the visible runs' metrics in sections by key prefix
 * (`train/`, `val/`; `system/` starts collapsed), with the workspace's chart controls and
 * grouping above them. Panels are automatic (one per metric) until someone adds, removes,
 * resizes or reorders one; from then on the list is the state's own. Media keys (images,
 * histograms, tables) follow in their own section (media-section.tsx).
 */
import { useMemo } from "preact/hooks";
import type { RunListItem } from "../../../protocol/api";
import type { Axis, PanelState, WorkspaceState } from "../../lib/url-state";
import { AxisOptions } from "./axis-options";
import { MEDIA_SECTION, MediaSection } from "./media-section";
import { Panel } from "./panel";

interface Props {
  entity: string;
  project: string;
  state: WorkspaceState;
  update: (u: Partial<WorkspaceState>) => void;
  runs: RunListItem[];
  /** Keys offered for grouping (config keys of the runs on the page). */
  configKeys: string[];
  tags: string[];
  versions: Map<string, number>;
}

/** Metrics of the runs: numeric summary keys not starting with `_`. */
export function metricKeys(runs: RunListItem[]): string[] {
  const keys = new Set<string>();
  for (const r of runs) for (const [k, v] of Object.entries(r.summary)) if ((typeof v === "number" || v === "NaN") && !k.startsWith("_")) keys.add(k);
  return [...keys].sort();
}

const sectionOf = (metric: string) => (metric.includes("/") ? metric.slice(0, metric.indexOf("/")) : "");

export function Workspace({ entity, project, state, update, runs, configKeys, tags, versions }: Props) {
  const metrics = useMemo(() => metricKeys(runs), [runs]);
  const panels: PanelState[] = state.panels ?? metrics.map((m) => ({ id: m, metrics: [m] }));
  const sections = useMemo(() => {
    const out = new Map<string, PanelState[]>();
    for (const p of panels) {
      const s = sectionOf(p.metrics[0] ?? "");
      out.set(s, [...(out.get(s) ?? []), p]);
    }
    return [...out.entries()].sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a === "system" ? 1 : b === "system" ? -1 : a.localeCompare(b)));
  }, [panels]);
  const setPanels = (ps: PanelState[]) => update({ panels: ps });
  const ctl = state.controls;

  return (
    <section class="workspace" data-runs={runs.length}>
      <div class="toolbar">
        <label>
          x{" "}
          <select aria-label="x axis" value={ctl.x ?? "step"} onChange={(e) => update({ controls: { ...ctl, x: e.currentTarget.value as Axis } })}>
            <AxisOptions metrics={metrics} />
          </select>
        </label>
        <label>
          Smoothing{" "}
          <input type="range" aria-label="Smoothing" min={0} max={0.99} step={0.01} value={ctl.smoothing ?? 0} onChange={(e) => update({ controls: { ...ctl, smoothing: Number(e.currentTarget.value) } })} /> {(ctl.smoothing ?? 0).toFixed(2)}
        </label>
        <label>
          <input type="checkbox" aria-label="Log scale" checked={ctl.logY ?? false} onChange={(e) => update({ controls: { ...ctl, logY: e.currentTarget.checked } })} /> Log scale
        </label>
        <label>
          <input type="checkbox" aria-label="Ignore outliers" checked={ctl.ignoreOutliers ?? false} onChange={(e) => update({ controls: { ...ctl, ignoreOutliers: e.currentTarget.checked } })} /> Ignore outliers
        </label>
        <label>
          Group by{" "}
          <select aria-label="Group by" value={state.groupBy} onChange={(e) => update({ groupBy: e.currentTarget.value })}>
            <option value="">None</option>
            <option value="group">Group</option>
            <option value="jobType">Job type</option>
            {tags.map((t) => <option key={t} value={`tag:${t}`}>Tag {t}</option>)}
            {configKeys.map((k) => <option key={k} value={`config.${k}`}>config.{k}</option>)}
          </select>
        </label>
        {state.groupBy ? (
          <label>
            <input type="checkbox" aria-label="Show members" checked={state.members} onChange={(e) => update({ members: e.currentTarget.checked })} /> Members
          </label>
        ) : null}
        <form
          onSubmit={(e) => {
            e.preventDefault();
            const input = e.currentTarget.elements.namedItem("metrics") as HTMLInputElement;
            const ms = input.value.split(",").map((s) => s.trim()).filter(Boolean);
            if (ms.length) setPanels([...panels, { id: `p${Date.now().toString(36)}`, metrics: ms }]);
            input.value = "";
          }}
        >
          <input name="metrics" aria-label="Add panel" placeholder="Add panel: loss, val/loss" list="workspace-metrics" />
          <datalist id="workspace-metrics">{metrics.map((m) => <option key={m} value={m} />)}</datalist>
        </form>
        <span class="muted">Drag over a chart to zoom.</span>
      </div>
      {runs.length === 0 ? <p class="muted">No run is shown: tick runs in the table to draw them.</p> : null}
      {runs.length > 0 && panels.length === 0 ? <p class="muted">The shown runs have no numeric metrics yet.</p> : null}
      {sections.map(([name, ps]) => {
        const open = !state.collapsed.includes(name);
        return (
          <details key={name} class="section" data-section={name || "charts"} open={open}>
            <summary
              onClick={(e) => {
                e.preventDefault();
                update({ collapsed: open ? [...state.collapsed, name] : state.collapsed.filter((c) => c !== name) });
              }}
            >
              {name || "Charts"} <span class="muted">({ps.length})</span>
            </summary>
            {open ? (
              <div class="panels">
                {ps.map((p) => {
                  const i = panels.indexOf(p);
                  return (
                    <Panel
                      key={p.id}
                      entity={entity}
                      project={project}
                      panel={p}
                      runs={runs}
                      groupBy={state.groupBy}
                      members={state.members}
                      controls={ctl}
                      versions={versions}
                      allMetrics={metrics}
                      onChange={(np) => setPanels(panels.map((q) => (q === p ? np : q)))}
                      onRemove={() => setPanels(panels.filter((q) => q !== p))}
                      onMove={(by) => {
                        // Swaps with its neighbour in the same section (other sections' panels lie between in the list).
                        const other = ps[ps.indexOf(p) + by];
                        if (!other) return;
                        const j = panels.indexOf(other);
                        const next = [...panels];
                        [next[i], next[j]] = [next[j], next[i]];
                        setPanels(next);
                      }}
                    />
                  );
                })}
              </div>
            ) : null}
          </details>
        );
      })}
      <MediaSection
        entity={entity}
        project={project}
        runs={runs}
        versions={versions}
        open={!state.collapsed.includes(MEDIA_SECTION)}
        onToggle={() => update({ collapsed: state.collapsed.includes(MEDIA_SECTION) ? state.collapsed.filter((c) => c !== MEDIA_SECTION) : [...state.collapsed, MEDIA_SECTION] })}
      />
    </section>
  );
}
