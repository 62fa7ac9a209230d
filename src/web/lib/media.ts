/**
 * The app's reads of a run's media (images, histograms, tables; docs/api.md, "Media"): the keys
 * (`GET .../media`) and a key's values by step (`GET .../media/values`), and the pure helpers
 * the panels share (the value at a step, a histogram's counts on a common grid of rows).
 */
import { useEffect, useRef, useState } from "preact/hooks";
import type { MediaKeysView, MediaValuesView, MediaValueView } from "../../protocol/media";
import { get, qs, runsPath } from "./api";

/** One step's value of a key. */
export type MediaEntry = MediaValuesView["entries"][number];

/** Steps the server answers per request (its default and most). */
const PAGE = 1000;
/**
 * Most steps a panel reads of one key: an image or histogram panel on a 10,000-step run reads
 * ten pages (a few MB of references and counts); beyond that its slider keeps the first ones.
 */
export const MAX_STEPS = 10_000;

/** The media keys of a run (an empty list from a server that has no media routes yet). */
export function useMediaKeys(entity: string, project: string, id: string, version: number): MediaKeysView["keys"] | null {
  const [keys, setKeys] = useState<MediaKeysView["keys"] | null>(null);
  useEffect(() => {
    let live = true;
    get<MediaKeysView>(`${runsPath(entity, project, id)}/media`).then(
      (v) => live && setKeys([...v.keys].sort((a, b) => a.key.localeCompare(b.key))),
      () => live && setKeys([]),
    );
    return () => {
      live = false;
    };
  }, [entity, project, id, version]);
  return keys;
}

/**
 * Every step's value of `key` (at most `max` steps), read a page at a time: each page starts
 * where the one before left off.
 */
export async function fetchMediaValues(entity: string, project: string, id: string, key: string, opts: { fromStep?: number; toStep?: number; max?: number } = {}): Promise<MediaEntry[]> {
  const max = opts.max ?? MAX_STEPS;
  const out: MediaEntry[] = [];
  let from = opts.fromStep;
  while (out.length < max) {
    const limit = Math.min(PAGE, max - out.length);
    const page = await get<MediaValuesView>(`${runsPath(entity, project, id)}/media/values${qs({ key, fromStep: from, toStep: opts.toStep, limit })}`);
    out.push(...page.entries);
    // `next`: where the steps the answer left out begin (it holds about 16 MB of values at most,
    // so it may hold fewer than `limit`); a server without it answered `limit` unless at the end.
    const next = page.next !== undefined ? page.next : page.entries.length < limit ? null : page.entries[page.entries.length - 1].step + 1;
    if (next === null || page.entries.length === 0) break;
    from = next;
  }
  return out;
}

/**
 * A key's values. When `version` goes up (the run logged more) only the steps from the last one
 * held on are read again (the last one too: a newer record of a step replaces it), so a live
 * run's panel asks for its new steps, not for all of them again.
 */
export function useMediaValues(entity: string, project: string, id: string, key: string, version: number, opts: { fromStep?: number; max?: number } = {}): { entries: MediaEntry[] | null; error: string | null } {
  const [entries, setEntries] = useState<MediaEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const held = useRef<{ of: string; entries: MediaEntry[] } | null>(null);
  const of = JSON.stringify([entity, project, id, key, opts.fromStep, opts.max]);
  useEffect(() => {
    let live = true;
    // Only a full read (no fromStep/max of the caller's) can be extended from its end.
    const prior = held.current?.of === of && opts.fromStep === undefined && opts.max === undefined ? held.current.entries : null;
    const last = prior?.length ? prior[prior.length - 1].step : undefined;
    fetchMediaValues(entity, project, id, key, last === undefined ? opts : { fromStep: last }).then(
      (es) => {
        if (!live) return;
        const all = prior && last !== undefined ? [...prior.filter((e) => e.step < last), ...es].slice(0, MAX_STEPS) : es;
        held.current = { of, entries: all };
        setEntries(all);
        setError(null);
      },
      (e: Error) => live && setError(e.message),
    );
    return () => {
      live = false;
    };
  }, [of, version]);
  return { entries, error };
}

/** The entry at `step`, or else the last one before it (a run that logged the key less often); null when none is at or before it. */
export function entryAt(entries: MediaEntry[], step: number): MediaEntry | null {
  let lo = 0;
  let hi = entries.length - 1;
  let found: MediaEntry | null = null;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (entries[mid].step <= step) {
      found = entries[mid];
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** The images of a value (one image, a list, or none for other types). */
export function imagesOf(v: MediaValueView): Extract<MediaValueView, { type: "image" }>[] {
  return v.type === "image" ? [v] : v.type === "images" ? v.items : [];
}

/** The steps of several runs' entries, merged, ascending, once each: one slider for them all. */
export function unionSteps(lists: MediaEntry[][]): number[] {
  const all = new Set<number>();
  for (const l of lists) for (const e of l) all.add(e.step);
  return [...all].sort((a, b) => a - b);
}

export type Histogram = { bins: number[]; counts: number[] };

/**
 * Histograms of many steps on one grid of `rows` equal value bins between the smallest and
 * largest edge of them all: each step's bins may differ (a distribution that widens as training
 * goes), so each bin's count is spread over the grid rows it overlaps, in proportion to the
 * overlap. Answers the grid's edges and, per step, its counts per row.
 */
export function regrid(hists: Histogram[], rows: number): { lo: number; hi: number; grid: number[][] } {
  let lo = Infinity;
  let hi = -Infinity;
  for (const h of hists) {
    if (h.bins.length < 2) continue;
    lo = Math.min(lo, h.bins[0]);
    hi = Math.max(hi, h.bins[h.bins.length - 1]);
  }
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return { lo: 0, hi: 0, grid: hists.map(() => new Array<number>(rows).fill(0)) };
  // One value everywhere (a constant weight): a grid one unit wide around it.
  if (hi === lo) {
    lo -= 0.5;
    hi += 0.5;
  }
  const width = (hi - lo) / rows;
  const grid = hists.map((h) => {
    const out = new Array<number>(rows).fill(0);
    for (let i = 0; i < h.counts.length; i++) {
      const a = h.bins[i];
      const b = h.bins[i + 1];
      const c = h.counts[i];
      if (!c || !(b >= a)) continue;
      if (b === a) {
        out[Math.min(rows - 1, Math.max(0, Math.floor((a - lo) / width)))] += c;
        continue;
      }
      const first = Math.max(0, Math.floor((a - lo) / width));
      const last = Math.min(rows - 1, Math.ceil((b - lo) / width) - 1);
      for (let r = first; r <= last; r++) {
        const overlap = Math.min(b, lo + (r + 1) * width) - Math.max(a, lo + r * width);
        if (overlap > 0) out[r] += (c * overlap) / (b - a);
      }
    }
    return out;
  });
  return { lo, hi, grid };
}
