/**
 * Values on their way from SQLite to PostgreSQL: how a stored value becomes a parameter of the
 * PostgreSQL column's type, how two stored values are compared (a rerun of the copy meets the
 * rows it wrote before and must tell them from another server's), and the columns only
 * PostgreSQL has, derived from the row.
 *
 * SQLite keeps JSON as text, booleans as 0/1, and integers of any size in one type; PostgreSQL
 * has jsonb, boolean and bigint. Everything else (text, blobs, numbers) moves as it is.
 */
import { chunkRange } from "../store/history-chunks.js";

/** PostgreSQL types a parameter can be cast to by name (information_schema's data_type). */
const CASTABLE = new Set(["bigint", "integer", "smallint", "text", "boolean", "bytea", "double precision", "real", "numeric", "jsonb", "json"]);

/** `$n` cast to the column's type; jsonb through text, as the ingest code sends it. */
export function placeholder(n: number, type: string): string {
  if (type === "jsonb" || type === "json") return `$${n}::text::${type}`;
  return CASTABLE.has(type) ? `$${n}::${type}` : `$${n}`;
}

/** A SQLite value as a parameter for a PostgreSQL column of `type`. */
export function toParam(value: unknown, type: string): unknown {
  if (value === null || value === undefined) return null;
  if (type === "boolean") return value !== 0 && value !== false;
  if ((type === "jsonb" || type === "json") && typeof value !== "string") return JSON.stringify(value);
  return value;
}

/**
 * A value as comparable text, from either side: SQLite's JSON text and PostgreSQL's parsed
 * jsonb agree when they hold the same JSON (jsonb keeps no key order, so keys are sorted);
 * SQLite's 0/1 and PostgreSQL's booleans agree; blobs compare by their bytes.
 */
export function canonical(value: unknown, type: string): string {
  if (value === null || value === undefined) return "null";
  if (type === "jsonb" || type === "json") return sortedJson(typeof value === "string" ? (JSON.parse(value) as unknown) : value);
  if (type === "boolean") return value !== 0 && value !== false ? "true" : "false";
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return `x${Buffer.from(value).toString("hex")}`;
  if (typeof value === "number" || typeof value === "bigint") return `n${String(value)}`;
  return `s${String(value)}`;
}

function sortedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const o = value as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${sortedJson(o[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value);
}

/** What a derived column may read of the source besides its own row. */
export interface SourceLookup {
  /** The first and last step of the history record starting at `firstSeq`, or null when unknown. */
  stepRange(runPk: number, firstSeq: number): [number, number] | null;
}

type Row = Record<string, unknown>;

interface Derived {
  /** The SQLite columns it reads. */
  from: string[];
  derive(row: Row, source: SourceLookup): unknown;
}

const chunkStats = new WeakMap<Row, { min: number | null; max: number | null }>();

/** The least and greatest finite number of a chunk, as PostgreSQL's ingest computes them (postgres-ingest.ts). */
function statsOf(row: Row): { min: number | null; max: number | null } {
  let stats = chunkStats.get(row);
  if (!stats) {
    stats = chunkRange(row.n as number, row.m as number, row.data as Uint8Array);
    chunkStats.set(row, stats);
  }
  return stats;
}

const CHUNK = ["run_pk", "first_seq", "n", "m", "data"];

/**
 * Columns PostgreSQL has and SQLite may not, by table, and how each is made from the SQLite
 * row. A column SQLite has is copied instead, so these apply only while the schemas differ.
 * history_chunks: the step range and min/max over the numbers let a PostgreSQL chart query skip
 * whole chunks (postgres-migrations.ts); SQLite reads every chunk of a key and keeps none of them.
 */
export const DERIVED: Record<string, Record<string, Derived>> = {
  history_chunks: {
    first_step: { from: CHUNK, derive: (row, source) => source.stepRange(row.run_pk as number, row.first_seq as number)?.[0] ?? null },
    last_step: { from: CHUNK, derive: (row, source) => source.stepRange(row.run_pk as number, row.first_seq as number)?.[1] ?? null },
    min_value: { from: CHUNK, derive: (row) => statsOf(row).min },
    max_value: { from: CHUNK, derive: (row) => statsOf(row).max },
  },
};

/** A SQLite row as the parameters of its PostgreSQL row, in the order of `columns` (derived ones made). */
export function rowValues(table: string, columns: readonly { name: string; type: string; inSource: boolean }[], row: Row, source: SourceLookup): unknown[] {
  const derived = DERIVED[table] ?? {};
  return columns.map((c) => toParam(c.inSource ? row[c.name] : derived[c.name].derive(row, source), c.type));
}

/** The first column whose value differs between a row's parameters (rowValues) and the stored PostgreSQL row, or null. */
export function differingColumn(columns: readonly { name: string; type: string }[], mine: unknown[], theirs: Row): string | null {
  for (let i = 0; i < columns.length; i++) {
    if (canonical(mine[i], columns[i].type) !== canonical(theirs[columns[i].name], columns[i].type)) return columns[i].name;
  }
  return null;
}
