/**
 * The workspace's media (issue 19): one panel per media key of the shown runs, each run side by
 * side in its own column at the same step, moved by one slider per panel (a run that did not
 * log the key at that step shows its last value before it, and says which step that is).
 * Histograms share one value axis; tables show each run's latest table. Each shown run's keys are one request
 * (`GET .../media`), read again when the run changes; a panel reads its runs' values only once
 * it comes near the viewport.
 */
import { useCallback, useEffect, useMemo, useState } from "preact/hooks";
import type { RunListItem } from "../../../protocol/api";
import type { MediaKeysView, MediaKeyView, MediaType } from "../../../protocol/media";
import { get, runHref, runsPath } from "../../lib/api";
import { colorFor } from "../../lib/colors";
import { entryAt, imagesOf, useMediaValues, unionSteps, type Histogram, type MediaEntry } from "../../lib/media";
import { HistogramBars } from "../media/histogram-charts";
import { ImageStrip } from "../media/image-strip";
import { MediaTable } from "../media/media-table";
import { StepSlider } from "../media/step-slider";
import { useNearViewport } from "../../lib/near-viewport";

/** The name the media section goes by in the state's `collapsed` list (no metric prefix has an `@`). */
export const MEDIA_SECTION = "@media";

interface Props {
  entity: string;
  project: string;
  runs: RunListItem[];
  versions: Map<string, number>;
  open: boolean;
  onToggle: () => void;
}

/** Reads one run's media keys (again when its version goes up) and hands them up; draws nothing. */
function KeysSource({ entity, project, id, version, onKeys }: { entity: string; project: string; id: string; version: number; onKeys: (id: string, keys: MediaKeyView[]) => void }) {
  useEffect(() => {
    let live = true;
    get<MediaKeysView>(`${runsPath(entity, project, id)}/media`).then(
      (v) => live && onKeys(id, v.keys),
      () => live && onKeys(id, []),
    );
    return () => {
      live = false;
    };
  }, [entity, project, id, version]);
  return null;
}

/** Reads one run's values of a key (the latest only, for a table) and hands them up; draws nothing. */
function ValuesSource({ entity, project, id, media, version, onValues }: { entity: string; project: string; id: string; media: MediaKeyView; version: number; onValues: (id: string, es: MediaEntry[]) => void }) {
  const { entries, error } = useMediaValues(entity, project, id, media.key, version, media.type === "table" ? { fromStep: media.lastStep, max: 1 } : {});
  useEffect(() => {
    if (entries) onValues(id, entries);
    else if (error) onValues(id, []);
  }, [entries, error]);
  return null;
}

interface PanelProps {
  entity: string;
  project: string;
  mediaKey: string;
  type: MediaType;
  /** The shown runs that logged the key, each with its view of it. */
  runs: { run: RunListItem; media: MediaKeyView }[];
  versions: Map<string, number>;
}

function ComparePanel({ entity, project, mediaKey, type, runs, versions }: PanelProps) {
  const [box, seen] = useNearViewport<HTMLDivElement>();
  const [values, setValues] = useState(() => new Map<string, MediaEntry[]>());
  const onValues = useCallback((id: string, es: MediaEntry[]) => setValues((m) => new Map(m).set(id, es)), []);
  const steps = useMemo(() => unionSteps(runs.map((r) => values.get(r.run.id) ?? [])), [values, runs]);
  const [picked, setPicked] = useState<number | null>(null);
  const step = picked ?? steps[steps.length - 1] ?? 0;
  const ready = seen && runs.every((r) => values.has(r.run.id));
  // Histograms side by side share the value axis of every run's distribution at the step.
  const range = useMemo((): [number, number] | undefined => {
    if (type !== "histogram") return undefined;
    let lo = Infinity;
    let hi = -Infinity;
    for (const r of runs) {
      const v = entryAt(values.get(r.run.id) ?? [], step)?.value;
      if (v?.type !== "histogram" || v.bins.length < 2) continue;
      lo = Math.min(lo, v.bins[0]);
      hi = Math.max(hi, v.bins[v.bins.length - 1]);
    }
    return Number.isFinite(lo) && Number.isFinite(hi) && hi > lo ? [lo, hi] : undefined;
  }, [values, runs, step, type]);
  return (
    <div ref={box} class="panel media-compare" data-media={mediaKey} data-type={type} data-ready={ready ? "true" : "false"}>
      {seen ? runs.map((r) => <ValuesSource key={r.run.id} entity={entity} project={project} id={r.run.id} media={r.media} version={versions.get(r.run.id) ?? 0} onValues={onValues} />) : null}
      <figure class="media-panel">
        <figcaption>
          <strong>{mediaKey}</strong> <span class="muted">· {type} · {runs.length === 1 ? "1 run" : `${runs.length} runs`}{type === "table" ? " · latest step of each" : ""}</span>
        </figcaption>
        {type !== "table" && steps.length > 0 ? <StepSlider steps={steps} step={steps.includes(step) ? step : steps[steps.length - 1]} onStep={setPicked} label={mediaKey} /> : null}
        <div class={type === "table" ? "media-runs tables" : "media-runs"}>
          {runs.map(({ run }) => {
            const es = values.get(run.id);
            const entry = es ? (type === "table" ? (es[0] ?? null) : entryAt(es, step)) : null;
            return (
              <div class="media-run" key={run.id} data-run={run.name} data-step={entry?.step ?? ""}>
                <h4>
                  <span class="dot" style={{ background: colorFor(run.id) }} />
                  <a href={`${runHref(entity, project, run.id)}?tab=media`}>{run.name}</a>
                  {entry && type !== "table" && entry.step !== step ? <span class="muted"> · step {entry.step.toLocaleString("en")}</span> : null}
                  {entry && type === "table" ? <span class="muted"> · step {entry.step.toLocaleString("en")}</span> : null}
                </h4>
                {!es ? (
                  <p class="muted">Loading…</p>
                ) : !entry ? (
                  <p class="muted">Nothing logged at or before this step.</p>
                ) : entry.value.type === "histogram" ? (
                  <HistogramBars hist={entry.value as Histogram} step={entry.step} label={`${mediaKey} of ${run.name}`} range={range} />
                ) : entry.value.type === "table" ? (
                  <MediaTable columns={entry.value.columns} rows={entry.value.rows} label={`${mediaKey} of ${run.name}`} />
                ) : (
                  <ImageStrip images={imagesOf(entry.value)} alt={`${mediaKey} of ${run.name} at step ${entry.step}`} />
                )}
              </div>
            );
          })}
        </div>
      </figure>
    </div>
  );
}

export function MediaSection({ entity, project, runs, versions, open, onToggle }: Props) {
  const [keys, setKeys] = useState(() => new Map<string, MediaKeyView[]>());
  const onKeys = useCallback((id: string, ks: MediaKeyView[]) => setKeys((m) => new Map(m).set(id, ks)), []);
  // Each key once, with the shown runs that logged it (in the table's order) and the type the
  // newest of them logged.
  const panels = useMemo(() => {
    const byKey = new Map<string, { run: RunListItem; media: MediaKeyView }[]>();
    for (const run of runs) for (const media of keys.get(run.id) ?? []) byKey.set(media.key, [...(byKey.get(media.key) ?? []), { run, media }]);
    return [...byKey.entries()].sort(([a], [b]) => a.localeCompare(b));
  }, [keys, runs]);
  return (
    <>
      {runs.map((r) => (
        <KeysSource key={r.id} entity={entity} project={project} id={r.id} version={versions.get(r.id) ?? 0} onKeys={onKeys} />
      ))}
      {panels.length === 0 ? null : (
        <details class="section" data-section="media" open={open}>
          <summary
            onClick={(e) => {
              e.preventDefault();
              onToggle();
            }}
          >
            Media <span class="muted">({panels.length})</span>
          </summary>
          {open ? (
            <div class="panels">
              {panels.map(([k, rs]) => (
                <ComparePanel key={k} entity={entity} project={project} mediaKey={k} type={rs.reduce((a, b) => (b.media.lastStep >= a.media.lastStep ? b : a)).media.type} runs={rs} versions={versions} />
              ))}
            </div>
          ) : null}
        </details>
      )}
    </>
  );
}
