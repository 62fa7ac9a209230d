/**
 * Live updates of a run: the server pushes an event (server-sent events) whenever an upload is
 * applied to the run or someone edits it; the page then fetches what changed. Bursts of uploads
 * are coalesced into at most one refresh per `minGapMs`.
 */
import { useEffect, useState } from "preact/hooks";
import type { RunEvent } from "../../protocol/api";
import { API, runsPath } from "./api";

/** A counter that goes up after each (coalesced) change of the run; 0 until the first. */
export function useRunVersion(entity: string, project: string, id: string, enabled: boolean, minGapMs = 500): [number, RunEvent | null] {
  const [version, setVersion] = useState(0);
  const [last, setLast] = useState<RunEvent | null>(null);
  useEffect(() => {
    if (!enabled) return;
    const source = new EventSource(`${API}${runsPath(entity, project, id)}/events`);
    let timer: ReturnType<typeof setTimeout> | null = null;
    let lastAt = 0;
    const bump = () => {
      timer = null;
      lastAt = Date.now();
      setVersion((v) => v + 1);
    };
    source.addEventListener("run", (e) => {
      setLast(JSON.parse((e as MessageEvent<string>).data) as RunEvent);
      if (timer) return;
      timer = setTimeout(bump, Math.max(0, minGapMs - (Date.now() - lastAt)));
    });
    return () => {
      source.close();
      if (timer) clearTimeout(timer);
    };
  }, [entity, project, id, enabled, minGapMs]);
  return [version, last];
}

/**
 * One stream for a whole project (`GET .../runs/:entity/:project/events`): a map run id ->
 * version that goes up (coalesced to one bump per run per `minGapMs`) when that run changed. A
 * page that draws many runs opens this once, instead of a stream per run or per chart.
 */
export function useProjectVersions(entity: string, project: string, enabled: boolean, minGapMs = 500): Map<string, number> {
  const [versions, setVersions] = useState<Map<string, number>>(() => new Map());
  useEffect(() => {
    if (!enabled) return;
    const source = new EventSource(`${API}${runsPath(entity, project)}/events`);
    const pending = new Set<string>();
    let timer: ReturnType<typeof setTimeout> | null = null;
    let lastAt = 0;
    const flush = () => {
      timer = null;
      lastAt = Date.now();
      const ids = [...pending];
      pending.clear();
      setVersions((old) => {
        const next = new Map(old);
        for (const id of ids) next.set(id, (next.get(id) ?? 0) + 1);
        return next;
      });
    };
    source.addEventListener("run", (e) => {
      pending.add((JSON.parse((e as MessageEvent<string>).data) as RunEvent).id);
      if (timer) return;
      timer = setTimeout(flush, Math.max(0, minGapMs - (Date.now() - lastAt)));
    });
    return () => {
      source.close();
      if (timer) clearTimeout(timer);
    };
  }, [entity, project, enabled, minGapMs]);
  return versions;
}
