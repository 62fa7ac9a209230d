/**
 * `/:entity/:project`: the project's workspace. The runs table (sorted, filtered and paged on the
 * server: `GET /api/v1/runs/:entity/:project?sort=&order=&state=&tag=&q=&limit=`) picks the runs
 * that the panels below draw, by default the most recent ones; everything on the page lives in
 * the URL (lib/url-state.ts) and can be saved as a named view. One live stream per page keeps the
 * table and the panels current: a run's event makes each panel fetch only that run's series.
 */
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { RunListPage } from "../../protocol/api";
import type { RunState } from "../../protocol/records";
import { DefaultPrivacy } from "../components/default-privacy";
import { EntityCrumb } from "../components/entity-crumb";
import { Header } from "../components/header";
import { RunsTable } from "../components/runs-table";
import { useProjectVersions } from "../lib/live";
import { ViewsBar } from "../components/workspace/views-bar";
import { Workspace } from "../components/workspace/workspace";
import { artifactHref, get, qs, runsPath } from "../lib/api";
import { leafKeys } from "../lib/format";
import { useUrlState } from "../lib/url-state";

/** Runs fetched for the table (and offered to the panels). */
const PAGE = 100;
const STATES: RunState[] = ["running", "finished", "failed", "killed", "crashed"];

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

/**
 * The table follows the runs' events (state, summary; durations tick on their own) at most once
 * per this many ms: a live workspace of 10 runs logging each second would otherwise fetch the
 * whole table (up to PAGE runs with their config and summary) 10 times a second (measured in docs/BENCHMARKS.md), where the
 * panels ask only for the new points of the run that changed.
 */
const TABLE_REFRESH_MS = 2000;

/** `value`, updated at most once per `ms`: the first change after a quiet spell waits `ms` and takes all changes since. */
function useCoalesced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  const latest = useRef(value);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  latest.current = value;
  useEffect(() => {
    if (value === v || timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      setV(latest.current);
    }, ms);
  }, [value]);
  useEffect(() => () => void (timer.current && clearTimeout(timer.current)), []);
  return v;
}

export function ProjectPage({ entity, project }: { entity: string; project: string }) {
  const urlHadState = useRef(new URLSearchParams(location.search).has("ws")).current;
  const [state, update, replace] = useUrlState();
  const [page, setPage] = useState<RunListPage | null>(null);
  const [fetchedAt, setFetchedAt] = useState(Date.now());
  const [error, setError] = useState<string | null>(null);
  const [edits, setEdits] = useState(0);
  const q = useDebounced(state.q, 250);
  const tagQ = useDebounced(state.tag, 250);
  const versions = useProjectVersions(entity, project, true);
  const changes = useCoalesced([...versions.values()].reduce((a, b) => a + b, 0), TABLE_REFRESH_MS);

  useEffect(() => {
    let live = true;
    get<RunListPage>(`${runsPath(entity, project)}${qs({ sort: state.sort, order: state.order, state: state.state, tag: tagQ, q, limit: PAGE })}`).then(
      (p) => live && (setPage(p), setFetchedAt(Date.now()), setError(null)),
      (e: Error) => live && setError(e.message),
    );
    return () => {
      live = false;
    };
  }, [entity, project, state.sort, state.order, state.state, tagQ, q, changes, edits]);

  const runs = page?.runs ?? [];
  // Shown runs: the state's list, or the most recent `recent` runs.
  const visible = useMemo(() => {
    if (state.visible) return new Set(state.visible);
    return new Set([...runs].sort((a, b) => b.createdAt.localeCompare(a.createdAt)).slice(0, state.recent).map((r) => r.id));
  }, [runs, state.visible, state.recent]);
  const shown = useMemo(() => runs.filter((r) => visible.has(r.id)), [runs, visible]);
  const configKeys = useMemo(() => [...new Set(runs.flatMap((r) => leafKeys(r.config)))].filter((k) => !k.startsWith("_")).sort(), [runs]);
  const tags = useMemo(() => [...new Set(runs.flatMap((r) => r.tags))].sort(), [runs]);
  const available = useMemo(() => {
    const keys = new Set<string>(state.columns);
    for (const r of runs) {
      for (const k of leafKeys(r.config)) if (!k.split(".").some((s) => s.startsWith("_"))) keys.add(`config.${k}`);
      for (const k of leafKeys(r.summary)) if (!k.split(".").some((s) => s.startsWith("_"))) keys.add(`summary.${k}`);
    }
    return [...keys].sort();
  }, [runs, state.columns]);
  const columns = state.columns;

  return (
    <>
      <Header
        crumbs={
          <>
            <EntityCrumb entity={entity} /> / {project}
          </>
        }
      />
      <main class="project">
        <h1>
          {entity}/{project}{" "}
          <a class="h-link" href={artifactHref(entity, project)}>
            Artifacts
          </a>
        </h1>
        <DefaultPrivacy entity={entity} project={project} />
        <ViewsBar entity={entity} project={project} state={state} open={replace} urlHadState={urlHadState} />
        <div class="toolbar">
          <input type="search" aria-label="Search runs" placeholder="Search name, notes, tags…" value={state.q} onInput={(e) => update({ q: e.currentTarget.value })} />
          <select aria-label="State filter" value={state.state} onChange={(e) => update({ state: e.currentTarget.value })}>
            <option value="">All states</option>
            {STATES.map((s) => (
              <option value={s} key={s}>
                {s}
              </option>
            ))}
          </select>
          <input aria-label="Tag filter" placeholder="Tag" value={state.tag} onInput={(e) => update({ tag: e.currentTarget.value })} />
          <details class="columns">
            <summary>Columns</summary>
            <div class="menu">
              {available.length === 0 ? <p class="muted">No config or summary keys on this page.</p> : null}
              {available.map((k) => (
                <label key={k}>
                  <input type="checkbox" checked={columns.includes(k)} onChange={() => update({ columns: columns.includes(k) ? columns.filter((y) => y !== k) : [...columns, k] })} /> {k}
                </label>
              ))}
            </div>
          </details>
          <label>
            Show the latest{" "}
            <input type="number" aria-label="Runs shown by default" min={1} max={PAGE} value={state.recent} onChange={(e) => update({ recent: Math.max(1, Number(e.currentTarget.value) || 1), visible: null })} />
          </label>
          {page ? (
            <span class="muted" data-total={page.total}>
              {page.total === 0 ? "No runs" : `${page.runs.length} of ${page.total.toLocaleString("en")} runs · ${shown.length} shown`}
            </span>
          ) : null}
        </div>
        {error ? <p class="error">{error}</p> : null}
        <div class="workspace-layout">
          <RunsTable
            entity={entity}
            project={project}
            runs={runs}
            state={state}
            update={update}
            visible={visible}
            setVisible={(ids) => update({ visible: ids })}
            fetchedAt={fetchedAt}
            onEdited={() => setEdits((n) => n + 1)}
          />
          {page ? <Workspace entity={entity} project={project} state={state} update={update} runs={shown} configKeys={configKeys} tags={tags} versions={versions} /> : null}
        </div>
      </main>
    </>
  );
}
