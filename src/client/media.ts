/**
 * Rich values for `run.log()` (protocol/media.ts): `trackside.Image`, `trackside.Histogram`,
 * `trackside.Table`. Making one never throws: a problem found here (a bad shape, a wrong cell) is
 * kept and reported by the log() call that carries the value, as TRK_ERR_INVALID_MEDIA naming its
 * key, while the other keys of that call are logged. Image bytes are read and encoded at the first
 * log() that carries the image (media-encode.ts), then kept: an image logged again (a table
 * logged at each step) is not encoded again.
 */
import { MAX_HISTOGRAM_BINS, MAX_STRING_VALUE, MAX_TABLE_COLUMNS, MAX_TABLE_ROWS } from "../protocol/index.js";
import type { EncodedImage } from "./media-encode.js";

/** What `trackside.Image()` takes besides its data. */
export interface ImageOptions {
  caption?: string;
  /** "L" (grey), "RGB" or "RGBA": the channels of raw pixels (instead of `channels`). */
  mode?: "L" | "RGB" | "RGBA";
  /** Raw pixels: rows, columns and channels (1, 3 or 4) of `data`, row by row, channels interleaved. */
  height?: number;
  width?: number;
  channels?: number;
}

/**
 * The data of an image: PNG or JPEG bytes, a path to such a file, or raw pixels (with height and
 * width): bytes of 0..255 (a Uint8ClampedArray too, as a canvas's `getImageData().data` is) or
 * floats of 0..1.
 */
export type ImageData = Uint8Array | Uint8ClampedArray | Float32Array | Float64Array | string;

/** Base of the media classes: how log() tells them from plain objects. */
export abstract class Media {
  /** @internal */
  abstract readonly mediaType: "image" | "histogram" | "table";
}

/** An image to log: see `trackside.Image`. */
export class ImageMedia extends Media {
  readonly mediaType = "image" as const;
  readonly caption: string | null;
  /** @internal The data given; null once encoded (a table holds its images as long as it lives: not their pixels too). */
  data: ImageData | null;
  /** @internal */
  readonly options: ImageOptions;
  /** @internal The encoded image, once a log() has made it (its bytes dropped once staged: media-log.ts). */
  encoded: EncodedImage | null = null;

  constructor(data: ImageData, opts: ImageOptions = {}) {
    super();
    // A copy: the image is encoded at the first log() that carries it, and a table or a list is
    // often filled from one buffer reused for each sample (every row would show the last one).
    // A Uint8ClampedArray holds the same bytes as a Uint8Array: copied into one, it is one.
    if (data instanceof Uint8ClampedArray) this.data = new Uint8Array(data);
    else if (data instanceof Float32Array || data instanceof Float64Array) this.data = data.slice();
    else this.data = data instanceof Uint8Array ? Uint8Array.prototype.slice.call(data) : data;
    this.options = { ...opts };
    this.caption = typeof opts.caption === "string" ? opts.caption : null;
  }
}

/** A histogram to log: see `trackside.Histogram`. */
export class HistogramMedia extends Media {
  readonly mediaType = "histogram" as const;
  /** The n+1 edges of the n bins. */
  readonly bins: number[];
  readonly counts: number[];
  /** @internal Why it cannot be logged, or null. */
  readonly problem: string | null;

  /** @internal Use trackside.Histogram() or Histogram.fromCounts(). */
  constructor(bins: number[], counts: number[], problem: string | null) {
    super();
    this.bins = bins;
    this.counts = counts;
    this.problem = problem;
  }
}

export type TableCellInput = number | boolean | string | null | ImageMedia;

/** A table to log: see `trackside.Table`. Rows may be added; each log() logs the whole table. */
export class TableMedia extends Media {
  readonly mediaType = "table" as const;
  readonly columns: string[];
  readonly rows: TableCellInput[][] = [];
  /** @internal Problems not yet reported: reported (and cleared) by the next log() of the table. */
  problems: string[] = [];
  /** Rows given to add(), the ones left out included: a bad row is named by its place among them. */
  private added = 0;

  constructor(init: { columns: string[]; rows?: TableCellInput[][] }) {
    super();
    const columns = init?.columns;
    if (!Array.isArray(columns) || columns.length === 0 || !columns.every((c) => typeof c === "string" && c.length > 0)) {
      this.columns = [];
      this.problems.push("its columns are not a non-empty list of non-empty strings");
    } else if (new Set(columns).size !== columns.length) {
      this.columns = [];
      this.problems.push(`its columns ${JSON.stringify(columns).slice(0, 200)} repeat a name`);
    } else if (columns.length > MAX_TABLE_COLUMNS) {
      this.columns = [];
      this.problems.push(`it has ${columns.length} columns (at most ${MAX_TABLE_COLUMNS})`);
    } else if (columns.some((c) => c.length > MAX_STRING_VALUE)) {
      this.columns = [];
      const long = columns.find((c) => c.length > MAX_STRING_VALUE) as string;
      this.problems.push(`its column name of ${long.length} characters is too long (at most ${MAX_STRING_VALUE})`);
    } else this.columns = [...columns];
    if (init?.rows !== undefined) {
      if (!Array.isArray(init.rows)) this.problems.push("its rows are not a list of rows");
      else for (const row of init.rows) this.add(row);
    }
  }

  /**
   * Appends a row (one cell per column: a number, boolean, string, null or Image). A bad row is
   * left out, and the next log() of the table says why.
   */
  add(row: TableCellInput[]): this {
    const why = this.checkRow(row);
    if (why) this.problems.push(`row ${this.added} ${why}; it was left out`);
    else this.rows.push([...row]);
    this.added++;
    return this;
  }

  private checkRow(row: unknown): string | null {
    if (this.columns.length === 0) return "cannot be added to a table without valid columns";
    if (!Array.isArray(row)) return "is not a list of cells";
    if (row.length !== this.columns.length) return `has ${row.length} cells for ${this.columns.length} columns`;
    if (this.rows.length >= MAX_TABLE_ROWS) return `is beyond ${MAX_TABLE_ROWS} rows`;
    for (let i = 0; i < row.length; i++) {
      const c: unknown = row[i];
      const t = typeof c;
      if (t === "string" && (c as string).length > MAX_STRING_VALUE) return `has in column ${JSON.stringify(this.columns[i])} a string of ${(c as string).length} characters (at most ${MAX_STRING_VALUE})`;
      if (c === null || t === "number" || t === "boolean" || t === "string" || c instanceof ImageMedia) continue;
      return `has in column ${JSON.stringify(this.columns[i])} ${t === "object" ? "an object" : `a ${t}`} (cells are numbers, booleans, strings, null or trackside.Image)`;
    }
    return null;
  }
}

/** The data of `trackside.Histogram()`: numbers in any array. */
export type HistogramData = ArrayLike<number>;

/**
 * Builds an image to log: PNG or JPEG bytes (a Buffer or Uint8Array, kept as they are), a path to
 * such a file, or raw pixels with `height` and `width` (and `channels` or `mode`): a Uint8Array or
 * Uint8ClampedArray of 0..255, or a Float32Array or Float64Array of 0..1 (scaled to 0..255),
 * encoded as PNG. The data is copied: the
 * buffer may be refilled for the next image. Also callable with `new`.
 * @example run.log({ "samples/input": trackside.Image(pixels, { height: 28, width: 28, channels: 1, caption: "7" }) });
 */
export const Image = function Image(data: ImageData, opts?: ImageOptions): ImageMedia {
  return new ImageMedia(data, opts);
} as unknown as { (data: ImageData, opts?: ImageOptions): ImageMedia; new (data: ImageData, opts?: ImageOptions): ImageMedia };

/** How many bins a histogram gets unless told. */
export const DEFAULT_HISTOGRAM_BINS = 64;

/**
 * Builds a histogram of `values` (an array or typed array) in `bins` equal bins from their minimum
 * to their maximum (default 64); NaN and the infinities are not counted. Also callable with `new`.
 * @example run.log({ "weights/dense": trackside.Histogram(layer.getWeights()[0].dataSync()) });
 */
export const Histogram = Object.assign(
  function Histogram(values: HistogramData, opts?: { bins?: number }): HistogramMedia {
    return histogramOf(values, opts?.bins ?? DEFAULT_HISTOGRAM_BINS);
  },
  {
    /**
     * A histogram counted already: `bins` the n+1 edges (increasing), `counts` the n counts.
     * @example trackside.Histogram.fromCounts({ bins: [0, 1, 2], counts: [5, 3] })
     */
    fromCounts(h: { bins: ArrayLike<number>; counts: ArrayLike<number> }): HistogramMedia {
      const bins = Array.from(h?.bins ?? [], Number);
      const counts = Array.from(h?.counts ?? [], Number);
      let problem: string | null = null;
      if (counts.length === 0 || bins.length !== counts.length + 1) problem = `it has ${bins.length} bin edges for ${counts.length} counts (edges are one more than counts, and there is at least one count)`;
      else if (counts.length > MAX_HISTOGRAM_BINS) problem = `it has ${counts.length} bins (at most ${MAX_HISTOGRAM_BINS})`;
      else if (!bins.every((b, i) => Number.isFinite(b) && (i === 0 || b > bins[i - 1]))) problem = "its bin edges are not finite numbers going up";
      // Whole numbers, as the daemon's check takes them (media-check.ts): a fraction would have the daemon refuse the call's whole batch.
      else if (!counts.every((c) => Number.isSafeInteger(c) && c >= 0)) problem = "its counts are not whole numbers from 0 (up to 2^53)";
      return new HistogramMedia(bins, counts, problem);
    },
  },
) as unknown as {
  (values: HistogramData, opts?: { bins?: number }): HistogramMedia;
  new (values: HistogramData, opts?: { bins?: number }): HistogramMedia;
  fromCounts(h: { bins: ArrayLike<number>; counts: ArrayLike<number> }): HistogramMedia;
};

/**
 * Builds a table: `columns` names, `rows` of cells (numbers, booleans, strings, null, images).
 * `table.add(row)` appends; log the table again to record it as it is then. Also callable with `new`.
 * @example const preds = trackside.Table({ columns: ["image", "label", "guess"] });
 * preds.add([trackside.Image(png), 7, 1]); run.log({ preds });
 */
export const Table = function Table(init: { columns: string[]; rows?: TableCellInput[][] }): TableMedia {
  return new TableMedia(init);
} as unknown as { (init: { columns: string[]; rows?: TableCellInput[][] }): TableMedia; new (init: { columns: string[]; rows?: TableCellInput[][] }): TableMedia };

function histogramOf(values: HistogramData, n: number): HistogramMedia {
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_HISTOGRAM_BINS) return new HistogramMedia([], [], `its bin count ${String(n)} is not a whole number from 1 to ${MAX_HISTOGRAM_BINS}`);
  if (values === null || typeof values !== "object" || typeof values.length !== "number") return new HistogramMedia([], [], "its values are not an array or typed array of numbers");
  let min = Infinity;
  let max = -Infinity;
  const len = values.length;
  for (let i = 0; i < len; i++) {
    const v = values[i];
    if (typeof v !== "number") return new HistogramMedia([], [], `its value at index ${i} is not a number`);
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (min === Infinity || !Number.isFinite(min) || !Number.isFinite(max)) {
    // -Infinity or Infinity won the comparisons: take the finite ones only.
    min = Infinity;
    max = -Infinity;
    for (let i = 0; i < len; i++) {
      const v = values[i];
      if (!Number.isFinite(v)) continue;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    if (min === Infinity) return new HistogramMedia([], [], len === 0 ? "it has no values" : "it has no finite values (all NaN or infinite)");
  }
  // One value throughout: a bin of width 1 around it, as numpy does.
  if (min === max) {
    min -= 0.5;
    max += 0.5;
  }
  // Values near both ends of the doubles (|v| up to 1.8e308) span more than a double holds: then
  // the edges are reckoned in halves (exact: halving a double only moves its exponent), else the
  // span and the edges past the middle are Infinity, and the daemon refuses the call's batch.
  const scale = Number.isFinite(max - min) ? 1 : 0.5;
  const lo = min * scale;
  const width = (max * scale - lo) / n;
  const bins = new Array<number>(n + 1);
  for (let i = 0; i <= n; i++) bins[i] = (lo + i * width) / scale;
  bins[0] = min;
  bins[n] = max;
  const counts = new Array<number>(n).fill(0);
  for (let i = 0; i < len; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    // The last bin is closed: the maximum falls into it. A width that underflows to 0 (values a
    // few ulps apart) makes the minimum's 0 / 0: it is in the first bin all the same.
    const b = Math.min(n - 1, Math.floor((v * scale - lo) / width));
    counts[b >= 0 ? b : 0]++;
  }
  return new HistogramMedia(bins, counts, null);
}
