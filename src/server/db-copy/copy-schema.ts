/**
 * What `trackside db copy` moves, read from the two schemas at run time rather than written
 * down: every table of the PostgreSQL schema that the SQLite file also has, with the columns
 * they share, in foreign-key order. A column added to both schemas later (a new migration on
 * each side) is copied without a change here; a column only PostgreSQL has is filled by its
 * default, or derived from the row (copy-values.ts, DERIVED) when it has none.
 *
 * The copy refuses, before it writes anything, a schema it could not move without losing data:
 * a SQLite table or column that holds data and has no place in PostgreSQL, or a PostgreSQL
 * column that must have a value and can get none.
 */
import type Database from "better-sqlite3";
import type { Sql } from "postgres";
import { errors } from "../../protocol/errors.js";
import { DERIVED } from "./copy-values.js";

/**
 * Never copied: each backend's own bookkeeping of migrations; the runs-table sort index
 * (SQLite migration 10, PostgreSQL migration 3), which each backend keeps in its own shape and
 * fills again from the runs the first time a page is sorted by a path; and W&B's resume asks
 * (SQLite migration 16, PostgreSQL migration 9), each good for the next upsert of minutes ahead,
 * which the copied server's W&B clients ask again when they resume.
 */
const NOT_COPIED = new Set(["schema_migrations", "run_sort_paths", "run_sort_values", "wandb_resume_asks"]);

/**
 * SQLite columns that PostgreSQL has no place for, on purpose. runs.history_chunks says whether a
 * SQLite run from before SQLite migration 5 lacks column chunks; PostgreSQL charts every run from
 * its chunks, so the column has no meaning there (the copy warns about such runs: copy-to-postgres.ts).
 */
const DROPPED = new Set(["runs.history_chunks"]);

export interface CopyColumn {
  name: string;
  /** PostgreSQL's data_type ("bigint", "jsonb", "boolean", "bytea", ...). */
  type: string;
  /** Whether the SQLite table has the column; otherwise it is derived (DERIVED). */
  inSource: boolean;
}

export interface CopyTable {
  name: string;
  /** The columns written, in the order of the INSERT. */
  columns: CopyColumn[];
  /** The primary key's columns, in key order (the same on both sides). */
  key: string[];
  /** The columns that SQLite reads for each row (shared ones, and what derived ones need). */
  sourceColumns: string[];
  /** A column holding ids from an identity sequence, whose sequence is set past the copied ids. */
  identity: string | null;
}

interface PgColumn {
  table_name: string;
  column_name: string;
  data_type: string;
  is_nullable: "YES" | "NO";
  column_default: string | null;
  is_identity: "YES" | "NO";
}

/**
 * The tables to copy, parents before children (run streams after runs).
 *
 * @throws TRK_ERR_COPY_MISMATCH for a column that cannot be moved (see above).
 */
export async function copyPlan(db: Database.Database, sql: Sql): Promise<CopyTable[]> {
  const sqliteTables = new Set(
    (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as { name: string }[]).map((r) => r.name),
  );
  const pgColumns = await sql<PgColumn[]>`
    SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity
    FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`;
  const keys = await sql<{ table_name: string; column_name: string }[]>`
    SELECT cl.relname AS table_name, a.attname AS column_name
    FROM pg_constraint c
    JOIN pg_class cl ON cl.oid = c.conrelid
    CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
    WHERE c.contype = 'p' AND cl.relnamespace = current_schema()::regnamespace
    ORDER BY cl.relname, k.ord`;
  const parents = await sql<{ child: string; parent: string }[]>`
    SELECT cl.relname AS child, pcl.relname AS parent
    FROM pg_constraint c JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_class pcl ON pcl.oid = c.confrelid
    WHERE c.contype = 'f' AND cl.relnamespace = current_schema()::regnamespace`;

  const byTable = new Map<string, PgColumn[]>();
  for (const c of pgColumns) byTable.set(c.table_name, [...(byTable.get(c.table_name) ?? []), c]);

  for (const table of sqliteTables) {
    if (NOT_COPIED.has(table) || byTable.has(table)) continue;
    const { n } = db.prepare(`SELECT count(*) AS n FROM ${quote(table)}`).get() as { n: number };
    if (n > 0) throw errors.copyMismatch(table, `its ${n} row(s) in SQLite have no table in PostgreSQL (a trackside whose PostgreSQL schema lacks it): use the same trackside version for both`);
  }

  const tables: CopyTable[] = [];
  for (const [name, cols] of byTable) {
    if (NOT_COPIED.has(name) || !sqliteTables.has(name)) continue;
    const source = new Set((db.prepare(`SELECT name FROM pragma_table_info(?)`).all(name) as { name: string }[]).map((r) => r.name));
    const target = new Set(cols.map((c) => c.column_name));
    for (const col of source) {
      if (target.has(col) || DROPPED.has(`${name}.${col}`)) continue;
      const { n } = db.prepare(`SELECT count(*) AS n FROM ${quote(name)} WHERE ${quote(col)} IS NOT NULL`).get() as { n: number };
      if (n > 0) throw errors.copyMismatch(name, `column ${col} holds data in SQLite and has no place in PostgreSQL: use the same trackside version for both`);
    }
    const derived = DERIVED[name] ?? {};
    const columns: CopyColumn[] = [];
    const needs = new Set<string>();
    for (const c of cols) {
      if (source.has(c.column_name)) {
        columns.push({ name: c.column_name, type: c.data_type, inSource: true });
        needs.add(c.column_name);
      } else if (derived[c.column_name]) {
        columns.push({ name: c.column_name, type: c.data_type, inSource: false });
        for (const s of derived[c.column_name].from) needs.add(s);
      } else if (c.is_nullable === "NO" && c.column_default === null && c.is_identity === "NO") {
        throw errors.copyMismatch(name, `column ${c.column_name} must have a value in PostgreSQL and SQLite has none for it`);
      }
      // Otherwise left out: PostgreSQL fills in its default, or NULL.
    }
    const key = keys.filter((k) => k.table_name === name).map((k) => k.column_name);
    if (key.length === 0 || key.some((k) => !source.has(k))) throw errors.copyMismatch(name, "the table has no primary key shared by both schemas, so a rerun could not tell a copied row from a new one");
    for (const s of needs) if (!source.has(s)) throw errors.copyMismatch(name, `column ${s}, which a derived column needs, is not in SQLite`);
    const identity = cols.find((c) => c.is_identity === "YES")?.column_name ?? null;
    tables.push({ name, columns, key, sourceColumns: [...needs], identity });
  }
  // The run streams' tables (history, console, ...) hold run_pk without REFERENCES (a foreign-key
  // probe per row would slow ingest): they are children of runs all the same, copied after them.
  const implied = tables.filter((t) => t.name !== "runs" && t.columns.some((c) => c.name === "run_pk")).map((t) => ({ child: t.name, parent: "runs" }));
  return inForeignKeyOrder(tables, [...parents, ...implied]);
}

/** Parents first (a row's foreign keys find their rows), otherwise by name, so every run copies in one order. */
function inForeignKeyOrder(tables: CopyTable[], edges: { child: string; parent: string }[]): CopyTable[] {
  const left = new Map(tables.map((t) => [t.name, t]));
  const ordered: CopyTable[] = [];
  while (left.size > 0) {
    const ready = [...left.keys()]
      .filter((name) => !edges.some((e) => e.child === name && e.parent !== name && left.has(e.parent)))
      .sort();
    // A cycle of foreign keys (none in trackside's schema): the rest in name order.
    const next = ready.length > 0 ? ready : [...left.keys()].sort();
    for (const name of next) {
      ordered.push(left.get(name)!);
      left.delete(name);
    }
  }
  return ordered;
}

/** An identifier as SQL text, in either dialect. */
export function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
