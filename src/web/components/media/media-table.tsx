/**
 * A logged table: sort by a column (click its head: ascending, descending, as logged), filter
 * rows by text (a row stays when any of its cells' text holds the filter; an image cell's text
 * is its caption), images inline. Rows are shown a page at a time: a 100,000-row table stays
 * responsive.
 */
import { useMemo, useState } from "preact/hooks";
import type { ImageView, TableCellView } from "../../../protocol/media";
import { formatValue } from "../../lib/format";

/** Rows shown at first, and added by "More rows". */
const ROWS_SHOWN = 100;
/** Pixels a table image is shown at most, either way. */
const THUMB = 64;

const isImage = (c: TableCellView): c is ImageView => c !== null && typeof c === "object" && c.type === "image";

/** A cell's text, for filtering and for comparing strings. */
const textOf = (c: TableCellView): string => (isImage(c) ? (c.caption ?? "") : c === null ? "" : typeof c === "string" ? c : formatValue(c));

/** Numbers before strings, both before images and nulls; numbers by value, the rest by text. */
function compare(a: TableCellView, b: TableCellView): number {
  const rank = (c: TableCellView) => (typeof c === "number" || typeof c === "boolean" ? 0 : typeof c === "string" ? 1 : isImage(c) ? 2 : 3);
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 0) return Number(a) - Number(b);
  return textOf(a).localeCompare(textOf(b), "en", { numeric: true });
}

function Cell({ c }: { c: TableCellView }) {
  if (isImage(c)) {
    const scale = Math.min(THUMB / Math.max(1, c.width), THUMB / Math.max(1, c.height), Math.max(1, Math.floor(THUMB / Math.max(c.width, c.height))));
    return (
      <img src={c.url} alt={c.caption ?? "image"} title={c.caption ?? `${c.width} × ${c.height}`} width={Math.max(1, Math.round(c.width * scale))} height={Math.max(1, Math.round(c.height * scale))} class={scale > 1 ? "pixelated" : ""} loading="lazy" data-digest={c.digest} />
    );
  }
  return <>{c === null ? <span class="muted">—</span> : typeof c === "string" ? c : formatValue(c)}</>;
}

export function MediaTable({ columns, rows, label }: { columns: string[]; rows: TableCellView[][]; label: string }) {
  const [sort, setSort] = useState<{ col: number; dir: 1 | -1 } | null>(null);
  const [filter, setFilter] = useState("");
  const [shown, setShown] = useState(ROWS_SHOWN);
  const view = useMemo(() => {
    const f = filter.trim().toLowerCase();
    const kept = f ? rows.filter((r) => r.some((c) => textOf(c).toLowerCase().includes(f))) : [...rows];
    if (sort) kept.sort((a, b) => compare(a[sort.col] ?? null, b[sort.col] ?? null) * sort.dir);
    return kept;
  }, [rows, sort, filter]);
  const next = (col: number) => setSort(sort?.col !== col ? { col, dir: 1 } : sort.dir === 1 ? { col, dir: -1 } : null);
  return (
    <div class="media-table" data-table={label}>
      <div class="toolbar">
        <input type="search" aria-label={`Filter ${label}`} placeholder="Filter rows" value={filter} onInput={(e) => (setFilter(e.currentTarget.value), setShown(ROWS_SHOWN))} />
        <span class="muted" data-rows={view.length}>
          {view.length === rows.length ? `${rows.length.toLocaleString("en")} rows` : `${view.length.toLocaleString("en")} of ${rows.length.toLocaleString("en")} rows`}
        </span>
      </div>
      <div class="table-wrap">
        <table class="grid media">
          <thead>
            <tr>
              {columns.map((c, i) => (
                <th key={i} class="sortable" aria-sort={sort?.col === i ? (sort.dir === 1 ? "ascending" : "descending") : "none"} onClick={() => next(i)}>
                  {c}
                  {sort?.col === i ? (sort.dir === 1 ? " ▲" : " ▼") : ""}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {view.slice(0, shown).map((r, i) => (
              <tr key={i}>
                {columns.map((_, j) => (
                  <td key={j}>
                    <Cell c={r[j] ?? null} />
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {view.length > shown ? (
        <button type="button" class="link" onClick={() => setShown(shown + ROWS_SHOWN)}>
          More rows ({(view.length - shown).toLocaleString("en")} not shown)
        </button>
      ) : null}
    </div>
  );
}
