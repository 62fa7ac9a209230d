/**
 * One media key of one run as a panel (the run page's Media tab): images with a step slider and
 * their captions, a histogram as a heat map over steps beside the chosen step's distribution, or
 * a table at its latest step (or a step chosen). The panel stays on the newest step while the
 * run logs more, until a person picks another.
 */
import { useEffect, useMemo, useState } from "preact/hooks";
import type { MediaKeyView } from "../../../protocol/media";
import { entryAt, imagesOf, useMediaValues, type Histogram } from "../../lib/media";
import { HistogramBars, HistogramHeatMap } from "./histogram-charts";
import { ImageStrip } from "./image-strip";
import { MediaTable } from "./media-table";
import { StepSlider } from "./step-slider";

interface Props {
  entity: string;
  project: string;
  id: string;
  media: MediaKeyView;
  /** Goes up when the run changed: read the key again. */
  version: number;
}

/** The panel's frame: the key, its type and how many steps hold it, then the body. */
function Frame({ media, ready, children }: { media: MediaKeyView; ready: boolean; children: preact.ComponentChildren }) {
  return (
    <figure class={`media-panel kind-${media.type}`} data-media={media.key} data-type={media.type} data-ready={ready ? "true" : "false"}>
      <figcaption>
        <strong>{media.key}</strong>{" "}
        <span class="muted">
          · {media.type} · {media.steps.toLocaleString("en")} {media.steps === 1 ? "step" : "steps"}
        </span>
      </figcaption>
      {children}
    </figure>
  );
}

/** Images and histograms: every step read, one shown (the newest until a person picks one). */
function StepsPanel({ entity, project, id, media, version }: Props) {
  const { entries, error } = useMediaValues(entity, project, id, media.key, version);
  const [picked, setPicked] = useState<number | null>(null);
  const histEntries = useMemo(() => entries?.filter((e) => e.value.type === "histogram") ?? [], [entries]);
  if (error) return <Frame media={media} ready={false}><p class="error">{error}</p></Frame>;
  if (!entries) return <Frame media={media} ready={false}><p class="muted">Loading…</p></Frame>;
  if (entries.length === 0) return <Frame media={media} ready><p class="muted">Nothing logged yet.</p></Frame>;
  const steps = entries.map((e) => e.step);
  const step = picked ?? steps[steps.length - 1];
  const entry = entryAt(entries, step) ?? entries[entries.length - 1];
  const slider = <StepSlider steps={steps} step={entry.step} onStep={setPicked} label={media.key} />;
  if (entry.value.type === "histogram") {
    return (
      <Frame media={media} ready>
        {slider}
        <div class="histogram-pair">
          <HistogramHeatMap entries={histEntries} step={entry.step} onStep={setPicked} label={media.key} />
          <HistogramBars hist={entry.value as Histogram} step={entry.step} label={media.key} />
        </div>
      </Frame>
    );
  }
  return (
    <Frame media={media} ready>
      {slider}
      <ImageStrip images={imagesOf(entry.value)} alt={`${media.key} at step ${entry.step}`} />
    </Frame>
  );
}

/**
 * Tables: only the step shown is read (a table appended to each step is logged whole each
 * time: every step's copy would be the square of the rows). The step input reads the first
 * step logged at or after the number typed.
 */
function TablePanel({ entity, project, id, media, version }: Props) {
  const [asked, setAsked] = useState<number | null>(null);
  const from = asked ?? media.lastStep;
  const { entries, error } = useMediaValues(entity, project, id, media.key, version, { fromStep: from, max: 1 });
  const [draft, setDraft] = useState<string>("");
  useEffect(() => setDraft(String(entries?.[0]?.step ?? from)), [entries]);
  const entry = entries?.[0] ?? null;
  return (
    <Frame media={media} ready={entries !== null}>
      {media.steps > 1 ? (
        <form
          class="step-slider"
          onSubmit={(e) => {
            e.preventDefault();
            const n = Number(draft);
            if (Number.isFinite(n)) setAsked(Math.max(media.firstStep, Math.min(media.lastStep, Math.trunc(n))));
          }}
        >
          <label>
            Step <input type="number" aria-label={`Step of ${media.key}`} min={media.firstStep} max={media.lastStep} value={draft} onInput={(e) => setDraft(e.currentTarget.value)} />
          </label>
          <button type="submit">Show</button>
          <button type="button" class="link" onClick={() => setAsked(null)} disabled={asked === null}>
            Latest
          </button>
          <span class="muted" data-step={entry?.step ?? ""}>
            {entry ? `Step ${entry.step.toLocaleString("en")}` : ""} (logged at {media.steps.toLocaleString("en")} steps, {media.firstStep.toLocaleString("en")} to {media.lastStep.toLocaleString("en")})
          </span>
        </form>
      ) : null}
      {error ? <p class="error">{error}</p> : null}
      {!entries ? <p class="muted">Loading…</p> : entry && entry.value.type === "table" ? <MediaTable columns={entry.value.columns} rows={entry.value.rows} label={media.key} /> : <p class="muted">No table at this step.</p>}
    </Frame>
  );
}

export function MediaPanel(props: Props) {
  return props.media.type === "table" ? <TablePanel {...props} /> : <StepsPanel {...props} />;
}
