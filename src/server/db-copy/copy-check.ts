/**
 * Before `trackside db copy` writes a row: whatever the target already holds must be part of
 * the source, row for row (the rows of an earlier copy that was interrupted). A row the source
 * lacks, or holds with other values, means the target is another server's database (or the
 * source changed since), and the copy stops with TRK_ERR_COPY_MISMATCH naming the table,
 * having written nothing: two servers' data are never mixed.
 *
 * An empty target (the usual first copy) costs one count per table; a rerun reads back what
 * the interrupted copy wrote, looking each row up in SQLite by its primary key.
 */
import type Database from "better-sqlite3";
import type { Sql } from "postgres";
import { errors } from "../../protocol/errors.js";
import { quote, type CopyTable } from "./copy-schema.js";
import { differingColumn, placeholder, rowValues, type SourceLookup } from "./copy-values.js";

/** Target rows read per round trip. */
const PAGE_ROWS = 2000;

/**
 * @throws TRK_ERR_COPY_MISMATCH at the first target row that is not in the source as it is.
 * @example
 * await checkTarget(db, sql, plan, lookup); // returns: the target is empty or a part of the source
 */
export async function checkTarget(
  db: Database.Database,
  sql: Sql,
  plan: CopyTable[],
  lookup: SourceLookup,
  progress: (table: string, checked: number, rows: number) => void = () => undefined,
): Promise<void> {
  for (const table of plan) {
    const [{ n }] = await sql.unsafe<{ n: number }[]>(`SELECT count(*)::bigint AS n FROM ${quote(table.name)}`);
    if (n > 0) await checkTable(db, sql, table, lookup, (checked) => progress(table.name, checked, n));
  }
}

async function checkTable(db: Database.Database, sql: Sql, table: CopyTable, lookup: SourceLookup, progress: (checked: number) => void): Promise<void> {
  const keyList = table.key.map(quote).join(", ");
  const columnList = table.columns.map((c) => quote(c.name)).join(", ");
  const keyType = (k: string) => table.columns.find((c) => c.name === k)!.type;
  const mine = db.prepare(
    `SELECT ${table.sourceColumns.map(quote).join(", ")} FROM ${quote(table.name)} WHERE ${table.key.map((k) => `${quote(k)} = ?`).join(" AND ")}`,
  );
  const afterKey = `(${keyList}) > (${table.key.map((k, i) => placeholder(i + 1, keyType(k))).join(", ")})`;
  let last: unknown[] | null = null;
  let checked = 0;
  for (;;) {
    const page: Record<string, unknown>[] = await sql.unsafe(
      `SELECT ${columnList} FROM ${quote(table.name)} ${last ? `WHERE ${afterKey}` : ""} ORDER BY ${keyList} LIMIT ${PAGE_ROWS}`,
      (last ?? []) as never[],
    );
    for (const theirs of page) {
      const key = table.key.map((k) => theirs[k]);
      const keyText = table.key.map((k) => `${k}=${String(theirs[k])}`).join(", ");
      const source = mine.get(...key) as Record<string, unknown> | undefined;
      if (!source) throw errors.copyMismatch(table.name, `the row (${keyText}) is in PostgreSQL but not in SQLite`);
      const differs = differingColumn(table.columns, rowValues(table.name, table.columns, source, lookup), theirs);
      if (differs) throw errors.copyMismatch(table.name, `the row (${keyText}) is already there with another ${differs}`);
    }
    checked += page.length;
    progress(checked);
    if (page.length < PAGE_ROWS) return;
    const end = page[page.length - 1];
    last = table.key.map((k) => end[k]);
  }
}
