import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { ViewerView } from "../../protocol/api";
import { get } from "../lib/api";

/** The top bar: home link, where we are, and who is signed in (or a sign-in link back here). */
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
        {viewer === undefined ? null : viewer ? (
          <>
            signed in as <strong>{viewer.user}</strong>
            <form method="post" action="/logout" class="inline">
              <button type="submit" class="link">
                Sign out
              </button>
            </form>
          </>
        ) : (
          <a href={`/login?next=${next}`}>Sign in</a>
        )}
      </span>
    </header>
  );
}
