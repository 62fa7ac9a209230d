/**
 * Checks the value of a media record (records.ts `{ k: "media" }`) field by field before a store
 * keeps it: record-check.ts calls it for the server and the daemon alike. A fault is a sentence
 * naming the field, which record-check turns into a coded 400 for the record; limits are those of
 * media.ts, so a value the client could not have made is refused rather than stored.
 */
import { DIGEST_PATTERN } from "./artifacts.js";
import { MAX_STRING_VALUE } from "./limits.js";
import { MAX_HISTOGRAM_BINS, MAX_IMAGES_PER_KEY, MAX_TABLE_COLUMNS, MAX_TABLE_ROWS, type ImageRef, type MediaValue } from "./media.js";

type Obj = Record<string, unknown>;

const FORMATS = new Set(["png", "jpeg"]);
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isSide = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;

/**
 * The fault of an image reference at `at` (a field path for the message), or null.
 *
 * @example
 * checkImageRef({ type: "image", digest: "ab…", size: 10, format: "png", width: 2, height: 2, caption: null }, "value") // null
 */
export function checkImageRef(v: unknown, at: string): string | null {
  if (!isObj(v)) return `${at} is not an object`;
  if (v.type !== "image") return `${at}.type is not "image"`;
  if (typeof v.digest !== "string" || !DIGEST_PATTERN.test(v.digest)) return `${at}.digest is not a sha256 in lowercase hex`;
  if (!isCount(v.size)) return `${at}.size is not a non-negative integer`;
  if (typeof v.format !== "string" || !FORMATS.has(v.format)) return `${at}.format is not "png" or "jpeg"`;
  if (!isSide(v.width)) return `${at}.width is not a positive integer`;
  if (!isSide(v.height)) return `${at}.height is not a positive integer`;
  if (v.caption !== null && typeof v.caption !== "string") return `${at}.caption is not a string or null`;
  if (typeof v.caption === "string" && v.caption.length > MAX_STRING_VALUE) return `${at}.caption is over ${MAX_STRING_VALUE} characters`;
  return null;
}

/**
 * The fault of a media record's value, or null when it is a well-formed MediaValue (media.ts).
 *
 * @example
 * checkMediaValue({ type: "histogram", bins: [0, 1], counts: [3] }) // null
 */
export function checkMediaValue(v: unknown): string | null {
  if (!isObj(v)) return "value is not an object";
  switch (v.type) {
    case "image":
      return checkImageRef(v, "value");
    case "images": {
      if (!Array.isArray(v.items)) return "value.items is not an array";
      if (v.items.length > MAX_IMAGES_PER_KEY) return `value.items holds ${v.items.length} images (at most ${MAX_IMAGES_PER_KEY})`;
      for (let i = 0; i < v.items.length; i++) {
        const why = checkImageRef(v.items[i], `value.items.${i}`);
        if (why !== null) return why;
      }
      return null;
    }
    case "histogram": {
      const { bins, counts } = v;
      if (!Array.isArray(bins) || !bins.every((b) => typeof b === "number" && Number.isFinite(b))) return "value.bins is not an array of finite numbers";
      if (!Array.isArray(counts) || !counts.every(isCount)) return "value.counts is not an array of non-negative integers";
      if (counts.length === 0) return "value.counts is empty";
      if (counts.length > MAX_HISTOGRAM_BINS) return `value.counts has ${counts.length} bins (at most ${MAX_HISTOGRAM_BINS})`;
      if (bins.length !== counts.length + 1) return `value.bins has ${bins.length} edges for ${counts.length} bins (n + 1 expected)`;
      // Equal edges are allowed: a histogram of one repeated value may have a bin of no width.
      for (let i = 1; i < bins.length; i++) if ((bins[i] as number) < (bins[i - 1] as number)) return `value.bins is not in ascending order (edge ${i})`;
      return null;
    }
    case "table":
      return checkTable(v);
    default:
      return `value.type ${JSON.stringify(v.type) ?? "undefined"} is not "image", "images", "histogram" or "table"`;
  }
}

function checkTable(v: Obj): string | null {
  const { columns, rows } = v;
  if (!Array.isArray(columns) || !columns.every((c) => typeof c === "string")) return "value.columns is not an array of strings";
  if (columns.length === 0) return "value.columns is empty";
  if (columns.length > MAX_TABLE_COLUMNS) return `value.columns has ${columns.length} columns (at most ${MAX_TABLE_COLUMNS})`;
  if (new Set(columns).size !== columns.length) return "value.columns names a column twice";
  if (!Array.isArray(rows)) return "value.rows is not an array";
  if (rows.length > MAX_TABLE_ROWS) return `value.rows has ${rows.length} rows (at most ${MAX_TABLE_ROWS})`;
  for (let i = 0; i < rows.length; i++) {
    const row: unknown = rows[i];
    if (!Array.isArray(row)) return `value.rows.${i} is not an array`;
    if (row.length !== columns.length) return `value.rows.${i} has ${row.length} cells for ${columns.length} columns`;
    for (let j = 0; j < row.length; j++) {
      const cell: unknown = row[j];
      const t = typeof cell;
      if (cell === null || t === "number" || t === "boolean") continue;
      if (t === "string") {
        if ((cell as string).length > MAX_STRING_VALUE) return `value.rows.${i}.${j} is over ${MAX_STRING_VALUE} characters`;
        continue;
      }
      const why = checkImageRef(cell, `value.rows.${i}.${j}`);
      if (why !== null) return `${why} (a cell is a number, boolean, string, null or an image)`;
    }
  }
  return null;
}

/** The image references of a (checked) media value, in order: the blobs it holds. */
export function mediaImages(v: MediaValue): ImageRef[] {
  if (v.type === "image") return [v];
  if (v.type === "images") return v.items;
  if (v.type !== "table") return [];
  const out: ImageRef[] = [];
  for (const row of v.rows) for (const cell of row) if (typeof cell === "object" && cell !== null) out.push(cell);
  return out;
}
