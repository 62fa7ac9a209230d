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
  const base = `${runsPath(run.entity, run.project, run.id)}/console`;

  /** Fetches every line after the last one held, page by page. */
  const more = async (reset: boolean) => {
    if (reset) after.current = -1;
    const got: ConsoleLineView[] = [];
    for (;;) {
      const page = await get<ConsoleView>(`${base}${qs({ after: after.current, limit: PAGE, q: query })}`);
      got.push(...page.lines);
      if (page.lines.length) after.current = page.lines[page.lines.length - 1].seq;
      if (page.next === null) break;
    }
    setLines((old) => (reset ? got : [...old, ...got]));
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
