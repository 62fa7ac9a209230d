import type { ProjectView } from "../../protocol/api";
import { pageHref } from "../lib/api";
import { formatTime } from "../lib/format";

/**
 * Projects as a table linking to their pages: runs and last run beside each. `showEntity`: name
 * each by entity/project (the home page, across entities); else by its name (an entity's page).
 */
export function ProjectsTable({ projects, showEntity, class: className = "grid" }: { projects: ProjectView[]; showEntity: boolean; class?: string }) {
  return (
    <table class={className}>
      <thead>
        <tr>
          <th>Project</th>
          <th>Runs</th>
          <th>Last run</th>
        </tr>
      </thead>
      <tbody>
        {projects.map((p) => (
          <tr key={`${p.entity}/${p.name}`}>
            <td>
              <a href={pageHref(p.entity, p.name)}>{showEntity ? `${p.entity}/${p.name}` : p.name}</a>
            </td>
            <td>{p.runCount}</td>
            <td>{formatTime(p.lastRunAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
