import { useState } from "preact/hooks";

/**
 * A button for something that cannot be undone (revoking a key, removing a member): the first
 * click asks in place ("Revoke this key? Yes / Cancel"), the second does it. In the page rather
 * than window.confirm, so that the question stays next to the row it is about.
 */
export function ConfirmButton({ label, question, onConfirm }: { label: string; question: string; onConfirm: () => Promise<void> | void }) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <button type="button" class="link" onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  }
  return (
    <span class="confirm">
      {question}{" "}
      <button type="button" class="danger" onClick={() => void Promise.resolve(onConfirm()).finally(() => setAsking(false))}>
        Yes, {label.toLowerCase()}
      </button>{" "}
      <button type="button" class="link" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}
