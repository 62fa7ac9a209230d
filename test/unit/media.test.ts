import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { PNG } from "pngjs";
import { afterEach, describe, expect, it } from "vitest";
import { History, type StepSink } from "../../src/client/history.js";
import { Histogram, Image, Table } from "../../src/client/media.js";
import { MediaLog } from "../../src/client/media-log.js";
import type { HistoryRow, ImageRef, MediaValue, Scalar, TracksideError } from "../../src/protocol/index.js";
import { validateRecords } from "../../src/protocol/record-check.js";
import { objectCost } from "../../src/protocol/limits.js";

const dirs: string[] = [];
const logs: MediaLog[] = [];
afterEach(async () => {
  // The queue entry is written in the background: let it land before its directory goes.
  for (const m of logs.splice(0)) await m.flush();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A History with a MediaLog staging into a temp run directory, as Run builds them. */
function make(maxImagePixels = 64 * 1024 * 1024) {
  const runDir = mkdtempSync(join(tmpdir(), "trk-media-"));
  dirs.push(runDir);
  const rows: HistoryRow[] = [];
  let current: Record<string, Scalar> = {};
  const sink: StepSink = {
    put: (key, value) => void (current[key] = value),
    endRow: (step) => {
      rows.push({ ...current, _step: step } as HistoryRow);
      current = {};
    },
  };
  const records: { step: number; key: string; value: MediaValue }[] = [];
  const entries: string[] = [];
  const warnings: TracksideError[] = [];
  const media = new MediaLog({ runDir, maxImagePixels, add: (r) => records.push(r), handOver: async (e) => void entries.push(e), warn: (e) => warnings.push(e) });
  logs.push(media);
  const h = new History(0, sink, () => 0, 0, (step, found) => media.log(step, found));
  const blob = (digest: string): Buffer => readFileSync(join(runDir, "artifacts", "blobs", digest));
  return { h, rows, records, media, entries, warnings, runDir, blob };
}

function pixels(n: number, seed: number): Uint8Array {
  const a = new Uint8Array(n);
  for (let i = 0; i < n; i++) a[i] = (i * 31 + seed * 7) & 255;
  return a;
}

/** Decodes a PNG (pngjs) to RGBA and back to `channels` per pixel. */
function decode(bytes: Buffer, channels: number): { width: number; height: number; data: number[] } {
  const png = PNG.sync.read(bytes);
  const data: number[] = [];
  for (let p = 0; p < png.width * png.height; p++) for (let c = 0; c < channels; c++) data.push(png.data[p * 4 + c]);
  return { width: png.width, height: png.height, data };
}

describe("images", () => {
  it.each([1, 3, 4])("raw Uint8Array pixels with %i channel(s) are stored as a PNG that decodes to them", (channels) => {
    const { h, records, blob } = make();
    const px = pixels(5 * 7 * channels, channels);
    h.log({ "samples/input": Image(px, { height: 5, width: 7, channels, caption: "a" }), loss: 1 });
    const ref = records[0].value as ImageRef;
    expect(records[0]).toMatchObject({ step: 0, key: "samples/input" });
    expect(ref).toMatchObject({ type: "image", format: "png", width: 7, height: 5, caption: "a" });
    const bytes = blob(ref.digest);
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(ref.digest);
    expect(ref.size).toBe(bytes.length);
    // A grey PNG decodes to R = G = B = the grey value: its first channel is the pixel.
    expect(decode(bytes, channels).data).toEqual([...px]);
  });

  it("Float32Array pixels in 0..1 are scaled to 0..255 (clamped outside)", () => {
    const { h, records, blob } = make();
    const f = new Float32Array([0, 0.5, 1, 2, -1, 0.25]);
    h.log({ img: Image(f, { height: 1, width: 2, mode: "RGB" }) });
    const ref = records[0].value as ImageRef;
    expect(decode(blob(ref.digest), 3).data).toEqual([0, 128, 255, 255, 0, 64]);
  });

  it("a canvas's RGBA bytes (a Uint8ClampedArray) and Float64Array pixels are taken like a Uint8Array and a Float32Array, and copied", () => {
    const { h, records, blob } = make();
    // What a canvas's getImageData(0, 0, 2, 1).data holds: 2 pixels of R, G, B, A.
    const canvas = new Uint8ClampedArray([255, 0, 0, 255, 0, 0, 255, 128]);
    const f64 = new Float64Array([0, 0.5, 1, 2, -1, 0.25]);
    const logged = { c: Image(canvas, { height: 1, width: 2, mode: "RGBA" }), f: Image(f64, { height: 1, width: 2, mode: "RGB" }) };
    canvas.fill(7);
    f64.fill(0);
    expect(h.log(logged)).toBeNull();
    const [c, f] = ["c", "f"].map((k) => records.find((r) => r.key === k)!.value as ImageRef);
    expect(decode(blob(c.digest), 4).data).toEqual([255, 0, 0, 255, 0, 0, 255, 128]);
    expect(decode(blob(f.digest), 3).data).toEqual([0, 128, 255, 255, 0, 64]);
  });

  it("PNG bytes are kept as they are; a JPEG's size is read from its header; a file path is read", () => {
    const { h, records, blob, runDir } = make();
    const png = new PNG({ width: 3, height: 2 });
    png.data.fill(200);
    const pngBytes = PNG.sync.write(png);
    const jpeg = tinyJpegHeader(40, 30);
    const path = join(runDir, "x.png");
    writeFileSync(path, pngBytes);
    expect(h.log({ p: Image(pngBytes), j: Image(jpeg), f: Image(path) })).toBeNull();
    const [p, j, f] = ["p", "j", "f"].map((k) => records.find((r) => r.key === k)?.value as ImageRef);
    expect(p).toMatchObject({ format: "png", width: 3, height: 2 });
    expect(blob(p.digest).equals(pngBytes)).toBe(true);
    expect(j).toMatchObject({ format: "jpeg", width: 40, height: 30 });
    expect(f.digest).toBe(p.digest);
  });

  it("keeps the pixels an Image was made of: a buffer reused for the next image changes neither the table's rows nor a list's items", () => {
    const { h, records, blob } = make();
    const buf = new Uint8Array(4);
    const fbuf = new Float32Array(4);
    const t = Table({ columns: ["image", "n"] });
    const list = [];
    for (let i = 0; i < 3; i++) {
      buf.fill(i * 10);
      fbuf.fill(i / 10);
      t.add([Image(buf, { height: 2, width: 2, channels: 1 }), i]);
      list.push(Image(fbuf, { height: 2, width: 2, channels: 1 }));
    }
    h.log({ t, list });
    const rows = (records.find((r) => r.key === "t")!.value as { rows: unknown[][] }).rows;
    expect(rows.map((r) => decode(blob((r[0] as ImageRef).digest), 1).data)).toEqual([0, 10, 20].map((v) => [v, v, v, v]));
    const items = (records.find((r) => r.key === "list")!.value as { items: ImageRef[] }).items;
    expect(items.map((r) => decode(blob(r.digest), 1).data)).toEqual([0, 26, 51].map((v) => [v, v, v, v]));
  });

  it("a list of images under one key is one `images` value", () => {
    const { h, records } = make();
    h.log({ batch: [0, 1, 2].map((i) => Image(pixels(4, i), { height: 2, width: 2, channels: 1, caption: `#${i}` })) });
    const v = records[0].value as { type: "images"; items: ImageRef[] };
    expect(v.type).toBe("images");
    expect(v.items.map((i) => i.caption)).toEqual(["#0", "#1", "#2"]);
  });

  it("bad images are TRK_ERR_INVALID_MEDIA naming the key, and the rest of the call is logged", () => {
    const { h, rows, records } = make(100);
    const problems = h.log({
      loss: 0.5,
      shape: Image(new Uint8Array(10), { height: 2, width: 2, channels: 3 }),
      unknown: Image(Buffer.from("GIF89a not really")),
      nothing: Image(null as never),
      huge: Image(new Uint8Array(11 * 11), { height: 11, width: 11, channels: 1 }),
      good: Image(pixels(4, 0), { height: 2, width: 2, channels: 1 }),
    }) as TracksideError[];
    expect(problems.map((p) => [p.code, p.details?.key])).toEqual([
      ["TRK_ERR_INVALID_MEDIA", "shape"],
      ["TRK_ERR_INVALID_MEDIA", "unknown"],
      ["TRK_ERR_INVALID_MEDIA", "nothing"],
      ["TRK_ERR_INVALID_MEDIA", "huge"],
    ]);
    expect(problems[2].message).toContain("its data is neither PNG or JPEG bytes");
    expect(problems[3].message).toContain("121 pixels, over the limit of 100");
    expect(rows).toEqual([{ loss: 0.5, _step: 0 }]);
    expect(records.map((r) => r.key)).toEqual(["good"]);
  });

  it("a bad image in a list is named by its place in the list", () => {
    const { h, records } = make();
    const good = (i: number) => Image(pixels(4, i), { height: 2, width: 2, channels: 1 });
    const problems = h.log({ batch: [good(0), good(1), Image(new Uint8Array(8), { height: 2, width: 2 }), good(3)] });
    expect(problems?.map((p) => [p.code, p.details?.key])).toEqual([["TRK_ERR_INVALID_MEDIA", "batch"]]);
    expect(problems?.[0].message).toContain("item 2 of its list: raw pixels have 1, 3 or 4 channels, not 2");
    expect(records).toEqual([]);
  });

  it("blobs staged are handed to the daemon in one `blobs` queue entry per flush", async () => {
    const { h, media, entries, warnings, runDir } = make();
    const img = Image(pixels(4, 9), { height: 2, width: 2, channels: 1 });
    h.log({ a: img, b: Image(pixels(4, 8), { height: 2, width: 2, channels: 1 }) });
    h.log({ a: img }); // the same bytes again: not named twice
    await media.flush();
    expect(warnings).toEqual([]);
    expect(entries).toHaveLength(1);
    const entry = JSON.parse(readFileSync(join(runDir, "artifacts", "queue", `${entries[0]}.json`), "utf8"));
    expect(entry.kind).toBe("blobs");
    expect(entry.blobs).toHaveLength(2);
    expect(readdirSync(join(runDir, "artifacts", "blobs")).sort()).toEqual(entry.blobs.map((b: { digest: string }) => b.digest).sort());
  });

  it("an entry whose hand-over failed is handed over again at the next flush (finish()), before any newer one", async () => {
    const runDir = mkdtempSync(join(tmpdir(), "trk-media-"));
    dirs.push(runDir);
    const handed: string[] = [];
    const warnings: TracksideError[] = [];
    let daemonDown = true;
    const media = new MediaLog({
      runDir,
      maxImagePixels: 1024,
      add: () => undefined,
      handOver: async (entry) => {
        if (daemonDown) throw new Error("the daemon is restarting");
        handed.push(entry);
      },
      warn: (e) => warnings.push(e),
    });
    logs.push(media);
    const h = new History(0, { put: () => undefined, endRow: () => undefined }, () => 0, 0, (step, found) => media.log(step, found));
    h.log({ a: Image(pixels(4, 1), { height: 2, width: 2, channels: 1 }) });
    await media.flush();
    expect(warnings).toHaveLength(1);
    expect(handed).toEqual([]);
    const first = readdirSync(join(runDir, "artifacts", "queue")).map((f) => f.replace(/\.json$/, ""));
    expect(first).toHaveLength(1);
    daemonDown = false;
    h.log({ a: Image(pixels(4, 2), { height: 2, width: 2, channels: 1 }) });
    await media.flush();
    expect(handed).toHaveLength(2);
    expect(handed[0]).toBe(first[0]);
    // Nothing is left to hand over: a further flush hands nothing again.
    await media.flush();
    expect(handed).toHaveLength(2);
  });

  it("gives an entry the daemon refuses every time up after 5 tries", async () => {
    const runDir = mkdtempSync(join(tmpdir(), "trk-media-"));
    dirs.push(runDir);
    let tries = 0;
    const media = new MediaLog({
      runDir,
      maxImagePixels: 1024,
      add: () => undefined,
      handOver: async () => {
        tries++;
        throw new Error("refused");
      },
      warn: () => undefined,
    });
    logs.push(media);
    const h = new History(0, { put: () => undefined, endRow: () => undefined }, () => 0, 0, (step, found) => media.log(step, found));
    h.log({ a: Image(pixels(4, 3), { height: 2, width: 2, channels: 1 }) });
    for (let i = 0; i < 8; i++) await media.flush();
    expect(tries).toBe(5);
  });
});

describe("histograms", () => {
  it("are charged what objectCost charges, from their lengths (the record queue's batch size)", () => {
    const charged: [MediaValue, number][] = [];
    const media = new MediaLog({ runDir: null, maxImagePixels: 1024, add: (r, bytes) => charged.push([r.value, bytes]), handOver: null, warn: () => undefined });
    const h = new History(0, { put: () => undefined, endRow: () => undefined }, () => 0, 0, (step, found) => media.log(step, found));
    h.log({ w: Histogram(Float64Array.from({ length: 5000 }, (_, i) => Math.sin(i)), { bins: 1000 }), few: Histogram.fromCounts({ bins: [0, 0.5, 1], counts: [3, 4] }) });
    expect(charged).toHaveLength(2);
    for (const [value, bytes] of charged) expect(bytes).toBe(objectCost(value));
  });

  it("bins 10,000 normals into 64 bins from their min to max, most of them near the mean", () => {
    const { h, records } = make();
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) + 0.5) / 2 ** 31;
    const values = new Float64Array(10_000);
    for (let i = 0; i < values.length; i++) values[i] = Math.sqrt(-2 * Math.log(rand())) * Math.cos(2 * Math.PI * rand());
    h.log({ w: Histogram(values) }, { step: 3 });
    h.commit();
    const v = records[0].value as { type: "histogram"; bins: number[]; counts: number[] };
    expect(records[0].step).toBe(3);
    expect(v.counts).toHaveLength(64);
    expect(v.bins).toHaveLength(65);
    expect(v.counts.reduce((a, b) => a + b, 0)).toBe(10_000);
    expect(v.bins[0]).toBe(Math.min(...values));
    expect(v.bins[64]).toBe(Math.max(...values));
    // Within one standard deviation: about 68 %.
    let inside = 0;
    v.counts.forEach((c, i) => {
      const mid = (v.bins[i] + v.bins[i + 1]) / 2;
      if (Math.abs(mid) < 1) inside += c;
    });
    expect(inside / 10_000).toBeGreaterThan(0.6);
    expect(inside / 10_000).toBeLessThan(0.76);
  });

  it("takes precomputed counts, and refuses a mismatch naming the key", () => {
    const { h, records } = make();
    const problems = h.log({ ok: Histogram.fromCounts({ bins: [0, 1, 2], counts: [5, 3] }), bad: Histogram.fromCounts({ bins: [0, 1], counts: [5, 3] }), none: Histogram([NaN]) });
    expect(records.map((r) => r.value)).toEqual([{ type: "histogram", bins: [0, 1, 2], counts: [5, 3] }]);
    expect(problems?.map((p) => p.details?.key)).toEqual(["bad", "none"]);
  });
});

describe("what the daemon takes", () => {
  // The daemon checks a client's batch whole (record-check.ts) and sets a batch it refuses aside:
  // a media value the client made but the check refuses lost the loss and everything else of it.
  const daemonTakes = (records: { step: number; key: string; value: MediaValue }[]) => validateRecords(records.map((r, i) => ({ k: "media", seq: i + 1, ...r })), "abcd1234");

  it("a histogram over the whole range of doubles has finite edges, and every value in a bin", () => {
    const { h, records } = make();
    expect(h.log({ w: Histogram([-1e308, 0, 1e308, 1.7e308], { bins: 64 }) })).toBeNull();
    const v = records[0].value as { bins: number[]; counts: number[] };
    expect(v.bins.every(Number.isFinite)).toBe(true);
    expect([v.bins[0], v.bins[64]]).toEqual([-1e308, 1.7e308]);
    expect(v.counts.reduce((a, b) => a + b, 0)).toBe(4);
    expect(() => daemonTakes(records)).not.toThrow();
  });

  it("a histogram of two values a few ulps apart counts both (bins of no width)", () => {
    const { h, records } = make();
    expect(h.log({ w: Histogram([0, 5e-324]), x: Histogram([1, 1 + 2 ** -52], { bins: 3 }) })).toBeNull();
    for (const r of records) expect((r.value as { counts: number[] }).counts.reduce((a, b) => a + b, 0)).toBe(2);
    expect(() => daemonTakes(records)).not.toThrow();
  });

  it("counts that are not whole numbers (or beyond 2^53) are TRK_ERR_INVALID_MEDIA naming the key, not a record the daemon refuses", () => {
    const { h, rows, records } = make();
    const problems = h.log({ loss: 1, density: Histogram.fromCounts({ bins: [0, 1, 2], counts: [0.25, 0.75] }), big: Histogram.fromCounts({ bins: [0, 1], counts: [1e300] }) });
    expect(problems?.map((p) => [p.code, p.details?.key])).toEqual([
      ["TRK_ERR_INVALID_MEDIA", "density"],
      ["TRK_ERR_INVALID_MEDIA", "big"],
    ]);
    expect(problems?.[0].message).toContain("whole numbers");
    expect(records).toEqual([]);
    expect(rows).toEqual([{ loss: 1, _step: 0 }]);
  });

  it("a column name longer than a string value may be is TRK_ERR_INVALID_MEDIA naming the key", () => {
    const { h, records } = make();
    const problems = h.log({ t: Table({ columns: ["a", "x".repeat(70_000)], rows: [[1, 2]] }) });
    expect(problems?.map((p) => [p.code, p.details?.key])).toEqual([["TRK_ERR_INVALID_MEDIA", "t"]]);
    expect(problems?.[0].message).toContain("70000 characters");
    expect(records).toEqual([]);
  });
});

describe("tables", () => {
  it("holds scalars and images, appends rows, and is logged whole each time", () => {
    const { h, records } = make();
    const t = Table({ columns: ["image", "label", "ok"] });
    t.add([Image(pixels(4, 1), { height: 2, width: 2, channels: 1 }), "cat", true]);
    h.log({ preds: t });
    t.add([null, "dog", false]);
    h.log({ preds: t });
    const [a, b] = records.map((r) => r.value as { type: "table"; columns: string[]; rows: unknown[][] });
    expect(a.rows).toHaveLength(1);
    expect(b.columns).toEqual(["image", "label", "ok"]);
    expect(b.rows.map((r) => r.slice(1))).toEqual([
      ["cat", true],
      ["dog", false],
    ]);
    expect((b.rows[0][0] as ImageRef).format).toBe("png");
  });

  it("keeps neither the pixels nor the PNG of its images once they are staged: a growing table of images stays small", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const { h, records, blob } = make();
    const t = Table({ columns: ["image", "n"] });
    const held: WeakRef<object>[] = [];
    // In a function of its own: a suspended async function's frame would hold the last pixels.
    const addRows = () => {
      for (let i = 0; i < 20; i++) {
        const px = new Float32Array(64 * 64 * 3).map((_, j) => ((j * 7 + i) % 256) / 255);
        held.push(new WeakRef(px.buffer));
        t.add([Image(px, { height: 64, width: 64, channels: 3 }), i]);
        h.log({ t });
      }
    };
    addRows();
    const first = (records[19].value as { rows: unknown[][] }).rows[0][0] as ImageRef;
    // The PNG buffers too: each image's bytes are read back from the run directory when needed.
    const image = t.rows[0][0] as unknown as { encoded: { bytes: Buffer | null } | null };
    await new Promise((r) => setImmediate(r));
    gc();
    await new Promise((r) => setImmediate(r));
    expect(held.map((w, i) => (w.deref() !== undefined ? i : -1)).filter((i) => i >= 0)).toEqual([]);
    expect(image.encoded?.bytes ?? null).toBeNull();
    expect(blob(first.digest).length).toBe(first.size);
  });

  it("an image staged by one run is staged again by the next run that logs it", () => {
    const a = make();
    const b = make();
    const img = Image(pixels(12, 5), { height: 2, width: 2, channels: 3 });
    a.h.log({ img });
    b.h.log({ img });
    const ref = b.records[0].value as ImageRef;
    expect(b.blob(ref.digest).equals(a.blob(ref.digest))).toBe(true);
  });

  it("a bad row is left out and reported naming the key; the table's other rows are logged", () => {
    const { h, records } = make();
    const t = Table({ columns: ["a", "b"], rows: [[1, 2], [3], [{ x: 1 } as never, 4], [5, 6]] });
    const problems = h.log({ t, loss: 1 });
    expect(problems).toHaveLength(1);
    expect(problems![0].code).toBe("TRK_ERR_INVALID_MEDIA");
    expect(problems![0].message).toContain('"t"');
    expect(problems![0].message).toContain("row 1 has 1 cells for 2 columns");
    expect((records[0].value as { rows: unknown[][] }).rows).toEqual([
      [1, 2],
      [5, 6],
    ]);
  });

  it("names a bad row by the place it was added at, also after an earlier log() reported another", () => {
    const { h } = make();
    const t = Table({ columns: ["a"] });
    t.add([1, 2]); // row 0: bad
    expect(h.log({ t })?.[0].message).toContain("row 0 has 2 cells");
    t.add([3]); // row 1
    t.add([4, 5]); // row 2: bad
    expect(h.log({ t })?.[0].message).toContain("row 2 has 2 cells");
  });

  it("columns that repeat a name make the table unloggable, naming the key", () => {
    const { h, records } = make();
    const problems = h.log({ t: Table({ columns: ["a", "a"] }) });
    expect(problems?.[0].message).toContain("repeat a name");
    expect(records).toEqual([]);
  });
});

/** The start of a JPEG: SOI, a JFIF APP0, then a baseline frame header (SOF0) with its size; enough for image-size. */
function tinyJpegHeader(width: number, height: number): Buffer {
  const app0 = [0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00];
  return Buffer.from([0xff, 0xd8, ...app0, 0xff, 0xc0, 0x00, 0x11, 0x08, height >> 8, height & 255, width >> 8, width & 255, 0x03, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0xff, 0xd9]);
}
