/**
 * The images of one step side by side (a list logged under one key), each with its caption.
 * Small images (a 28 x 28 digit) are scaled up by a whole factor with crisp pixels, so that a
 * person sees the pixels logged instead of a blur; large ones shrink to the column. Each image
 * links to its bytes, opened in a new tab at full size: the blob route answers a PNG or JPEG as
 * its image type, inline (routes-blobs.ts), so the browser shows it there.
 */
import type { ImageView } from "../../../protocol/media";

/** Pixels a small image is scaled up to, about. */
const MIN_SHOWN = 128;
/** Pixels an image is shown at most, across (the panel's column shrinks it further). */
const MAX_SHOWN = 512;

/** The width an image is shown at: a whole multiple of a small one, or at most MAX_SHOWN. */
export function shownWidth(width: number): number {
  if (width >= MIN_SHOWN) return Math.min(width, MAX_SHOWN);
  return width * Math.max(1, Math.floor(MIN_SHOWN / Math.max(1, width)));
}

export function ImageStrip({ images, alt }: { images: ImageView[]; alt: string }) {
  if (images.length === 0) return <p class="muted">No image at this step.</p>;
  return (
    <div class="media-images">
      {images.map((im, i) => {
        const w = shownWidth(im.width);
        return (
          <figure class="media-image" key={`${im.digest}-${i}`} data-digest={im.digest}>
            <a href={im.url} target="_blank" rel="noopener">
              <img
                src={im.url}
                alt={im.caption ?? `${alt}${images.length > 1 ? ` #${i + 1}` : ""}`}
                title={`${im.width} × ${im.height} ${im.format.toUpperCase()}: open at full size`}
                width={w}
                height={Math.round((im.height * w) / Math.max(1, im.width))}
                class={w > im.width ? "pixelated" : ""}
                loading="lazy"
                decoding="async"
              />
            </a>
            {im.caption ? <figcaption>{im.caption}</figcaption> : null}
          </figure>
        );
      })}
    </div>
  );
}
