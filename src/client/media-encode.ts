/**
 * An image's bytes as they are stored: PNG and JPEG bytes kept as they are, after their format and
 * size are read from their header (image-size); raw pixels encoded as PNG (pngjs). Synchronous:
 * log() is, and the bytes must be settled when it returns (the user may reuse the pixel buffer).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { imageSize as ImageSizeFn } from "image-size";
import type { PNG as PNGClass } from "pngjs";
import type { ImageMedia } from "./media.js";

// Loaded at the first image, not with the client: together they add ~100 KB and ~7 ms (measured)
// to the import of every program that logs no image.
const load = createRequire(import.meta.url);
let lib: { imageSize: typeof ImageSizeFn; PNG: typeof PNGClass } | null = null;
function libs(): { imageSize: typeof ImageSizeFn; PNG: typeof PNGClass } {
  lib ??= { imageSize: (load("image-size") as { imageSize: typeof ImageSizeFn }).imageSize, PNG: (load("pngjs") as { PNG: typeof PNGClass }).PNG };
  return lib;
}

/** An image ready to be staged. */
export interface EncodedImage {
  /** The bytes; null once staged in a run directory (`stagedAt`), where they are read again if needed. */
  bytes: Buffer | null;
  /** Where the bytes were staged last, or null. */
  stagedAt: string | null;
  size: number;
  /** sha256 of `bytes`, hex. */
  digest: string;
  format: "png" | "jpeg";
  width: number;
  height: number;
}

/** Why an image cannot be logged; the message says so in words (log() adds the key). */
export class ImageProblem extends Error {}

const MODE_CHANNELS = { L: 1, RGB: 3, RGBA: 4 } as const;
/** pngjs's color types by channel count: grey, RGB, RGBA. */
const COLOR_TYPE: Record<number, 0 | 2 | 6> = { 1: 0, 3: 2, 4: 6 };

/**
 * The image's bytes, encoded once and kept on it.
 * @throws ImageProblem for data that is not an image, or one over `maxPixels`.
 */
export function encodeImage(img: ImageMedia, maxPixels: number): EncodedImage {
  if (img.encoded) {
    checkPixels(img.encoded.width, img.encoded.height, maxPixels);
    return img.encoded;
  }
  const { data, options } = img;
  let enc: EncodedImage;
  if (typeof data === "string") enc = encodedBytes(readImageFile(data), maxPixels, `the file ${data}`);
  else if (options.height !== undefined || options.width !== undefined || options.channels !== undefined || options.mode !== undefined) enc = encodePixels(data, options, maxPixels);
  else if (data instanceof Uint8Array) enc = encodedBytes(Buffer.from(data.buffer, data.byteOffset, data.byteLength), maxPixels, "the bytes");
  else throw new ImageProblem("its data is neither PNG or JPEG bytes, a file path, nor raw pixels with height and width");
  img.encoded = enc;
  // The encoded bytes stand for the data from now on: the user's pixels (4 bytes a value for a
  // Float32Array) are not kept alive by a table that holds the image.
  img.data = null;
  return enc;
}

function readImageFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ImageProblem(`the file ${JSON.stringify(path)} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** PNG or JPEG bytes: their format and size from the header, the bytes copied as they are. */
function encodedBytes(bytes: Buffer, maxPixels: number, what: string): EncodedImage {
  let size: { width?: number; height?: number; type?: string };
  try {
    size = libs().imageSize(bytes);
  } catch {
    throw new ImageProblem(`${what} are not a PNG or JPEG image (for raw pixels give height, width and channels)`);
  }
  const format = size.type === "png" ? "png" : size.type === "jpg" ? "jpeg" : null;
  if (format === null) throw new ImageProblem(`${what} are a ${size.type ?? "unknown"} image, not PNG or JPEG`);
  const width = size.width ?? 0;
  const height = size.height ?? 0;
  if (!(width > 0 && height > 0)) throw new ImageProblem(`${what} give no width and height`);
  checkPixels(width, height, maxPixels);
  const copy = Buffer.from(bytes);
  return { bytes: copy, stagedAt: null, size: copy.length, digest: sha256(copy), format, width, height };
}

/** Raw pixels, row by row with channels interleaved, as PNG. */
function encodePixels(data: ImageMedia["data"], opts: ImageMedia["options"], maxPixels: number): EncodedImage {
  // (A Uint8ClampedArray was copied into a Uint8Array when the Image was made.)
  if (!(data instanceof Uint8Array) && !(data instanceof Float32Array) && !(data instanceof Float64Array)) {
    throw new ImageProblem("raw pixels are not a Uint8Array or Uint8ClampedArray (0..255), nor a Float32Array or Float64Array (0..1)");
  }
  const { height, width } = opts;
  if (!Number.isSafeInteger(height) || !Number.isSafeInteger(width) || (height as number) < 1 || (width as number) < 1) {
    throw new ImageProblem(`raw pixels need height and width as whole numbers from 1 (got height ${String(height)}, width ${String(width)})`);
  }
  const h = height as number;
  const w = width as number;
  checkPixels(w, h, maxPixels);
  let channels = opts.channels;
  if (opts.mode !== undefined) {
    const m = MODE_CHANNELS[opts.mode];
    if (m === undefined) throw new ImageProblem(`its mode ${JSON.stringify(opts.mode)} is not "L", "RGB" or "RGBA"`);
    if (channels !== undefined && channels !== m) throw new ImageProblem(`its mode ${opts.mode} has ${m} channels, not the ${channels} given`);
    channels = m;
  }
  channels ??= data.length / (h * w);
  if (channels !== 1 && channels !== 3 && channels !== 4) throw new ImageProblem(`raw pixels have 1, 3 or 4 channels, not ${String(channels)}`);
  if (data.length !== h * w * channels) throw new ImageProblem(`its ${data.length} values are not height x width x channels = ${h} x ${w} x ${channels} = ${h * w * channels}`);
  let bytes: Uint8Array;
  if (!(data instanceof Uint8Array)) {
    bytes = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      // NaN reads as 0; values past 0..1 are clamped.
      bytes[i] = v >= 1 ? 255 : v > 0 ? Math.round(v * 255) : 0;
    }
  } else bytes = data;
  const { PNG } = libs();
  const png = new PNG({ width: w, height: h, colorType: COLOR_TYPE[channels], inputColorType: COLOR_TYPE[channels], inputHasAlpha: channels === 4 });
  png.data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Paeth filtering on every row (filterType 4) instead of pngjs's default of trying all five per
  // row: 1.5-1.7x faster for files within 1 % of the size (docs/BENCHMARKS.md, "Media").
  const out = PNG.sync.write(png, { colorType: COLOR_TYPE[channels], inputColorType: COLOR_TYPE[channels], inputHasAlpha: channels === 4, filterType: 4 });
  return { bytes: out, stagedAt: null, size: out.length, digest: sha256(out), format: "png", width: w, height: h };
}

function checkPixels(width: number, height: number, maxPixels: number): void {
  if (width * height > maxPixels) {
    throw new ImageProblem(`it has ${width} x ${height} = ${width * height} pixels, over the limit of ${maxPixels} (settings.maxImagePixels)`);
  }
}

/**
 * The bytes of an image encoded before: kept, or read back from where they were staged (another
 * run's directory: the same image logged by a later run).
 * @throws ImageProblem when that file cannot be read.
 */
export function bytesOf(enc: EncodedImage): Buffer {
  if (enc.bytes) return enc.bytes;
  try {
    return readFileSync(enc.stagedAt as string);
  } catch (err) {
    throw new ImageProblem(`its bytes, staged in ${String(enc.stagedAt)}, cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); log a new trackside.Image of it`);
  }
}

function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}
