/**
 * `/settings`: the account page. Lists the user's API keys (never the keys themselves), creates
 * one with an optional label and shows it this once, and revokes one after asking. The server
 * answers the shell to anyone; a 401 from the key list means signed out, and the page says so.
 */
import { useEffect, useState } from "preact/hooks";
import type { ApiKeyView, NewApiKeyView } from "../../protocol/api";
import { ConfirmButton } from "../components/confirm-button";
import { Header } from "../components/header";
import { ApiError, del, get, post } from "../lib/api";
import { formatTime } from "../lib/format";

export function SettingsPage() {
  const [keys, setKeys] = useState<ApiKeyView[] | null>(null);
  const [signedOut, setSignedOut] = useState(false);
  const [fresh, setFresh] = useState<NewApiKeyView | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = () =>
    get<{ keys: ApiKeyView[] }>("/keys").then(
      (r) => setKeys(r.keys),
      (e: Error) => (e instanceof ApiError && e.status === 401 ? setSignedOut(true) : setError(e.message)),
    );
  useEffect(() => void load(), []);
  useEffect(() => void (document.title = "Account · trackside"), []);

  const act = async (f: () => Promise<unknown>) => {
    try {
      await f();
      setError(null);
    } catch (e) {
      setError((e as Error).message);
    }
    await load();
  };
  const create = (label: string) =>
    act(async () => {
      const key = await post<NewApiKeyView>("/keys", label ? { label } : {});
      setFresh(key);
    });
  const revoke = (k: ApiKeyView) =>
    act(async () => {
      await del(`/keys/${k.id}`);
      if (fresh?.id === k.id) setFresh(null);
    });

  return (
    <>
      <Header crumbs={<span>Account</span>} />
      <main class="narrow">
        <h1>Account</h1>
        {signedOut ? (
          <p>
            <a href="/login?next=%2Fsettings">Sign in</a> to manage your API keys.
          </p>
        ) : (
          <>
            <h2>API keys</h2>
            <p class="muted">
              Programs and the CLI sign in with an API key (<code>trackside login</code>). A revoked key stops working at once.
            </p>
            {error ? <p class="error">{error}</p> : null}
            {fresh ? <NewKey created={fresh} onDone={() => setFresh(null)} /> : null}
            {keys === null ? (
              <p class="muted">Loading…</p>
            ) : keys.length === 0 ? (
              <p>No API keys.</p>
            ) : (
              <table class="grid keys">
                <thead>
                  <tr>
                    <th>Label</th>
                    <th>Key</th>
                    <th>Created</th>
                    <th>Last used</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {keys.map((k) => (
                    <tr key={k.id} data-key={k.id}>
                      <td>{k.label ?? <span class="muted">—</span>}</td>
                      <td>
                        <code>{k.prefix}…</code>
                      </td>
                      <td>{formatTime(k.createdAt)}</td>
                      <td>{k.lastUsedAt ? formatTime(k.lastUsedAt) : <span class="muted">never</span>}</td>
                      <td>
                        <ConfirmButton label="Revoke" question="Revoke this key?" onConfirm={() => revoke(k)} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            <CreateKey onCreate={create} />
          </>
        )}
      </main>
    </>
  );
}

function CreateKey({ onCreate }: { onCreate: (label: string) => Promise<void> }) {
  const [label, setLabel] = useState("");
  return (
    <form
      class="toolbar"
      onSubmit={(e) => {
        e.preventDefault();
        void onCreate(label.trim()).then(() => setLabel(""));
      }}
    >
      <input aria-label="Key label" placeholder="Label (optional), e.g. laptop" value={label} onInput={(e) => setLabel(e.currentTarget.value)} />
      <button type="submit">Create key</button>
    </form>
  );
}

/** The key just created: shown this once, with a way to copy it. */
function NewKey({ created, onDone }: { created: NewApiKeyView; onDone: () => void }) {
  const [copied, setCopied] = useState(false);
  const copy = () =>
    navigator.clipboard?.writeText(created.key).then(
      () => setCopied(true),
      () => setCopied(false),
    );
  return (
    <div class="notice-box" data-new-key>
      <p>
        New key{created.label ? ` "${created.label}"` : ""}: <strong>copy it now, it is not shown again.</strong>
      </p>
      <p>
        <code class="secret" data-secret>
          {created.key}
        </code>{" "}
        <button type="button" onClick={() => void copy()}>
          {copied ? "Copied" : "Copy"}
        </button>{" "}
        <button type="button" class="link" onClick={onDone}>
          Done
        </button>
      </p>
    </div>
  );
}
