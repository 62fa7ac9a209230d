/**
 * The media values of a log() call, made into `media` records (protocol/media.ts) at the call's
 * step. Image bytes are staged at once, synchronously, in `<runDir>/artifacts/blobs/<sha256>` (as
 * artifact files are, artifact-staging.ts), so that a crash of the process right after log()
 * leaves them for the daemon; a bad value is TRK_ERR_INVALID_MEDIA naming its key, and the other
 * keys go on.
 *
 * The digests staged are handed to the daemon in `blobs` queue entries: one per flush, not one per
 * call (writing an entry fsyncs it), written after their blobs and taken by the daemon like an
 * artifact. At exit the last one is written synchronously and left for the daemon to find
 * (spillOnExit, RunStream.processGone).
 */
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { errors, MAX_IMAGES_PER_KEY, MAX_OBJECT_BYTES, MAX_STRING_VALUE, newEntryName, objectCost, type ImageRef, type MediaValue, type TableCell, type TracksideError } from "../protocol/index.js";
import { blobsDir, queueDir, writeQueueEntry } from "./artifact-staging.js";
import { bytesOf, encodeImage, ImageProblem } from "./media-encode.js";
import { HistogramMedia, ImageMedia, TableMedia, type Media } from "./media.js";
import type { FoundMedia } from "./values.js";

/**
 * What a media value costs against MAX_OBJECT_BYTES (objectCost). A histogram's arrays hold
 * numbers only, 9 each (8 and a separator), so its cost comes from their lengths: walking its
 * 2,001 numbers was a fifth of logging a 1,000-bin histogram (docs/BENCHMARKS.md, "Media").
 */
function costOf(value: MediaValue): number {
  if (value.type === "histogram") return objectCost({ ...value, bins: [], counts: [] }) + 9 * (value.bins.length + value.counts.length);
  return objectCost(value, MAX_OBJECT_BYTES + 1);
}

/** Tries to hand one queue entry over to the daemon before it is given up. */
const MAX_HAND_OVERS = 5;

/** Where media records and their blobs go. */
export interface MediaTarget {
  runDir: string | null;
  maxImagePixels: number;
  /** Queues a record in the run's next batch. */
  /** `bytes`: about what the record takes encoded (RecordQueue.add sends a batch at a size). */
  add(record: { k: "media"; step: number; key: string; value: MediaValue }, bytes: number): void;
  /** Asks the daemon to take a queue entry (null: no daemon, offline-less disabled run). */
  handOver: ((entry: string) => Promise<void>) | null;
  /** A problem of the background hand-over (a full disk), said once. */
  warn(err: TracksideError): void;
}

export class MediaLog {
  /** Digests staged and not yet named by a queue entry, with their sizes. */
  private unsent = new Map<string, number>();
  /** Digests named by an entry already: an image logged again (a table's, each step) is not named twice. */
  private readonly named = new Set<string>();
  /**
   * Entries on disk whose hand-over failed (the daemon restarting, say), with the tries so far:
   * handed over again, oldest first, with the next flush and at finish() (before the exit
   * record), so that their images are uploaded; after MAX_HAND_OVERS tries an entry is given up
   * (the warning said so), so that one the daemon refuses for good does not hold up the rest.
   */
  private unhanded: { entry: string; tries: number }[] = [];
  private work: Promise<void> = Promise.resolve();
  private scheduled = false;
  private blobsReady = false;

  constructor(private readonly target: MediaTarget) {}

  /** See history.ts MediaHandler. */
  log(step: number, found: FoundMedia[]): TracksideError[] | null {
    let problems: TracksideError[] | null = null;
    for (const [key, media] of found) {
      try {
        const late: TracksideError[] = [];
        const value = this.valueOf(key, media, late);
        if (late.length > 0) (problems ??= []).push(...late);
        const cost = costOf(value);
        if (cost > MAX_OBJECT_BYTES) throw errors.invalidMedia(key, `it is over ${MAX_OBJECT_BYTES} bytes as JSON`, "Log fewer rows or bins.");
        this.target.add({ k: "media", step, key, value }, cost);
      } catch (err) {
        (problems ??= []).push(err instanceof ImageProblem ? errors.invalidMedia(key, err.message, "Log PNG or JPEG bytes, a path to such a file, or raw pixels with height, width and channels.") : (err as TracksideError));
      }
    }
    if (this.unsent.size > 0) this.schedule();
    return problems;
  }

  /** Resolves once every blob staged so far is named by a queue entry the daemon holds. */
  flush(): Promise<void> {
    if (this.unsent.size > 0 || this.unhanded.length > 0) this.schedule();
    return this.work;
  }

  /** At exit: writes the entry of the blobs not yet named, synchronously, for the daemon to find. */
  flushSync(): void {
    const runDir = this.target.runDir;
    if (runDir === null || this.unsent.size === 0) return;
    const blobs = this.takeUnsent();
    const dir = queueDir(runDir);
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${newEntryName()}.json`);
    writeFileSync(`${path}.tmp`, JSON.stringify({ kind: "blobs", blobs }));
    renameSync(`${path}.tmp`, path);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.work = this.work.then(async () => {
      this.scheduled = false;
      const runDir = this.target.runDir;
      if (runDir === null) return;
      const entries = this.unhanded.splice(0);
      try {
        if (this.unsent.size > 0) {
          const entry = newEntryName();
          await writeQueueEntry(runDir, entry, { kind: "blobs", blobs: this.takeUnsent() });
          entries.push({ entry, tries: 0 });
        }
        while (entries.length > 0 && this.target.handOver) {
          entries[0].tries++;
          await this.target.handOver(entries[0].entry);
          entries.shift();
        }
      } catch (err) {
        this.unhanded.push(...entries.filter((e) => e.tries < MAX_HAND_OVERS));
        this.target.warn(err as TracksideError);
      }
    });
  }

  private takeUnsent(): { digest: string; size: number }[] {
    const blobs = [...this.unsent].map(([digest, size]) => ({ digest, size }));
    for (const b of blobs) this.named.add(b.digest);
    this.unsent.clear();
    return blobs;
  }

  private valueOf(key: string, media: Media | ImageMedia[], late: TracksideError[]): MediaValue {
    if (Array.isArray(media)) {
      if (media.length > MAX_IMAGES_PER_KEY) throw errors.invalidMedia(key, `it is a list of ${media.length} images (at most ${MAX_IMAGES_PER_KEY})`, "Log fewer images per step.");
      const items = media.map((m, i) => {
        if (!(m instanceof ImageMedia)) throw errors.invalidMedia(key, `item ${i} of its list is not a trackside.Image`, "A list under one key holds images only.");
        try {
          return this.imageRef(m);
        } catch (err) {
          // Which of the list's images (a batch of 64 samples) is at fault.
          if (err instanceof ImageProblem) throw new ImageProblem(`item ${i} of its list: ${err.message}`);
          throw err;
        }
      });
      return { type: "images", items };
    }
    if (media instanceof ImageMedia) return this.imageRef(media);
    if (media instanceof HistogramMedia) {
      if (media.problem) throw errors.invalidMedia(key, `the histogram: ${media.problem}`, "Give an array of numbers and 1 to 10,000 bins, or { bins: n+1 edges, counts: n counts }.");
      return { type: "histogram", bins: media.bins, counts: media.counts };
    }
    if (media instanceof TableMedia) {
      // Bad rows were left out when added: the rest of the table is logged, and the error said.
      if (media.problems.length > 0) {
        const why = media.problems.join("; ");
        media.problems = [];
        if (media.columns.length === 0) throw errors.invalidMedia(key, `the table: ${why}`, "Give columns as a list of distinct names.");
        late.push(errors.invalidMedia(key, `the table: ${why}`, "Give each row one cell per column: numbers, booleans, strings, null or trackside.Image; the other rows were logged."));
      }
      return this.tableValue(key, media);
    }
    throw errors.invalidMedia(key, "it is not a trackside.Image, Histogram or Table", "Make media values with trackside.Image(), trackside.Histogram() or trackside.Table().");
  }

  private tableValue(key: string, t: TableMedia): MediaValue {
    const rows: TableCell[][] = t.rows.map((row, r) =>
      row.map((c, i) => {
        if (!(c instanceof ImageMedia)) return c;
        try {
          return this.imageRef(c);
        } catch (err) {
          if (err instanceof ImageProblem) throw errors.invalidMedia(key, `the image in row ${r}, column ${JSON.stringify(t.columns[i])}: ${err.message}`, "Fix that image, or leave it out of the table.");
          throw err;
        }
      }),
    );
    return { type: "table", columns: [...t.columns], rows };
  }

  /** The image encoded and staged; its reference. */
  private imageRef(img: ImageMedia): ImageRef {
    if (img.caption !== null && img.caption.length > MAX_STRING_VALUE) throw new ImageProblem(`its caption is ${img.caption.length} characters long (at most ${MAX_STRING_VALUE})`);
    const enc = encodeImage(img, this.target.maxImagePixels);
    const runDir = this.target.runDir;
    if (runDir !== null) {
      const blobs = blobsDir(runDir);
      const dest = join(blobs, enc.digest);
      if (!this.unsent.has(enc.digest) && !this.named.has(enc.digest)) {
        if (!this.blobsReady) {
          mkdirSync(blobs, { recursive: true });
          this.blobsReady = true;
        }
        if (!existsSync(dest)) {
          const tmp = `${dest}.staging-${process.pid}`;
          writeFileSync(tmp, bytesOf(enc));
          renameSync(tmp, dest);
        }
        this.unsent.set(enc.digest, enc.size);
      }
      // Staged: the image keeps where its bytes are, not the bytes (a table holds its images for its life).
      enc.bytes = null;
      enc.stagedAt = dest;
    }
    return { type: "image", digest: enc.digest, size: enc.size, format: enc.format, width: enc.width, height: enc.height, caption: img.caption };
  }
}
