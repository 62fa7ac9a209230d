/**
 * Saved views of the workspace (the server's `/api/v1/views/:entity/:project`, per user): open
 * one, save the current state under a name, mark one the default (opened when the page's URL
 * names no state), delete one. A view's URL is the page's with its state, so sharing it needs no
 * saved view at all; saving keeps it by name. Hidden when signed out (the API answers 401).
 */
import { useEffect, useState } from "preact/hooks";
import type { SavedView } from "../../../protocol/api";
import { del, get, post, put } from "../../lib/api";
import { writeState, type WorkspaceState } from "../../lib/url-state";

const path = (entity: string, project: string, id?: string) => `/views/${encodeURIComponent(entity)}/${encodeURIComponent(project)}${id ? `/${encodeURIComponent(id)}` : ""}`;

/** A 204 has no JSON body to read: that is success. */
const noBody = (e: unknown) => {
  if (!(e instanceof SyntaxError)) throw e;
};

interface Props {
  entity: string;
  project: string;
  state: WorkspaceState;
  /** Opens a view's state. */
  open: (s: WorkspaceState) => void;
  /** Whether the URL named a state when the page loaded (then the default view is not applied). */
  urlHadState: boolean;
}

export function ViewsBar({ entity, project, state, open, urlHadState }: Props) {
  const [views, setViews] = useState<SavedView[] | null>(null);
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const reload = () =>
    get<{ views: SavedView[] }>(path(entity, project)).then(
      (v) => (setViews(v.views), v.views),
      () => (setViews(null), [] as SavedView[]),
    );
  useEffect(() => {
    void reload().then((vs) => {
      const d = vs.find((v) => v.isDefault);
      if (d && !urlHadState) open(d.state as unknown as WorkspaceState);
    });
  }, [entity, project]);
  if (views === null) return null;
  const act = (p: Promise<unknown>) =>
    p.then(
      () => (setError(null), reload()),
      (e: Error) => setError(e.message),
    );
  return (
    <div class="toolbar views">
      <label>
        View{" "}
        <select
          aria-label="Saved views"
          value=""
          onChange={(e) => {
            const v = views.find((x) => x.id === e.currentTarget.value);
            if (v) open(v.state as unknown as WorkspaceState);
          }}
        >
          <option value="">{views.length ? "Open a saved view…" : "No saved views"}</option>
          {views.map((v) => (
            <option key={v.id} value={v.id}>
              {v.name}
              {v.isDefault ? " (default)" : ""}
            </option>
          ))}
        </select>
      </label>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (name.trim()) void act(post(path(entity, project), { name: name.trim(), state }).then(() => setName("")));
        }}
      >
        <input aria-label="View name" placeholder="Save view as…" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        <button type="submit">Save view</button>
      </form>
      {views.map((v) => (
        <span key={v.id} class="view-item" data-view={v.name}>
          <a href={`${location.pathname}${writeState({ ...(v.state as unknown as WorkspaceState) })}`}>{v.name}</a>
          {v.isDefault ? (
            <span class="muted"> default</span>
          ) : (
            <button type="button" class="link" aria-label={`Make ${v.name} the default`} onClick={() => void act(put(path(entity, project, v.id), { isDefault: true }))}>
              make default
            </button>
          )}
          <button type="button" class="link" aria-label={`Delete view ${v.name}`} onClick={() => void act(del(path(entity, project, v.id)).catch(noBody))}>
            ✕
          </button>
        </span>
      ))}
      {error ? <span class="error">{error}</span> : null}
    </div>
  );
}
