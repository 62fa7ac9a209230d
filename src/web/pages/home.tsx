/** `/`: the signed-in user's projects, or a way to sign in. */
import { useEffect, useState } from "preact/hooks";
import type { ProjectView } from "../../protocol/api";
import { Header } from "../components/header";
import { ProjectsTable } from "../components/projects-table";
import { ApiError, get } from "../lib/api";

export function HomePage() {
  const [projects, setProjects] = useState<ProjectView[] | null>(null);
  const [signedOut, setSignedOut] = useState(false);
  useEffect(() => {
    get<{ projects: ProjectView[] }>("/viewer/projects").then(
      (r) => setProjects(r.projects),
      (e) => (e instanceof ApiError && e.status === 401 ? setSignedOut(true) : setProjects([])),
    );
  }, []);
  return (
    <>
      <Header crumbs={null} />
      <main>
        <h1>Projects</h1>
        {signedOut ? (
          <p>
            <a href="/login?next=%2F">Sign in</a> to see your projects.
          </p>
        ) : projects === null ? (
          <p class="muted">Loading…</p>
        ) : projects.length === 0 ? (
          <p>
            No projects yet. Start a run with <code>trackside.init({'{'} project: "my-project" {'}'})</code>.
          </p>
        ) : (
          <ProjectsTable projects={projects} showEntity />
        )}
      </main>
    </>
  );
}
