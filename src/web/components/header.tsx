import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { ViewerView } from "../../protocol/api";
import { get, pageHref } from "../lib/api";

/**
 * The top bar: home link, where we are, and who is signed in (or a sign-in link back here).
 * The signed-in user's menu lists the entities they may open (their own and their teams'),
 * the account page and Sign out. It is a `<details>`: it opens and closes without script state.
 */
export function Header({ crumbs }: { crumbs: ComponentChildren }) {
  const [viewer, setViewer] = useState<ViewerView | null | undefined>(undefined);
  useEffect(() => {
    get<ViewerView>("/viewer").then(setViewer, () => setViewer(null));
  }, []);
  const next = encodeURIComponent(location.pathname + location.search);
  return (
    <header class="top">
      <a class="brand" href="/">
        trackside
      </a>
      <nav class="crumbs">{crumbs}</nav>
      <span class="who">
        {viewer === undefined ? null : viewer ? <UserMenu viewer={viewer} /> : <a href={`/login?next=${next}`}>Sign in</a>}
      </span>
    </header>
  );
}

function UserMenu({ viewer }: { viewer: ViewerView }) {
  return (
    <details class="user-menu">
      <summary aria-label="User menu">
        signed in as <strong>{viewer.user}</strong>
      </summary>
      <div class="menu" role="menu">
        <p class="menu-head">Entities</p>
        <a role="menuitem" href={pageHref(viewer.entity)} data-entity={viewer.entity}>
          {viewer.entity} <span class="muted">user</span>
        </a>
        {viewer.teams.map((t) => (
          <a role="menuitem" href={pageHref(t.name)} data-entity={t.name} key={t.name}>
            {t.name} <span class="muted">team {t.role}</span>
          </a>
        ))}
        <hr />
        <a role="menuitem" href="/settings">
          Account settings
        </a>
        <form method="post" action="/logout">
          <button type="submit" class="link" role="menuitem">
            Sign out
          </button>
        </form>
      </div>
    </details>
  );
}
