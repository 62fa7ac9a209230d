/**
 * `/:entity/:project/artifacts`: the project's artifact collections (`GET
 * /api/v1/artifacts/:entity/:project[?type=T]`), each with its latest version, filtered by type.
 */
import { useEffect, useState } from "preact/hooks";
import type { ArtifactCollectionSummary } from "../../protocol/artifacts";
import { Aliases } from "../components/artifact-versions";
import { EntityCrumb } from "../components/entity-crumb";
import { Header } from "../components/header";
import { artifactHref, artifactsPath, get, pageHref, qs } from "../lib/api";
import { formatBytes, formatTime } from "../lib/format";

export function ArtifactsPage({ entity, project }: { entity: string; project: string }) {
  const [type, setType] = useState(new URLSearchParams(location.search).get("type") ?? "");
  const [all, setAll] = useState<ArtifactCollectionSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    document.title = `${project} artifacts · trackside`;
    get<{ artifacts: ArtifactCollectionSummary[] }>(artifactsPath(entity, project)).then((a) => setAll(a.artifacts), (e: Error) => setError(e.message));
  }, [entity, project]);
  const choose = (t: string) => {
    setType(t);
    const u = new URL(location.href);
    u.search = qs({ type: t });
    history.replaceState(null, "", u);
  };
  // One answer holds every collection of the project: the type filter needs no second request.
  const types = [...new Set((all ?? []).map((c) => c.type))].sort();
  const shown = (all ?? []).filter((c) => type === "" || c.type === type);
  return (
    <>
      <Header
        crumbs={
          <>
            <EntityCrumb entity={entity} /> / <a href={pageHref(entity, project)}>{project}</a> / artifacts
          </>
        }
      />
      <main class="artifacts">
        <h1>
          {entity}/{project} artifacts
        </h1>
        {error ? <p class="error">{error}</p> : null}
        {all === null ? (
          error ? null : <p class="muted">Loading…</p>
        ) : all.length === 0 ? (
          <p class="muted">No artifacts in this project yet: a run logs them with run.logArtifact().</p>
        ) : (
          <>
            <div class="toolbar">
              <select aria-label="Type filter" value={type} onChange={(e) => choose(e.currentTarget.value)}>
                <option value="">All types</option>
                {types.map((t) => (
                  <option value={t} key={t}>
                    {t}
                  </option>
                ))}
              </select>
            </div>
            <table class="grid artifacts" data-section="Artifacts">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Type</th>
                  <th>Versions</th>
                  <th>Latest</th>
                  <th>Aliases</th>
                  <th>Size</th>
                  <th>Updated</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((c) => (
                  <tr key={c.name} data-name={c.name}>
                    <td>
                      <a href={artifactHref(entity, project, c.name)}>{c.name}</a>
                    </td>
                    <td>{c.type}</td>
                    <td>{c.versions.toLocaleString("en")}</td>
                    <td>
                      <a href={artifactHref(entity, project, c.name, `v${c.latest.version}`)}>v{c.latest.version}</a>
                    </td>
                    <td>
                      <Aliases aliases={c.latest.aliases} />
                    </td>
                    <td>{formatBytes(c.latest.size)}</td>
                    <td>{formatTime(c.latest.createdAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
      </main>
    </>
  );
}
