/**
 * Rich values logged with `run.log()` beside scalars (issue 19): images, histograms, tables.
 * What the client, the daemon, the server, the CLI and the web app share about them.
 *
 * A media value is its own record (`{ k: "media" }`, records.ts) at the step of the log() call
 * that carried it, keyed like a metric (`samples/input`). Image bytes are blobs addressed by
 * sha256 in the project's blob store (the artifacts' store, server/blobs/): the client stages them
 * in the run directory and hands the daemon an artifact queue entry of kind `blobs`, which uploads
 * the ones the store lacks. The record holds only references, so history stays small; a record
 * that reaches the server before its bytes is answered with a URL that works once they arrive.
 */

export type MediaType = "image" | "images" | "histogram" | "table";

/** One image: a PNG or JPEG blob. */
export interface ImageRef {
  type: "image";
  digest: string;
  size: number;
  format: "png" | "jpeg";
  width: number;
  height: number;
  caption: string | null;
}

/** A table cell: a scalar, or an image. */
export type TableCell = number | boolean | string | null | ImageRef;

/**
 * The value of a media record:
 * - `image`: one image; `images`: a list under one key (a batch of samples);
 * - `histogram`: `bins` are the n+1 edges of n bins, `counts` the n counts;
 * - `table`: the whole table as logged at that step (an appended table is logged whole again).
 */
export type MediaValue =
  | ImageRef
  | { type: "images"; items: ImageRef[] }
  | { type: "histogram"; bins: number[]; counts: number[] }
  | { type: "table"; columns: string[]; rows: TableCell[][] };

/** Most pixels of one image unless the run's settings say otherwise (8,192 x 8,192). */
export const DEFAULT_MAX_IMAGE_PIXELS = 64 * 1024 * 1024;
/** Most bins of one histogram. */
export const MAX_HISTOGRAM_BINS = 10_000;
/** Most images under one key in one step. */
export const MAX_IMAGES_PER_KEY = 1_000;
/** Most rows and columns of one table (its JSON also stays under MAX_OBJECT_BYTES). */
export const MAX_TABLE_ROWS = 100_000;
export const MAX_TABLE_COLUMNS = 1_000;

// ---- HTTP API (docs/api.md, "Media"); paths under /api/v1 ----

/** An image reference as the API answers it: with where to download the bytes. */
export type ImageView = ImageRef & { url: string };
export type TableCellView = number | boolean | string | null | ImageView;
export type MediaValueView =
  | ImageView
  | { type: "images"; items: ImageView[] }
  | { type: "histogram"; bins: number[]; counts: number[] }
  | { type: "table"; columns: string[]; rows: TableCellView[][] };

/** A media key of a run: its type (the latest logged), how many steps have it, the last one. */
export interface MediaKeyView {
  key: string;
  type: MediaType;
  steps: number;
  firstStep: number;
  lastStep: number;
}

/** GET /runs/:entity/:project/:id/media -> the run's media keys, by key. */
export interface MediaKeysView {
  keys: MediaKeyView[];
}

/**
 * GET /runs/:entity/:project/:id/media/values?key=K[&fromStep=A&toStep=B&limit=N] -> the key's
 * values by step (the newest record of a step wins), at most `limit` (default 1,000) steps and
 * about MAX_MEDIA_ANSWER_CHARS of values (at least one step).
 */
export interface MediaValuesView {
  key: string;
  entries: { step: number; value: MediaValueView }[];
  /** The first step in range that this answer left out (ask again with fromStep=next), or null when none is. */
  next: number | null;
}

/**
 * Most characters of stored values in one answer of media/values, past its first step: a table
 * may be 16 MB (MAX_OBJECT_BYTES) at each of 10,000 steps, and an answer is built in memory.
 */
export const MAX_MEDIA_ANSWER_CHARS = 16 * 1024 * 1024;
