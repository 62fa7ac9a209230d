/** The Logs tab: the run's console output, searched on the server, followed live. */
import { useEffect, useRef, useState } from "preact/hooks";
import type { ConsoleLineView, ConsoleView, RunView } from "../../protocol/api";
import { get, qs, runsPath } from "../lib/api";

const PAGE = 5000;

export function LogsTab({ run, version }: { run: RunView; version: number }) {
  const [lines, setLines] = useState<ConsoleLineView[]>([]);
  const [q, setQ] = useState("");
  const [query, setQuery] = useState("");
  const after = useRef(-1);
  // Fetches run one after another: two at once (the first fetch and a live event's, when the tab
  // opens on a running run) both read from the same `after` and showed every line twice.
  const queue = useRef<Promise<void>>(Promise.resolve());
  // Bumped by a reset (another search): a fetch queued before it has nothing left to add.
  const generation = useRef(0);
  const base = `${runsPath(run.entity, run.project, run.id)}/console`;

  /** Fetches every line after the last one held, page by page, once the fetch before it is done. */
  const more = (reset: boolean) => {
    if (reset) generation.current += 1;
    const gen = generation.current;
    queue.current = queue.current.then(async () => {
      if (gen !== generation.current) return;
      if (reset) after.current = -1;
      const got: ConsoleLineView[] = [];
      for (;;) {
        const page = await get<ConsoleView>(`${base}${qs({ after: after.current, limit: PAGE, q: query })}`);
        if (gen !== generation.current) return;
        got.push(...page.lines);
        if (page.lines.length) after.current = page.lines[page.lines.length - 1].seq;
        if (page.next === null) break;
      }
      setLines((old) => {
        if (reset) return got;
        // Only lines past the last one shown: a line is never shown twice, whatever the order of answers.
        const last = old.length ? old[old.length - 1].seq : -1;
        return got.length ? [...old, ...got.filter((l) => l.seq > last)] : old;
      });
    }).catch(() => undefined); // a failed fetch leaves the lines as they were; the next event retries
  };
  useEffect(() => {
    const t = setTimeout(() => setQuery(q), 250);
    return () => clearTimeout(t);
  }, [q]);
  useEffect(() => void more(true), [base, query]);
  useEffect(() => {
    if (version > 0) void more(false);
  }, [version]);
  return (
    <section>
      <div class="toolbar">
        <input type="search" aria-label="Search logs" placeholder="Search logs" value={q} onInput={(e) => setQ(e.currentTarget.value)} />
        <span class="muted">{lines.length.toLocaleString("en")} lines</span>
      </div>
      <pre class="console" data-lines={lines.length}>
        {lines.map((l) => (
          <div key={l.seq} class={l.stream}>
            <span class="ts">{new Date(l.at).toISOString().slice(11, 19)}</span> {l.text}
          </div>
        ))}
      </pre>
    </section>
  );
}
