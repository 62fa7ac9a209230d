/**
 * The web app's entry: picks the page from the path, as the server routes it
 * (`/`, `/:entity/:project`, `/:entity/:project/runs/:id`). Links are plain links: each page
 * load is checked by the server (a hidden run is a 404 page before any script runs).
 */
import { render } from "preact";
import { HomePage } from "./pages/home";
import { ProjectPage } from "./pages/project";
import { RunPage } from "./pages/run";
import "./style.css";

function App() {
  const parts = location.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts.length === 4 && parts[2] === "runs") return <RunPage entity={parts[0]} project={parts[1]} id={parts[3]} />;
  if (parts.length === 2) return <ProjectPage entity={parts[0]} project={parts[1]} />;
  return <HomePage />;
}

render(<App />, document.getElementById("app")!);
