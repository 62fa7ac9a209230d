/**
 * The Media tab: one panel per media key of the run (images, histograms, tables; issue 19), in
 * key order, with a search over the keys like the Charts tab's.
 */
import { useState } from "preact/hooks";
import type { RunView } from "../../protocol/api";
import { MediaPanel } from "../components/media/media-panel";
import { useMediaKeys } from "../lib/media";

export function MediaTab({ run, version }: { run: RunView; version: number }) {
  const keys = useMediaKeys(run.entity, run.project, run.id, version);
  const [search, setSearch] = useState("");
  if (keys === null) return <p class="muted">Loading…</p>;
  const shown = keys.filter((k) => k.key.toLowerCase().includes(search.toLowerCase()));
  return (
    <section class="media-tab">
      {keys.length > 0 ? (
        <div class="toolbar">
          <input type="search" aria-label="Search media" placeholder="Search media" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
          <span class="muted">{keys.length.toLocaleString("en")} media keys</span>
        </div>
      ) : null}
      {shown.length === 0 ? <p class="muted">{keys.length ? "No media key matches." : "No images, histograms or tables logged yet."}</p> : null}
      <div class="media-panels">
        {shown.map((k) => (
          <MediaPanel key={k.key} entity={run.entity} project={run.project} id={run.id} media={k} version={version} />
        ))}
      </div>
    </section>
  );
}
