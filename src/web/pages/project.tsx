/**
 * `/:entity/:project`: the runs table. Sorting, filtering and paging happen on the server
 * (`GET /api/v1/runs/:entity/:project?sort=&order=&state=&tag=&q=&limit=&offset=`), so a
 * project of 10,000 runs loads one page at a time. Config and summary columns are chosen from
 * the keys of the runs on the page; the choice is kept per project in localStorage. Runs ticked
 * in the table are compared in one chart of a chosen metric. The crumbs name the project's
 * entity (a user or a team); its administrators set the default privacy of new runs here.
 */
import { useEffect, useMemo, useState } from "preact/hooks";
import type { HistoryBucketsView, RunListItem, RunListPage } from "../../protocol/api";
import type { RunState } from "../../protocol/records";
import { DefaultPrivacy } from "../components/default-privacy";
import { EntityCrumb } from "../components/entity-crumb";
import { Header } from "../components/header";
import { LineChart } from "../components/line-chart";
import { colorFor } from "../lib/colors";
import { bucketLine, bucketXs, fetchBuckets } from "../components/metric-chart";
import { StateBadge } from "../components/state-badge";
import { get, qs, runsPath } from "../lib/api";
import { atPath, formatDuration, formatTime, formatValue, leafKeys } from "../lib/format";

const PAGE = 50;
const STATES: RunState[] = ["running", "finished", "failed", "killed", "crashed"];

interface Column {
  id: string;
  label: string;
  /** The server's sort field; null: not sortable. */
  sort: string;
  cell: (r: RunListItem) => preact.ComponentChildren;
}

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

export function ProjectPage({ entity, project }: { entity: string; project: string }) {
  const storeKey = `trackside:columns:${entity}/${project}`;
  const [sort, setSort] = useState("createdAt");
  const [order, setOrder] = useState<"asc" | "desc">("desc");
  const [state, setState] = useState("");
  const [tag, setTag] = useState("");
  const [text, setText] = useState("");
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<RunListPage | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [extra, setExtra] = useState<string[]>(() => JSON.parse(localStorage.getItem(storeKey) ?? "[]") as string[]);
  const [selected, setSelected] = useState<RunListItem[]>([]);
  const q = useDebounced(text, 250);
  const tagQ = useDebounced(tag, 250);

  useEffect(() => setOffset(0), [sort, order, state, tagQ, q]);
  useEffect(() => {
    let live = true;
    get<RunListPage>(`${runsPath(entity, project)}${qs({ sort, order, state, tag: tagQ, q, limit: PAGE, offset })}`).then(
      (p) => live && (setPage(p), setError(null)),
      (e: Error) => live && setError(e.message),
    );
    return () => {
      live = false;
    };
  }, [entity, project, sort, order, state, tagQ, q, offset]);
  useEffect(() => localStorage.setItem(storeKey, JSON.stringify(extra)), [extra]);

  // Keys offered as columns: the config and summary keys of the runs on this page.
  const available = useMemo(() => {
    const keys = new Set<string>();
    for (const r of page?.runs ?? []) {
      for (const k of leafKeys(r.config)) keys.add(`config.${k}`);
      for (const k of leafKeys(r.summary)) keys.add(`summary.${k}`);
    }
    for (const k of extra) keys.add(k);
    return [...keys].sort();
  }, [page, extra]);

  const columns: Column[] = [
    { id: "name", label: "Name", sort: "name", cell: (r) => <a href={`/${encodeURIComponent(entity)}/${encodeURIComponent(project)}/runs/${encodeURIComponent(r.id)}`}>{r.name}</a> },
    { id: "state", label: "State", sort: "state", cell: (r) => <StateBadge state={r.state} /> },
    { id: "created", label: "Created", sort: "createdAt", cell: (r) => formatTime(r.createdAt) },
    { id: "duration", label: "Duration", sort: "duration", cell: (r) => formatDuration(r.durationSeconds) },
    { id: "author", label: "Author", sort: "author", cell: (r) => r.author },
    { id: "tags", label: "Tags", sort: "tags", cell: (r) => r.tags.map((t) => <span class="tag" key={t}>{t}</span>) },
    { id: "notes", label: "Notes", sort: "notes", cell: (r) => <span class="notes">{r.notes ?? ""}</span> },
    { id: "jobType", label: "Job type", sort: "jobType", cell: (r) => r.jobType ?? "" },
    { id: "group", label: "Group", sort: "group", cell: (r) => r.group ?? "" },
    ...extra.map((k): Column => ({
      id: k,
      label: k,
      sort: k,
      cell: (r) => formatValue(k.startsWith("summary.") ? atPath(r.summary, k.slice(8)) : atPath(r.config, k.slice(7))),
    })),
  ];

  const clickSort = (c: Column) => {
    if (sort === c.sort) {
      setOrder(order === "asc" ? "desc" : "asc");
    } else {
      setSort(c.sort);
      setOrder(c.sort === "createdAt" ? "desc" : "asc");
    }
  };
  const toggle = (r: RunListItem) =>
    setSelected((s) => (s.some((x) => x.id === r.id) ? s.filter((x) => x.id !== r.id) : [...s, r]));

  return (
    <>
      <Header
        crumbs={
          <>
            <EntityCrumb entity={entity} /> / {project}
          </>
        }
      />
      <main>
        <h1>
          {entity}/{project}
        </h1>
        <DefaultPrivacy entity={entity} project={project} />
        <div class="toolbar">
          <input type="search" aria-label="Search runs" placeholder="Search name, notes, tags…" value={text} onInput={(e) => setText(e.currentTarget.value)} />
          <select aria-label="State filter" value={state} onChange={(e) => setState(e.currentTarget.value)}>
            <option value="">All states</option>
            {STATES.map((s) => (
              <option value={s} key={s}>
                {s}
              </option>
            ))}
          </select>
          <input aria-label="Tag filter" placeholder="Tag" value={tag} onInput={(e) => setTag(e.currentTarget.value)} />
          <details class="columns">
            <summary>Columns</summary>
            <div class="menu">
              {available.length === 0 ? <p class="muted">No config or summary keys on this page.</p> : null}
              {available.map((k) => (
                <label key={k}>
                  <input type="checkbox" checked={extra.includes(k)} onChange={() => setExtra((x) => (x.includes(k) ? x.filter((y) => y !== k) : [...x, k]))} /> {k}
                </label>
              ))}
              <form
                onSubmit={(e) => {
                  e.preventDefault();
                  const input = e.currentTarget.elements.namedItem("key") as HTMLInputElement;
                  const k = input.value.trim();
                  if (/^(config|summary)\..+/.test(k) && !extra.includes(k)) setExtra([...extra, k]);
                  input.value = "";
                }}
              >
                <input name="key" aria-label="Add column" placeholder="config.lr or summary.acc" />
              </form>
            </div>
          </details>
          {page ? (
            <span class="muted" data-total={page.total}>
              {page.total === 0 ? "No runs" : `${offset + 1}–${offset + page.runs.length} of ${page.total.toLocaleString("en")} runs`}
            </span>
          ) : null}
          <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
            Previous
          </button>
          <button type="button" disabled={!page || offset + PAGE >= page.total} onClick={() => setOffset(offset + PAGE)}>
            Next
          </button>
        </div>
        {error ? <p class="error">{error}</p> : null}
        <div class="table-wrap">
          <table class="grid runs">
            <thead>
              <tr>
                <th aria-label="Compare" />
                {columns.map((c) => (
                  <th key={c.id} data-column={c.id} class="sortable" onClick={() => clickSort(c)} aria-sort={sort === c.sort ? (order === "asc" ? "ascending" : "descending") : undefined}>
                    {c.label}
                    {sort === c.sort ? (order === "asc" ? " ▲" : " ▼") : ""}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {(page?.runs ?? []).map((r) => (
                <tr key={r.id} data-run={r.id}>
                  <td>
                    <input type="checkbox" aria-label={`Compare ${r.name}`} checked={selected.some((x) => x.id === r.id)} onChange={() => toggle(r)} />
                  </td>
                  {columns.map((c) => (
                    <td key={c.id}>{c.cell(r)}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {selected.length ? <Compare entity={entity} project={project} runs={selected} /> : <p class="muted">Tick runs to compare a metric across them.</p>}
      </main>
    </>
  );
}

/** The same metric of several runs in one chart. */
function Compare({ entity, project, runs }: { entity: string; project: string; runs: RunListItem[] }) {
  const metrics = useMemo(() => [...new Set(runs.flatMap((r) => Object.keys(r.summary).filter((k) => typeof r.summary[k] === "number" && !k.startsWith("_"))))].sort(), [runs]);
  const [metric, setMetric] = useState("");
  const key = metric && metrics.includes(metric) ? metric : (metrics[0] ?? "");
  const [data, setData] = useState<HistoryBucketsView[] | null>(null);
  useEffect(() => {
    if (!key) return;
    let live = true;
    Promise.all(runs.map((r) => fetchBuckets(entity, project, r.id, key, "step", null))).then((d) => live && setData(d));
    return () => {
      live = false;
    };
  }, [entity, project, runs, key]);
  const chart = useMemo(() => {
    if (!data) return null;
    // Each run keeps its own x; the chart aligns them.
    const series = data.map((b, i) => {
      const id = runs[i]?.id ?? b.key;
      return { id, label: runs[i]?.name ?? b.key, color: colorFor(id), xs: bucketXs(b), ys: bucketLine(b) };
    });
    return { series, points: data.reduce((s, b) => s + b.points, 0) };
  }, [data]);
  return (
    <section class="compare">
      <h2>Compare {runs.length} runs</h2>
      {metrics.length === 0 ? (
        <p class="muted">The selected runs have no numeric summary metrics.</p>
      ) : (
        <>
          <select aria-label="Compare metric" value={key} onChange={(e) => setMetric(e.currentTarget.value)}>
            {metrics.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
          {chart ? <LineChart title={key} series={chart.series} xLabel="Step" points={chart.points} /> : null}
        </>
      )}
    </section>
  );
}
