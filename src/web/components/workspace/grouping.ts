/**
 * Grouping runs (by `group`, `jobType`, a tag or a config key) and drawing a group as one line:
 * at each x, the mean of the members that have a value there, with their minimum and maximum as
 * the band. Computed here from the members' series (each exact as logged while a run has fewer
 * points than the chart's buckets), so a group's values at a step are its members' mean, min and
 * max at that step.
 */
import type { RunListItem } from "../../../protocol/api";
import { atPath } from "../../lib/format";
import type { SeriesData } from "../../lib/series";

/** The group a run falls in for `by`; "(none)" when it has no value there. */
export function groupOf(run: RunListItem, by: string): string {
  let v: unknown;
  if (by === "group") v = run.group;
  else if (by === "jobType") v = run.jobType;
  else if (by.startsWith("tag:")) v = run.tags.includes(by.slice(4)) ? by.slice(4) : `not ${by.slice(4)}`;
  else if (by.startsWith("config.")) v = atPath(run.config, by.slice(7));
  if (v === undefined || v === null || v === "") return "(none)";
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** Runs by group, groups in order of first appearance. */
export function groupRuns(runs: RunListItem[], by: string): Map<string, RunListItem[]> {
  const out = new Map<string, RunListItem[]>();
  for (const r of runs) {
    const g = groupOf(r, by);
    out.set(g, [...(out.get(g) ?? []), r]);
  }
  return out;
}

/** Mean, min and max of the members' values at each x any member has. */
export function aggregate(members: SeriesData[]): SeriesData {
  const acc = new Map<number, { sum: number; n: number; min: number; max: number }>();
  for (const m of members) {
    m.xs.forEach((x, i) => {
      const y = m.ys[i];
      if (y === null || y === undefined || !Number.isFinite(y)) return;
      const a = acc.get(x);
      if (a) {
        a.sum += y;
        a.n += 1;
        a.min = Math.min(a.min, y);
        a.max = Math.max(a.max, y);
      } else acc.set(x, { sum: y, n: 1, min: y, max: y });
    });
  }
  const xs = [...acc.keys()].sort((a, b) => a - b);
  return {
    xs,
    ys: xs.map((x) => acc.get(x)!.sum / acc.get(x)!.n),
    min: xs.map((x) => acc.get(x)!.min),
    max: xs.map((x) => acc.get(x)!.max),
    points: members.reduce((s, m) => s + m.points, 0),
  };
}
