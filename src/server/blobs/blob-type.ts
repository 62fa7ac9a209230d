/**
 * How a blob is answered to a browser: the blob download (routes-blobs.ts) serves artifact files
 * and media images alike, under one URL per digest, on the app's own origin (or the bucket's).
 * A media image is shown when opened (its raster type, inline); anything else is a download
 * (`application/octet-stream`, attachment), whatever its bytes hold: a blob is whatever a user
 * uploaded, and an HTML or SVG file shown on this origin would run its scripts there (stored XSS).
 * So the type is told from the first bytes, and only the raster types the media feature writes
 * (PNG, JPEG) are ever named; a browser never renders HTML or script from a raster type.
 */

/** Bytes of a blob's start that its type is told from (PNG's signature is the longest: 8). */
export const SNIFF_BYTES = 8;

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const JPEG_START = Buffer.from([0xff, 0xd8, 0xff]);

/** The content type and disposition a blob is answered with. */
export interface BlobAnswer {
  contentType: "image/png" | "image/jpeg" | "application/octet-stream";
  /**
   * `inline; filename="<digest>.png"` for an image; `attachment` for the rest, with no file name:
   * a link's `download` name (the artifact file's path, in the web app) then names the file, as a
   * browser prefers the header's name to the link's.
   */
  disposition: string;
}

/** The raster type of a blob that starts with `head`, or null when it is not a PNG or a JPEG. */
export function rasterTypeOf(head: Uint8Array): "image/png" | "image/jpeg" | null {
  const start = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (start.subarray(0, PNG_SIGNATURE.length).equals(PNG_SIGNATURE)) return "image/png";
  if (start.subarray(0, JPEG_START.length).equals(JPEG_START)) return "image/jpeg";
  return null;
}

/** How a media image of `format` (an ImageRef's) is answered: shown, under a name with its extension. */
export function imageAnswer(digest: string, format: "png" | "jpeg"): BlobAnswer {
  return format === "png"
    ? { contentType: "image/png", disposition: `inline; filename="${digest}.png"` }
    : { contentType: "image/jpeg", disposition: `inline; filename="${digest}.jpg"` };
}

/** How the blob `digest`, which starts with `head` (its first SNIFF_BYTES bytes or fewer), is answered. */
export function blobAnswer(digest: string, head: Uint8Array): BlobAnswer {
  const type = rasterTypeOf(head);
  if (type !== null) return imageAnswer(digest, type === "image/png" ? "png" : "jpeg");
  return { contentType: "application/octet-stream", disposition: "attachment" };
}
