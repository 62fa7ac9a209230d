/**
 * The media record's value check (protocol/media-check.ts) beside what it accepts: every field
 * of each type, and the limits of media.ts.
 */
import { describe, expect, it } from "vitest";
import { checkMediaValue, mediaImages } from "../../src/protocol/media-check.js";
import { MAX_HISTOGRAM_BINS, type ImageRef } from "../../src/protocol/media.js";

const image: ImageRef = { type: "image", digest: "a".repeat(64), size: 3, format: "jpeg", width: 1, height: 1, caption: null };

describe("checkMediaValue", () => {
  it("accepts each type well formed, a histogram of one repeated value (equal edges) included", () => {
    expect(checkMediaValue(image)).toBeNull();
    expect(checkMediaValue({ type: "images", items: [image, { ...image, caption: "x" }] })).toBeNull();
    expect(checkMediaValue({ type: "histogram", bins: [2, 2], counts: [9] })).toBeNull();
    expect(checkMediaValue({ type: "table", columns: ["a", "b"], rows: [[1, image], [null, "s"], [true, 2.5]] })).toBeNull();
  });

  it("names the field at fault", () => {
    expect(checkMediaValue({ ...image, format: "gif" })).toMatch(/value\.format/);
    expect(checkMediaValue({ ...image, width: 0 })).toMatch(/value\.width/);
    expect(checkMediaValue({ ...image, caption: 5 })).toMatch(/value\.caption/);
    expect(checkMediaValue({ type: "images", items: [image, { ...image, size: -1 }] })).toMatch(/value\.items\.1\.size/);
    expect(checkMediaValue({ type: "histogram", bins: [1, 0], counts: [1] })).toMatch(/ascending/);
    expect(checkMediaValue({ type: "histogram", bins: [0, NaN], counts: [1] })).toMatch(/finite/);
    expect(checkMediaValue({ type: "histogram", bins: [0, 1], counts: [1.5] })).toMatch(/counts/);
    const many = MAX_HISTOGRAM_BINS + 1;
    expect(checkMediaValue({ type: "histogram", bins: Array.from({ length: many + 1 }, (_, i) => i), counts: Array(many).fill(0) })).toMatch(/at most 10000/);
    expect(checkMediaValue({ type: "table", columns: ["a", "a"], rows: [] })).toMatch(/twice/);
    expect(checkMediaValue({ type: "table", columns: ["a"], rows: [[{ x: 1 }]] })).toMatch(/value\.rows\.0\.0/);
    expect(checkMediaValue([image])).toMatch(/not an object/);
  });

  it("lists the images a value references, table cells included", () => {
    const other = { ...image, digest: "b".repeat(64) };
    expect(mediaImages({ type: "table", columns: ["a", "b"], rows: [[1, image], [other, null]] }).map((i) => i.digest[0])).toEqual(["a", "b"]);
    expect(mediaImages({ type: "histogram", bins: [0, 1], counts: [1] })).toEqual([]);
  });
});
