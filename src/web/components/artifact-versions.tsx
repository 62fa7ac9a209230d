import type { ArtifactVersionSummary } from "../../protocol/artifacts";
import { artifactHref } from "../lib/api";
import { formatBytes, formatTime } from "../lib/format";

/** A version's aliases as small labels (`latest` first, as the server sorts them otherwise). */
export function Aliases({ aliases }: { aliases: string[] }) {
  if (aliases.length === 0) return <span class="muted">—</span>;
  const sorted = [...aliases].sort((a, b) => (a === "latest" ? -1 : b === "latest" ? 1 : a.localeCompare(b)));
  return (
    <span class="aliases">
      {sorted.map((a) => (
        <span class={a === "latest" ? "alias latest" : "alias"} key={a} data-alias={a}>
          {a}
        </span>
      ))}
    </span>
  );
}

/**
 * Artifact versions as a table: `name:vN` linked to the version's page, aliases, type, size and
 * file count. `here`: the project of the page that shows the table; a version of another
 * project (a run's input from elsewhere) is written with its `entity/project/` before the name.
 */
export function ArtifactVersionsTable(props: { versions: ArtifactVersionSummary[]; here: { entity: string; project: string }; section: string; current?: number; showName?: boolean }) {
  const { versions, here } = props;
  const showName = props.showName ?? true;
  return (
    <table class="grid artifacts" data-section={props.section}>
      <thead>
        <tr>
          <th>{showName ? "Artifact" : "Version"}</th>
          <th>Aliases</th>
          <th>Type</th>
          <th>Size</th>
          <th>Files</th>
          <th>Created</th>
        </tr>
      </thead>
      <tbody>
        {versions.map((v) => {
          const elsewhere = v.entity !== here.entity || v.project !== here.project;
          const text = showName ? `${elsewhere ? `${v.entity}/${v.project}/` : ""}${v.ref}` : `v${v.version}`;
          return (
            <tr key={`${v.entity}/${v.project}/${v.ref}`} class={props.current === v.version ? "current" : undefined} data-ref={v.ref}>
              <td>
                <a href={artifactHref(v.entity, v.project, v.name, `v${v.version}`)}>{text}</a>
              </td>
              <td>
                <Aliases aliases={v.aliases} />
              </td>
              <td>{v.type}</td>
              <td title={`${v.size.toLocaleString("en")} bytes`}>{formatBytes(v.size)}</td>
              <td>{v.fileCount.toLocaleString("en")}</td>
              <td>{formatTime(v.createdAt)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
