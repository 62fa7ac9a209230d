/**
 * The web app's entry: picks the page from the path, as the server routes it (`/`, `/settings`,
 * `/:entity`, `/:entity/:project`, `/:entity/:project/runs/:id`, `/:entity/:project/artifacts`,
 * `/:entity/:project/artifacts/:name[/:alias]`; "settings" is a name no entity may take). Links are plain links: each page load is checked by the server (a hidden run is a
 * 404 page before any script runs).
 */
import { render } from "preact";
import { ArtifactPage } from "./pages/artifact";
import { ArtifactsPage } from "./pages/artifacts";
import { EntityPage } from "./pages/entity";
import { HomePage } from "./pages/home";
import { ProjectPage } from "./pages/project";
import { RunPage } from "./pages/run";
import { SettingsPage } from "./pages/settings";
import "./style.css";

function App() {
  const parts = location.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts.length === 4 && parts[2] === "runs") return <RunPage entity={parts[0]} project={parts[1]} id={parts[3]} />;
  if (parts.length >= 3 && parts.length <= 5 && parts[2] === "artifacts") {
    const [entity, project, , name, alias] = parts;
    return name === undefined ? <ArtifactsPage entity={entity} project={project} /> : <ArtifactPage entity={entity} project={project} name={name} alias={alias ?? null} />;
  }
  if (parts.length === 2) return <ProjectPage entity={parts[0]} project={parts[1]} />;
  if (parts.length === 1) return parts[0] === "settings" ? <SettingsPage /> : <EntityPage entity={parts[0]} />;
  return <HomePage />;
}

render(<App />, document.getElementById("app")!);
