/**
 * `/:entity`: a user's or a team's page. Both list the projects the viewer may read
 * (`GET /api/v1/entities/:entity/projects`). A team's page shows its members to its members
 * (`GET /api/v1/teams/:team`; others get 404 there and see no list), and lets its admins add a
 * person by user name with a role, change roles and remove people. What the server refuses is
 * shown as its own message (the last admin cannot leave, an unknown user, ...).
 */
import { useEffect, useState } from "preact/hooks";
import type { EntityView, ProjectView, TeamRole, TeamView } from "../../protocol/api";
import { ConfirmButton } from "../components/confirm-button";
import { Header } from "../components/header";
import { ProjectsTable } from "../components/projects-table";
import { del, get, pageHref, put } from "../lib/api";
import { formatTime } from "../lib/format";

/** What each team role may do (docs/security.md); a Record, so that a new role cannot be left out. */
const ROLES: Record<TeamRole, string> = {
  admin: "reads, logs and edits runs; manages members and project settings",
  member: "reads, logs and edits runs",
  viewer: "reads runs",
};
const TEAM_ROLES = Object.keys(ROLES) as TeamRole[];

const membersPath = (team: string, user: string) => `/teams/${encodeURIComponent(team)}/members/${encodeURIComponent(user)}`;

export function EntityPage({ entity }: { entity: string }) {
  const [view, setView] = useState<EntityView | null>(null);
  const [projects, setProjects] = useState<ProjectView[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [version, setVersion] = useState(0);
  useEffect(() => {
    const e = encodeURIComponent(entity);
    get<EntityView>(`/entities/${e}`).then(setView, (err: Error) => setError(err.message));
    get<{ projects: ProjectView[] }>(`/entities/${e}/projects`).then((r) => setProjects(r.projects), (err: Error) => setError(err.message));
  }, [entity, version]);
  useEffect(() => void (document.title = `${entity} · trackside`), [entity]);

  return (
    <>
      <Header crumbs={<span>{entity}</span>} />
      <main>
        <h1>
          {entity} {view ? <span class="kind" data-kind={view.kind}>{view.kind}</span> : null}
        </h1>
        {error ? <p class="error">{error}</p> : null}
        {view?.kind === "team" && view.role !== null ? <Members team={entity} canAdminister={view.canAdminister} onLeft={() => setVersion((v) => v + 1)} /> : null}
        <h2>Projects</h2>
        {projects === null ? (
          <p class="muted">Loading…</p>
        ) : projects.length === 0 ? (
          <p class="muted">No projects you can see.</p>
        ) : (
          <ProjectsTable projects={projects} showEntity={false} class="grid projects" />
        )}
      </main>
    </>
  );
}

/** A team's members and roles; its admins change them. */
function Members({ team, canAdminister, onLeft }: { team: string; canAdminister: boolean; onLeft: () => void }) {
  const [view, setView] = useState<TeamView | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    get<TeamView>(`/teams/${encodeURIComponent(team)}`).then(setView, (e: Error) => setError(e.message));
  }, [team]);

  /** Runs a change; the server answers the team as it now is, or `{ok}` when the asker left it. */
  const change = async (f: () => Promise<TeamView | { ok: true }>): Promise<boolean> => {
    try {
      const next = await f();
      setError(null);
      if ("members" in next) setView(next);
      else onLeft();
      return true;
    } catch (e) {
      setError((e as Error).message);
      return false;
    }
  };
  const setRole = (user: string, role: TeamRole) => change(() => put<TeamView>(membersPath(team, user), { role }));
  const remove = (user: string) => change(() => del<TeamView | { ok: true }>(membersPath(team, user)));

  return (
    <section class="members">
      <h2>Members</h2>
      {error ? <p class="error">{error}</p> : null}
      {view === null ? (
        error ? null : <p class="muted">Loading…</p>
      ) : (
        <table class="grid members">
          <thead>
            <tr>
              <th>User</th>
              <th>Role</th>
              <th>Added</th>
              {canAdminister ? <th /> : null}
            </tr>
          </thead>
          <tbody>
            {view.members.map((m) => (
              <tr key={m.user} data-member={m.user}>
                <td>
                  <a href={pageHref(m.user)}>{m.user}</a>
                </td>
                <td>
                  {canAdminister ? (
                    <select aria-label={`Role of ${m.user}`} value={m.role} onChange={(e) => void setRole(m.user, e.currentTarget.value as TeamRole)}>
                      {TEAM_ROLES.map((r) => (
                        <option value={r} key={r} title={ROLES[r]}>
                          {r}
                        </option>
                      ))}
                    </select>
                  ) : (
                    m.role
                  )}
                </td>
                <td>{formatTime(m.addedAt)}</td>
                {canAdminister ? (
                  <td>
                    <ConfirmButton label="Remove" question={`Remove ${m.user} from ${team}?`} onConfirm={() => void remove(m.user)} />
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {canAdminister ? <AddMember onAdd={(user, role) => setRole(user, role)} /> : null}
    </section>
  );
}

function AddMember({ onAdd }: { onAdd: (user: string, role: TeamRole) => Promise<boolean> }) {
  const [user, setUser] = useState("");
  const [role, setRole] = useState<TeamRole>("member");
  return (
    <form
      class="toolbar"
      onSubmit={(e) => {
        e.preventDefault();
        const name = user.trim();
        if (name) void onAdd(name, role).then((ok) => ok && setUser(""));
      }}
    >
      <input aria-label="User name" placeholder="User name" value={user} onInput={(e) => setUser(e.currentTarget.value)} />
      <select aria-label="Role" value={role} onChange={(e) => setRole(e.currentTarget.value as TeamRole)}>
        {TEAM_ROLES.map((r) => (
          <option value={r} key={r} title={ROLES[r]}>
            {r}
          </option>
        ))}
      </select>
      <button type="submit">Add member</button>
    </form>
  );
}
