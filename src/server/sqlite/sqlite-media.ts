/**
 * Media in the SQLite store (store/media-store.ts; postgres-media.ts is the same for PostgreSQL):
 * writes are the ingest's (its transaction), reads the routes'.
 */
import type Database from "better-sqlite3";
import type { MediaKeyView, MediaType, MediaValue } from "../../protocol/media.js";
import { mediaImages } from "../../protocol/media-check.js";
import type { ArtifactScope } from "../store/artifact-store.js";
import { mediaPage, type MediaRange, type StoredMediaPage } from "../store/media-store.js";

export class SqliteMedia {
  private readonly s;

  constructor(db: Database.Database) {
    const p = (sql: string) => db.prepare(sql);
    this.s = {
      // `<=`: the daemon's resend of the same record (same seq) replaces itself; an older one changes nothing.
      upsert: p(`INSERT INTO media_values (run_pk, key, step, seq, type, value) VALUES (@pk, @key, @step, @seq, @type, @value)
                 ON CONFLICT (run_pk, key, step) DO UPDATE SET seq = excluded.seq, type = excluded.type, value = excluded.value
                 WHERE media_values.seq <= excluded.seq`),
      blob: p("INSERT OR IGNORE INTO media_blobs (digest, run_pk) VALUES (?, ?)"),
      keys: p(`SELECT m.key, count(*) AS steps, min(m.step) AS firstStep, max(m.step) AS lastStep,
                      (SELECT l.type FROM media_values l WHERE l.run_pk = m.run_pk AND l.key = m.key ORDER BY l.step DESC LIMIT 1) AS type
               FROM media_values m WHERE m.run_pk = ? GROUP BY m.key ORDER BY m.key`),
      // The values of the steps before the one past maxChars (by a running sum of their lengths),
      // and that step's number without its value: the answer's `next`. One row more than the limit
      // says whether any step was left out by it.
      values: p(`SELECT step, CASE WHEN before < @maxChars THEN value END AS value FROM (
                   SELECT step, value, sum(length(value)) OVER (ORDER BY step ROWS UNBOUNDED PRECEDING) - length(value) AS before
                   FROM media_values WHERE run_pk = @pk AND key = @key
                   AND (@fromStep IS NULL OR step >= @fromStep) AND (@toStep IS NULL OR step <= @toStep) ORDER BY step LIMIT @limit + 1)
                 ORDER BY step`),
      visible: p(`SELECT 1 FROM media_blobs b JOIN runs r ON r.pk = b.run_pk JOIN projects p ON p.id = r.project_id
                  WHERE b.digest = @digest AND p.entity_id = @entityId AND p.name = @project AND (@publicOnly = 0 OR r.privacy = 'public') LIMIT 1`),
    };
  }

  /** Keeps a media record of run `pk` (called inside the ingest's transaction). */
  apply(pk: number, seq: number, step: number, key: string, value: MediaValue): void {
    this.s.upsert.run({ pk, key, step, seq, type: value.type, value: JSON.stringify(value) });
    for (const image of mediaImages(value)) this.s.blob.run(image.digest, pk);
  }

  keys(runPk: number): MediaKeyView[] {
    return (this.s.keys.all(runPk) as { key: string; steps: number; firstStep: number; lastStep: number; type: MediaType }[]).map((r) => ({
      key: r.key,
      type: r.type,
      steps: r.steps,
      firstStep: r.firstStep,
      lastStep: r.lastStep,
    }));
  }

  values(runPk: number, key: string, range: MediaRange): StoredMediaPage {
    return mediaPage(this.s.values.all({ pk: runPk, key, ...range }) as { step: number; value: string | null }[], range.limit);
  }

  blobVisible(scope: ArtifactScope, digest: string, publicOnly: boolean): boolean {
    return this.s.visible.get({ ...scope, digest, publicOnly: publicOnly ? 1 : 0 }) !== undefined;
  }
}
