/**
 * The store's part of media (protocol/media.ts): each run's media values by key and step, and
 * which blob digests they reference (the blob download's rule: whoever may read a run may
 * download its media's bytes).
 *
 * Records are applied by the ingest of each backend (a media record is kept by (run, key, step):
 * the newest seq of a step wins, a resend replaces itself, an older one arriving late changes
 * nothing). Implementations: sqlite/sqlite-media.ts (SQLite migration 15) and
 * postgres/postgres-media.ts (PostgreSQL migration 8); the contract is the "media" block of
 * test/server/store-contract.ts.
 */
import type { MediaKeyView, MediaValue } from "../../protocol/media.js";
import type { ArtifactScope } from "./artifact-store.js";

/** One step of a media key: the value of the newest record logged at that step. */
export interface StoredMediaEntry {
  step: number;
  value: MediaValue;
}

/** A range of a key's steps, ascending. */
export interface MediaRange {
  fromStep: number | null;
  toStep: number | null;
  limit: number;
  /**
   * Most characters of stored values to answer: the steps after the one that reaches it are left
   * out (the first step is answered whatever its size), so that an answer's memory is bounded.
   */
  maxChars: number;
}

/** Some of a key's steps; `next`: the first step in range left out (by the limit or maxChars), or null. */
export interface StoredMediaPage {
  entries: StoredMediaEntry[];
  next: number | null;
}

/**
 * A page from rows of (step, value or null): the values up to the first null (a step past the
 * size budget) or the limit; `next` is the step of the first row left out.
 */
export function mediaPage(rows: { step: number | string; value: string | null }[], limit: number): StoredMediaPage {
  const entries: StoredMediaEntry[] = [];
  for (const r of rows) {
    if (r.value === null || entries.length === limit) return { entries, next: Number(r.step) };
    entries.push({ step: Number(r.step), value: JSON.parse(r.value) as MediaValue });
  }
  return { entries, next: null };
}

export interface MediaStore {
  /** A run's media keys, by key; the type is the one at the key's last step. */
  runMediaKeys(runPk: number): Promise<MediaKeyView[]>;
  /** A key's values by step (ascending, at most range.limit and about range.maxChars, first ones first). */
  runMediaValues(runPk: number, key: string, range: MediaRange): Promise<StoredMediaPage>;
  /** Whether a run of the scope (a public one when publicOnly) references the digest in its media. */
  blobInVisibleMedia(scope: ArtifactScope, digest: string, publicOnly: boolean): Promise<boolean>;
}
