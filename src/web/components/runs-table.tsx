/**
 * The project's runs table, the workspace's selector: an eye per run shows or hides it in the
 * panels, a tick selects it for tagging many at once. The name column stays in view while the
 * table scrolls sideways; sort and columns live in the workspace state (so in the URL); with a
 * grouping, runs are listed under their group with its count. Running runs' durations tick here
 * (the server's figure plus the time since the page got it).
 */
import { useEffect, useState } from "preact/hooks";
import type { RunListItem } from "../../protocol/api";
import { patch, runsPath } from "../lib/api";
import { atPath, formatDuration, formatTime, formatValue } from "../lib/format";
import type { WorkspaceState } from "../lib/url-state";
import { groupRuns } from "./workspace/grouping";
import { colorFor } from "../lib/colors";
import { StateBadge } from "./state-badge";

interface Column {
  id: string;
  label: string;
  sort: string;
  cell: (r: RunListItem) => preact.ComponentChildren;
}

interface Props {
  entity: string;
  project: string;
  runs: RunListItem[];
  state: WorkspaceState;
  update: (u: Partial<WorkspaceState>) => void;
  visible: Set<string>;
  setVisible: (ids: string[]) => void;
  /** When the page got `runs` (ms), for live durations. */
  fetchedAt: number;
  /** Called after tags were changed. */
  onEdited: () => void;
}

function useNow(enabled: boolean): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!enabled) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [enabled]);
  return now;
}

export function RunsTable({ entity, project, runs, state, update, visible, setVisible, fetchedAt, onEdited }: Props) {
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [tagText, setTagText] = useState("");
  const [busy, setBusy] = useState(false);
  const now = useNow(runs.some((r) => r.state === "running"));
  const duration = (r: RunListItem) => (r.state === "running" && r.durationSeconds !== null ? r.durationSeconds + Math.max(0, (now - fetchedAt) / 1000) : r.durationSeconds);
  const href = (r: RunListItem) => `/${encodeURIComponent(entity)}/${encodeURIComponent(project)}/runs/${encodeURIComponent(r.id)}`;
  const columns: Column[] = [
    { id: "name", label: "Name", sort: "name", cell: (r) => <a href={href(r)}>{r.name}</a> },
    { id: "state", label: "State", sort: "state", cell: (r) => <StateBadge state={r.state} /> },
    { id: "created", label: "Created", sort: "createdAt", cell: (r) => <time dateTime={r.createdAt}>{formatTime(r.createdAt)}</time> },
    { id: "duration", label: "Duration", sort: "duration", cell: (r) => formatDuration(duration(r)) },
    { id: "author", label: "Author", sort: "author", cell: (r) => r.author },
    { id: "tags", label: "Tags", sort: "tags", cell: (r) => r.tags.map((t) => <span class="tag" key={t}>{t}</span>) },
    { id: "notes", label: "Notes", sort: "notes", cell: (r) => <span class="notes">{r.notes ?? ""}</span> },
    { id: "jobType", label: "Job type", sort: "jobType", cell: (r) => r.jobType ?? "" },
    { id: "group", label: "Group", sort: "group", cell: (r) => r.group ?? "" },
    ...state.columns.map((k): Column => ({
      id: k,
      label: k,
      sort: k,
      cell: (r) => formatValue(k.startsWith("summary.") ? atPath(r.summary, k.slice(8)) : atPath(r.config, k.slice(7))),
    })),
  ];
  const clickSort = (c: Column) =>
    state.sort === c.sort ? update({ order: state.order === "asc" ? "desc" : "asc" }) : update({ sort: c.sort, order: c.sort === "createdAt" ? "desc" : "asc" });
  const toggleVisible = (id: string) => setVisible(visible.has(id) ? [...visible].filter((v) => v !== id) : [...visible, id]);
  const toggleSelected = (id: string) => setSelected((s) => (s.has(id) ? new Set([...s].filter((v) => v !== id)) : new Set([...s, id])));

  /** Adds or removes a tag on every selected run (one PATCH each, with its whole tag list). */
  const retag = async (add: boolean) => {
    const tag = tagText.trim();
    if (!tag || selected.size === 0) return;
    setBusy(true);
    try {
      await Promise.all(
        runs
          .filter((r) => selected.has(r.id) && r.tags.includes(tag) !== add)
          .map((r) => patch(runsPath(entity, project, r.id), { tags: add ? [...r.tags, tag] : r.tags.filter((t) => t !== tag) })),
      );
      setTagText("");
      onEdited();
    } finally {
      setBusy(false);
    }
  };

  const row = (r: RunListItem) => (
    <tr key={r.id} data-run={r.id} class={visible.has(r.id) ? "shown" : "hidden-run"}>
      <td class="pick">
        <input type="checkbox" aria-label={`Select ${r.name}`} checked={selected.has(r.id)} onChange={() => toggleSelected(r.id)} />
        <button type="button" class="eye" aria-label={`${visible.has(r.id) ? "Hide" : "Show"} ${r.name}`} aria-pressed={visible.has(r.id)} onClick={() => toggleVisible(r.id)}>
          <span class="swatch" style={{ background: visible.has(r.id) ? colorFor(r.id) : "transparent", borderColor: colorFor(r.id) }} />
        </button>
      </td>
      {columns.map((c) => (
        <td key={c.id} class={c.id === "name" ? "sticky" : undefined}>
          {c.cell(r)}
        </td>
      ))}
    </tr>
  );
  const groups = state.groupBy ? groupRuns(runs, state.groupBy) : null;

  return (
    <div class="runs-table">
      <div class="toolbar">
        <span class="muted">{selected.size} selected</span>
        <input aria-label="Tag for selected runs" placeholder="Tag" value={tagText} onInput={(e) => setTagText(e.currentTarget.value)} />
        <button type="button" disabled={busy || selected.size === 0 || !tagText.trim()} onClick={() => void retag(true)}>
          Add tag
        </button>
        <button type="button" disabled={busy || selected.size === 0 || !tagText.trim()} onClick={() => void retag(false)}>
          Remove tag
        </button>
        <button type="button" class="link" onClick={() => setVisible(runs.map((r) => r.id))}>
          Show all
        </button>
        <button type="button" class="link" onClick={() => setVisible([])}>
          Hide all
        </button>
      </div>
      <div class="table-wrap">
        <table class="grid runs">
          <thead>
            <tr>
              <th aria-label="Show" class="pick" />
              {columns.map((c) => (
                <th
                  key={c.id}
                  data-column={c.id}
                  class={`sortable${c.id === "name" ? " sticky" : ""}`}
                  onClick={() => clickSort(c)}
                  aria-sort={state.sort === c.sort ? (state.order === "asc" ? "ascending" : "descending") : undefined}
                >
                  {c.label}
                  {state.sort === c.sort ? (state.order === "asc" ? " ▲" : " ▼") : ""}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {groups
              ? [...groups.entries()].flatMap(([g, rs]) => [
                  <tr key={`group:${g}`} class="group-row" data-group={g}>
                    <td colSpan={columns.length + 1}>
                      <strong>{g}</strong> <span class="muted" data-count={rs.length}>{rs.length} run{rs.length === 1 ? "" : "s"}</span>
                    </td>
                  </tr>,
                  ...rs.map(row),
                ])
              : runs.map(row)}
          </tbody>
        </table>
      </div>
    </div>
  );
}
