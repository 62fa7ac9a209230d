/**
 * The Overview tab: every overview field of W&B's run page, then the artifacts the run logged and
 * used (each linked to its version's page), config and summary.
 * Name, description, tags and privacy are edited in place and saved through PATCH, by those who
 * may edit the run (RunView.canEdit); everyone else sees them as text, with no control that the
 * server would refuse.
 */
import { useState } from "preact/hooks";
import type { RunView } from "../../protocol/api";
import { ArtifactVersionsTable } from "../components/artifact-versions";
import { StateBadge } from "../components/state-badge";
import { patch, runsPath } from "../lib/api";
import { runFacts } from "../lib/facts";
import { formatDuration, formatTime, formatValue, leafKeys, atPath } from "../lib/format";

type Patch = Partial<Pick<RunView, "name" | "notes" | "tags" | "privacy">>;

function Field({ label, children }: { label: string; children: preact.ComponentChildren }) {
  return (
    <>
      <dt>{label}</dt>
      <dd data-field={label}>{children ?? "—"}</dd>
    </>
  );
}

/**
 * Text shown as is, with an Edit button that turns it into an input (a textarea when multiline);
 * `onSave` null: text only.
 */
function EditableText(props: { value: string; multiline?: boolean; label: string; onSave: ((v: string) => Promise<void>) | null }) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(props.value);
  const onSave = props.onSave;
  if (!editing || !onSave) {
    return (
      <span class="editable">
        {/* A description keeps its line breaks and indentation, as written. */}
        <span class={props.multiline ? "multiline" : undefined}>{props.value || <span class="muted">—</span>}</span>
        {onSave ? (
          <>
            {" "}
            <button type="button" class="link" aria-label={`Edit ${props.label}`} onClick={() => (setDraft(props.value), setEditing(true))}>
              Edit
            </button>
          </>
        ) : null}
      </span>
    );
  }
  const save = async () => {
    await onSave(draft);
    setEditing(false);
  };
  return (
    <form class="editing" onSubmit={(e) => (e.preventDefault(), void save())}>
      {props.multiline ? (
        <textarea aria-label={props.label} value={draft} rows={3} onInput={(e) => setDraft(e.currentTarget.value)} />
      ) : (
        <input aria-label={props.label} value={draft} onInput={(e) => setDraft(e.currentTarget.value)} />
      )}
      <button type="submit">Save</button>
      <button type="button" class="link" onClick={() => setEditing(false)}>
        Cancel
      </button>
    </form>
  );
}

/** The run's tags; with `onSave`, each has a remove button and a field adds one. */
function Tags({ tags, onSave }: { tags: string[]; onSave: ((t: string[]) => Promise<void>) | null }) {
  const [draft, setDraft] = useState("");
  if (!onSave) {
    return (
      <span class="tags">
        {tags.length === 0 ? <span class="muted">—</span> : null}
        {tags.map((t) => (
          <span class="tag" key={t}>
            {t}
          </span>
        ))}
      </span>
    );
  }
  return (
    <span class="tags">
      {tags.map((t) => (
        <span class="tag" key={t}>
          {t}
          <button type="button" class="x" aria-label={`Remove tag ${t}`} onClick={() => void onSave(tags.filter((x) => x !== t))}>
            ×
          </button>
        </span>
      ))}
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          const t = draft.trim();
          if (t && !tags.includes(t)) void onSave([...tags, t]).then(() => setDraft(""));
        }}
      >
        <input class="tag-input" aria-label="Add tag" placeholder="add tag" value={draft} onInput={(e) => setDraft(e.currentTarget.value)} />
      </form>
    </span>
  );
}

/**
 * A button that puts `text` on the clipboard and says so for a moment. The clipboard API needs a
 * secure context (https or localhost); elsewhere a hidden textarea and execCommand still copy.
 */
function CopyButton({ text, label }: { text: string; label: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const area = document.createElement("textarea");
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    setCopied(true);
    setTimeout(() => setCopied(false), 1500);
  };
  return (
    // The word comes from the CSS (style.css, button.copy), so that selecting or reading the
    // field's text gives the value alone; the label names the button for assistive technology.
    <button type="button" class={copied ? "link copy copied" : "link copy"} aria-label={label} title={label} onClick={() => void copy()} />
  );
}

/**
 * `_timestamp` is the time of the last logged step, in seconds since epoch (W&B's unit; ms when
 * a client sent ms): shown as a date, not as 1714564890.
 */
function summaryValue(key: string, v: unknown): string {
  if (key === "_timestamp" && typeof v === "number" && Number.isFinite(v) && v > 0) return formatTime(v < 1e11 ? v * 1000 : v);
  return formatValue(v);
}

const PRIVACY: Record<RunView["privacy"], string> = {
  private: "Private: only its owner or team can view",
  public: "Public: anyone can view",
};

function KeyValues({ obj, name }: { obj: Record<string, unknown>; name: string }) {
  const keys = leafKeys(obj);
  if (keys.length === 0) return <p class="muted">No {name.toLowerCase()}.</p>;
  return (
    <table class="grid kv" data-section={name}>
      <tbody>
        {keys.map((k) => (
          <tr key={k}>
            <th>{k}</th>
            <td>{name === "Summary" ? summaryValue(k, atPath(obj, k)) : formatValue(atPath(obj, k))}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/**
 * What the server did not apply of the run, above everything else: records it refused (the
 * daemon keeps them in the run's dead-letter file) and records of kinds it does not know (kept,
 * for a newer server). The wording is protocol/api.ts's refusedSentence (not importable here).
 */
function Notices({ run }: { run: RunView }) {
  const refused = run.refused;
  const unknown = run.unknownRecords ?? [];
  const reasons = refused?.reasons ?? [];
  const others = reasons.length - 1;
  return (
    <>
      {refused ? (
        <p class="error notice" data-notice="refused">
          {refused.records} {refused.records === 1 ? "record was" : "records were"} refused by the server
          {reasons[0] ? `: ${reasons[0].error}` : "."}
          {others > 0 ? ` (and ${others} other reason${others === 1 ? "" : "s"})` : ""} The daemon set them aside in the run's
          dead-letter file.
        </p>
      ) : null}
      {unknown.length > 0 ? (
        <p class="muted notice" data-notice="unknown-records">
          This server keeps {unknown.reduce((n, u) => n + u.count, 0).toLocaleString("en")} records of kinds it does not know (
          {unknown.map((u) => `${u.kind}: ${u.count}`).join(", ")}), sent by a newer trackside; upgrade the server to see them.
        </p>
      ) : null}
    </>
  );
}

export function OverviewTab({ run, onChange }: { run: RunView; onChange: (r: RunView) => void }) {
  const [error, setError] = useState<string | null>(null);
  const save = async (p: Patch) => {
    try {
      onChange(await patch<RunView>(runsPath(run.entity, run.project, run.id), p));
      setError(null);
    } catch (e) {
      setError((e as Error).message);
      throw e;
    }
  };
  const facts = runFacts(run.metadata);
  // The server refuses edits of those who may not make them; the page offers none to them.
  const edit = run.canEdit;
  // Absent from a server that keeps no artifacts: the same as none.
  const outputs = run.artifactOutputs ?? [];
  const inputs = run.artifactInputs ?? [];
  return (
    <section class="overview">
      <Notices run={run} />
      {error ? <p class="error">{error}</p> : null}
      <dl class="facts">
        <Field label="Run name">
          <EditableText label="Run name" value={run.name} onSave={edit ? (name) => save({ name }) : null} />
        </Field>
        <Field label="Description">
          <EditableText label="Description" multiline value={run.notes ?? ""} onSave={edit ? (notes) => save({ notes: notes === "" ? null : notes }) : null} />
        </Field>
        <Field label="Privacy">
          {edit ? (
            <select aria-label="Privacy" value={run.privacy} onChange={(e) => void save({ privacy: e.currentTarget.value as RunView["privacy"] })}>
              <option value="private">{PRIVACY.private}</option>
              <option value="public">{PRIVACY.public}</option>
            </select>
          ) : (
            <span data-privacy={run.privacy}>{PRIVACY[run.privacy]}</span>
          )}
        </Field>
        <Field label="Tags">
          <Tags tags={run.tags} onSave={edit ? (tags) => save({ tags }) : null} />
        </Field>
        <Field label="Author">{run.author}</Field>
        <Field label="State">
          <StateBadge state={run.state} />
          {run.exitCode !== null ? ` exit code ${run.exitCode}` : ""}
          {run.signal ? ` signal ${run.signal}` : ""}
          {run.error ? <span class="error"> {run.error}</span> : null}
        </Field>
        <Field label="Start time">{formatTime(run.createdAt)}</Field>
        <Field label="Duration">{formatDuration(run.durationSeconds)}</Field>
        <Field label="Run path">
          <code>{run.path}</code>
          <CopyButton text={run.path} label="Copy run path" />
        </Field>
        <Field label="Host">{facts.host}</Field>
        <Field label="OS">{facts.os}</Field>
        <Field label="Node.js version">{facts.node}</Field>
        <Field label="Executable">{facts.executable ? <code>{facts.executable}</code> : null}</Field>
        <Field label="Command">
          {facts.command ? (
            <>
              <code>{facts.command}</code>
              <CopyButton text={facts.command} label="Copy command" />
            </>
          ) : null}
        </Field>
        <Field label="Hardware">{facts.hardware}</Field>
        <Field label="trackside version">{facts.trackside}</Field>
        {facts.gitCommit ? (
          <>
            <Field label="Git branch">{facts.gitBranch}</Field>
            <Field label="Git remote">{facts.gitRemote}</Field>
            <Field label="Git commit">
              <code>{facts.gitCommit}</code>
              {facts.gitDirty ? <span class="warn"> (uncommitted changes)</span> : facts.gitDirty === false ? <span class="muted"> (clean)</span> : null}
            </Field>
          </>
        ) : null}
        <Field label="Job type">{run.jobType}</Field>
        <Field label="Group">{run.group}</Field>
        <Field label="History steps">{run.historySteps.toLocaleString("en")}</Field>
      </dl>
      <div data-section="Artifacts">
        <h2>Artifact outputs</h2>
        {outputs.length === 0 ? <p class="muted">No artifact outputs.</p> : <ArtifactVersionsTable versions={outputs} here={run} section="Artifact outputs" />}
        <h2>Artifact inputs</h2>
        {inputs.length === 0 ? <p class="muted">No artifact inputs.</p> : <ArtifactVersionsTable versions={inputs} here={run} section="Artifact inputs" />}
      </div>
      <h2>Config</h2>
      <KeyValues obj={run.config} name="Config" />
      <h2>Summary</h2>
      <KeyValues obj={run.summary} name="Summary" />
    </section>
  );
}
