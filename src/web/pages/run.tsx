/** `/:entity/:project/runs/:id`: the run page with its tabs, live while the run runs. */
import { useEffect, useState } from "preact/hooks";
import type { RunView } from "../../protocol/api";
import { EntityCrumb } from "../components/entity-crumb";
import { Header } from "../components/header";
import { StateBadge } from "../components/state-badge";
import { get, pageHref, runsPath } from "../lib/api";
import { useRunVersion } from "../lib/live";
import { ChartsTab } from "./run-charts";
import { LogsTab } from "./run-logs";
import { MediaTab } from "./run-media";
import { OverviewTab } from "./run-overview";
import { SystemTab } from "./run-system";

const TABS = ["overview", "charts", "media", "system", "logs"] as const;
type Tab = (typeof TABS)[number];

export function RunPage({ entity, project, id }: { entity: string; project: string; id: string }) {
  const [run, setRun] = useState<RunView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const initial = new URLSearchParams(location.search).get("tab") as Tab | null;
  const [tab, setTab] = useState<Tab>(initial && TABS.includes(initial) ? initial : "overview");
  // Listen while the run runs (and a little after: the event that ends it is the last one).
  const [version] = useRunVersion(entity, project, id, run !== null && run.state === "running");
  useEffect(() => {
    get<RunView>(runsPath(entity, project, id)).then(setRun, (e: Error) => setError(e.message));
  }, [entity, project, id, version]);
  useEffect(() => {
    if (run) document.title = `${run.name} · trackside`;
  }, [run?.name]);
  const choose = (t: Tab) => {
    setTab(t);
    const u = new URL(location.href);
    u.searchParams.set("tab", t);
    history.replaceState(null, "", u);
  };
  return (
    <>
      <Header
        crumbs={
          <>
            <EntityCrumb entity={entity} /> / <a href={pageHref(entity, project)}>{project}</a> / {run?.name ?? id}
          </>
        }
      />
      <main>
        {error ? <p class="error">{error}</p> : null}
        {run ? (
          <>
            <h1>
              {run.name} <StateBadge state={run.state} />
            </h1>
            <nav class="tabs" role="tablist">
              {TABS.map((t) => (
                <button type="button" role="tab" aria-selected={t === tab} class={t === tab ? "active" : ""} onClick={() => choose(t)} key={t}>
                  {t[0].toUpperCase() + t.slice(1)}
                </button>
              ))}
            </nav>
            {tab === "overview" ? <OverviewTab run={run} onChange={setRun} /> : null}
            {tab === "charts" ? <ChartsTab run={run} version={version} /> : null}
            {tab === "media" ? <MediaTab run={run} version={version} /> : null}
            {tab === "system" ? <SystemTab run={run} version={version} /> : null}
            {tab === "logs" ? <LogsTab run={run} version={version} /> : null}
          </>
        ) : error ? null : (
          <p class="muted">Loading…</p>
        )}
      </main>
    </>
  );
}
