/**
 * One metric of many runs as a panel draws it: every run's min/max buckets in one request to
 * `GET /api/v1/runs/:entity/:project/history/buckets?runs=` (instead of one request per run:
 * 50 runs in 4 panels were 200 requests through the browser's 6 connections, and 200 redraws).
 * As useRunSeries does for one run: a zoom fetches the visible range only; on a live version
 * bump only the runs that changed are asked, each for the points after the last one it holds,
 * still one request; a run newly shown is fetched alone, the others kept.
 */
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { HistoryBucketsBatchView } from "../../protocol/api";
import { get, qs, runsPath } from "./api";
import { after, append, axisName, BUCKETS, bucketsQuery, toSeriesData, type SeriesData, type XAxis } from "./series";

/** The server's cap on runs per request (MAX_BATCH_RUNS): a longer list is split. */
export const RUNS_PER_REQUEST = 100;

const EMPTY: SeriesData = { xs: [], ys: [], min: [], max: [], points: 0 };

interface HeldRun {
  data: SeriesData;
  version: number;
}

interface Held {
  /** What the data was fetched for: a change of any of them throws it away (never drawn on the wrong axis). */
  tag: string;
  runs: ReadonlyMap<string, HeldRun>;
}

/**
 * Buckets per run when a panel draws `runs` runs: about PANEL_POINTS in all, from 250 to
 * BUCKETS (1,000) per run. Ten runs get 1,000 each; fifty overlaid lines in a half-width panel
 * look the same at 500 and cost the server, the wire and the browser half as much.
 */
export const PANEL_POINTS = 25_000;
export const bucketsPerRun = (runs: number): number => Math.max(250, Math.min(BUCKETS, Math.floor(PANEL_POINTS / Math.max(1, runs))));

/** One request per RUNS_PER_REQUEST runs, `buckets` per run; `from` per run (undefined: from the start, or the zoom's start). */
async function fetchMany(entity: string, project: string, key: string, x: XAxis, runs: string[], from: (number | undefined)[], to: number | undefined, buckets: number): Promise<Map<string, SeriesData>> {
  const out = new Map<string, SeriesData>();
  const scale = x === "time" ? 1000 : 1;
  const parts: Promise<void>[] = [];
  for (let i = 0; i < runs.length; i += RUNS_PER_REQUEST) {
    const ids = runs.slice(i, i + RUNS_PER_REQUEST);
    const froms = from.slice(i, i + RUNS_PER_REQUEST);
    const same = froms.every((f) => f === froms[0]);
    const q = bucketsQuery(key, x, same ? froms[0] : undefined, to, buckets);
    // One from for all, or one entry per run (empty: none); the server scales nothing itself.
    const fromParam = same ? q.from : froms.map((f) => (f === undefined ? "" : String(f * scale))).join(",");
    parts.push(
      get<HistoryBucketsBatchView>(`${runsPath(entity, project)}/history/buckets${qs({ ...q, runs: ids.join(","), from: fromParam })}`).then((b) => {
        for (const id of ids) out.set(id, b.runs[id] ? toSeriesData(b.runs[id]) : EMPTY);
      }),
    );
  }
  await Promise.all(parts);
  return out;
}

/**
 * One metric of the given runs as min/max buckets, by run id: a run is absent until its series
 * for the current key, x and zoom has come (never the previous axis's points). A run the server
 * does not show the viewer comes back empty.
 */
export function usePanelSeries(
  entity: string,
  project: string,
  runIds: readonly string[],
  key: string,
  x: XAxis,
  zoom: [number, number] | null,
  versions: ReadonlyMap<string, number>,
): { data: ReadonlyMap<string, SeriesData>; error: string | null } {
  const tag = JSON.stringify([entity, project, key, axisName(x), zoom]);
  const [held, setHeld] = useState<Held>({ tag, runs: new Map() });
  const [error, setError] = useState<{ tag: string; message: string } | null>(null);
  /** The request in flight, if any: one at a time, and an answer for another tag is dropped. */
  const inflight = useRef<{ tag: string } | null>(null);
  const tagNow = useRef(tag);
  tagNow.current = tag;
  const current = held.tag === tag ? held.runs : null;
  const versionOf = (id: string) => versions.get(id) ?? 0;

  useEffect(() => {
    if (inflight.current && inflight.current.tag === tag) return; // its answer reruns this
    const have = current ?? new Map<string, HeldRun>();
    const missing = runIds.filter((id) => !have.has(id));
    let ids: string[];
    let from: (number | undefined)[];
    let whole: boolean[];
    if (missing.length > 0) {
      if (error && error.tag === tag) return; // not again until the key, axis or zoom changes
      ids = missing;
      whole = ids.map(() => true);
      from = ids.map(() => zoom?.[0]);
    } else {
      // A zoomed chart shows a fixed range. Against another metric, x need not grow with the
      // steps: that run's whole series again, still in the one request.
      ids = zoom === null ? runIds.filter((id) => versionOf(id) > have.get(id)!.version) : [];
      if (ids.length === 0) return;
      whole = ids.map((id) => typeof x !== "string" || have.get(id)!.data.xs.length === 0);
      from = ids.map((id, i) => (whole[i] ? undefined : after(have.get(id)!.data.xs[have.get(id)!.data.xs.length - 1])));
    }
    const asked = new Map(ids.map((id) => [id, versionOf(id)]));
    const req = { tag };
    inflight.current = req;
    // The panel's resolution follows how many runs it shows, not how many this request asks for.
    fetchMany(entity, project, key, x, ids, from, zoom?.[1], bucketsPerRun(runIds.length)).then(
      (got) => {
        if (inflight.current === req) inflight.current = null;
        // Kept even if a version moved on meanwhile: the next bump asks from its end.
        setHeld((cur) => {
          if (tagNow.current !== req.tag) return cur;
          const runs = new Map(cur.tag === tag ? cur.runs : []);
          ids.forEach((id, i) => {
            const more = got.get(id) ?? EMPTY;
            const prev = runs.get(id);
            runs.set(id, { data: whole[i] || !prev ? more : append(prev.data, more), version: asked.get(id)! });
          });
          return { tag, runs };
        });
      },
      (e: Error) => {
        if (inflight.current === req) inflight.current = null;
        setError({ tag, message: e.message });
      },
    );
    // Answers for an old tag are dropped in setHeld; the request is not cancelled (it is one).
  }, [tag, runIds.join(","), runIds.map(versionOf).join(","), held, error]);

  const data = useMemo(() => new Map([...(current ?? [])].map(([id, r]) => [id, r.data])), [current]);
  return { data, error: error && error.tag === tag ? error.message : null };
}
