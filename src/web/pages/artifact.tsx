/**
 * `/:entity/:project/artifacts/:name[/:alias]`: one artifact version (the latest without an
 * alias) with the collection's versions beside it: aliases, files (path, size, digest, a download
 * link each), references, metadata, and its lineage: the runs that logged it and the runs that
 * used it, as tables and as a graph run -> artifact -> run.
 */
import { useEffect, useState } from "preact/hooks";
import type { ArtifactCollectionDetail, ArtifactRunLink, ArtifactVersionDetail } from "../../protocol/artifacts";
import type { RunState } from "../../protocol/records";
import { Aliases, ArtifactVersionsTable } from "../components/artifact-versions";
import { EntityCrumb } from "../components/entity-crumb";
import { Header } from "../components/header";
import { LineageGraph } from "../components/lineage-graph";
import { StateBadge } from "../components/state-badge";
import { artifactHref, artifactsPath, get, pageHref, runHref } from "../lib/api";
import { atPath, formatBytes, formatTime, formatValue, leafKeys } from "../lib/format";

/** Hex characters of a digest shown in tables; the whole digest is the cell's tooltip. */
const SHORT_DIGEST = 12;

function Digest({ digest }: { digest: string | null }) {
  if (digest === null) return <span class="muted">—</span>;
  return (
    <code class="digest" title={digest} data-digest={digest}>
      {digest.slice(0, SHORT_DIGEST)}
    </code>
  );
}

function RunsTable({ runs, section, none }: { runs: ArtifactRunLink[]; section: string; none: string }) {
  if (runs.length === 0) return <p class="muted">{none}</p>;
  return (
    <table class="grid" data-section={section}>
      <thead>
        <tr>
          <th>Run</th>
          <th>Path</th>
          <th>State</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((r) => (
          <tr key={`${r.entity}/${r.project}/${r.id}`}>
            <td>
              <a href={runHref(r.entity, r.project, r.id)}>{r.name}</a>
            </td>
            <td>
              <code>
                {r.entity}/{r.project}/{r.id}
              </code>
            </td>
            <td>
              <StateBadge state={r.state as RunState} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Files({ version }: { version: ArtifactVersionDetail }) {
  if (version.files.length === 0) return <p class="muted">No files.</p>;
  return (
    <div class="table-wrap">
      <table class="grid files" data-section="Files">
        <thead>
          <tr>
            <th>Path</th>
            <th>Size</th>
            <th>Digest (sha256)</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {version.files.map((f) => (
            <tr key={f.path} data-path={f.path}>
              <td>
                <code>{f.path}</code>
              </td>
              <td title={`${f.size.toLocaleString("en")} bytes`}>{formatBytes(f.size)}</td>
              <td>
                <Digest digest={f.digest} />
              </td>
              <td>
                {/* `download` names the saved file (same-origin URLs; a presigned one names itself). */}
                <a href={f.url} download={f.path.split("/").pop()}>
                  Download
                </a>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function References({ version }: { version: ArtifactVersionDetail }) {
  if (version.references.length === 0) return null;
  return (
    <>
      <h2>References</h2>
      <table class="grid" data-section="References">
        <thead>
          <tr>
            <th>Path</th>
            <th>URI</th>
            <th>Size</th>
            <th>Digest (sha256)</th>
          </tr>
        </thead>
        <tbody>
          {version.references.map((r) => (
            <tr key={r.path}>
              <td>
                <code>{r.path}</code>
              </td>
              <td>
                <code>{r.uri}</code>
              </td>
              <td>{r.size === null ? "—" : formatBytes(r.size)}</td>
              <td>
                <Digest digest={r.digest} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function Metadata({ metadata }: { metadata: Record<string, unknown> }) {
  const keys = leafKeys(metadata);
  if (keys.length === 0) return <p class="muted">No metadata.</p>;
  return (
    <table class="grid kv" data-section="Metadata">
      <tbody>
        {keys.map((k) => (
          <tr key={k}>
            <th>{k}</th>
            <td>{formatValue(atPath(metadata, k))}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function ArtifactPage({ entity, project, name, alias }: { entity: string; project: string; name: string; alias: string | null }) {
  const [collection, setCollection] = useState<ArtifactCollectionDetail | null>(null);
  const [version, setVersion] = useState<ArtifactVersionDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    get<ArtifactCollectionDetail>(artifactsPath(entity, project, name)).then(setCollection, (e: Error) => setError(e.message));
    get<ArtifactVersionDetail>(artifactsPath(entity, project, name, alias ?? "latest")).then(setVersion, (e: Error) => setError(e.message));
  }, [entity, project, name, alias]);
  useEffect(() => {
    if (version) document.title = `${version.ref} · trackside`;
  }, [version?.ref]);
  const cliRef = version ? `${entity}/${project}/${version.ref}` : "";
  return (
    <>
      <Header
        crumbs={
          <>
            <EntityCrumb entity={entity} /> / <a href={pageHref(entity, project)}>{project}</a> / <a href={artifactHref(entity, project)}>artifacts</a> /{" "}
            {version ? version.ref : name}
          </>
        }
      />
      <main class="artifact">
        {error ? <p class="error">{error}</p> : null}
        {version ? (
          <>
            <h1>
              {version.ref} <span class="kind">{version.type}</span> <Aliases aliases={version.aliases} />
            </h1>
            <dl class="facts">
              <dt>Description</dt>
              <dd data-field="Description">{version.description ?? <span class="muted">—</span>}</dd>
              <dt>Size</dt>
              <dd data-field="Size">
                {formatBytes(version.size)} in {version.fileCount.toLocaleString("en")} {version.fileCount === 1 ? "file" : "files"}
              </dd>
              <dt>Digest</dt>
              <dd data-field="Digest">
                <code>{version.digest}</code>
              </dd>
              <dt>Created</dt>
              <dd data-field="Created">{formatTime(version.createdAt)}</dd>
              <dt>Download</dt>
              <dd data-field="Download">
                <code>trackside artifacts get {cliRef}</code>
              </dd>
            </dl>
            <h2>Lineage</h2>
            <div class="lineage-wrap">
              <LineageGraph artifact={version.ref} type={version.type} producedBy={version.producedBy} usedBy={version.usedBy} />
            </div>
            <div class="lineage-tables">
              <div>
                <h3>Logged by</h3>
                <RunsTable runs={version.producedBy} section="Logged by" none="No run logged it." />
              </div>
              <div>
                <h3>Used by</h3>
                <RunsTable runs={version.usedBy} section="Used by" none="No run has used it." />
              </div>
            </div>
            <h2>Files</h2>
            <Files version={version} />
            <References version={version} />
            <h2>Metadata</h2>
            <Metadata metadata={version.metadata} />
          </>
        ) : error ? null : (
          <p class="muted">Loading…</p>
        )}
        {collection ? (
          <>
            <h2>Versions</h2>
            <ArtifactVersionsTable versions={collection.versions} here={{ entity, project }} section="Versions" current={version?.version} showName={false} />
          </>
        ) : null}
      </main>
    </>
  );
}
