/**
 * Media in the SQLite store (store/media-store.ts; postgres-media.ts is the same for PostgreSQL):
 * writes are the ingest's (its transaction), reads the routes'.
 */
import type Database from "better-sqlite3";
import type { MediaKeyView, MediaType, MediaValue } from "../../protocol/media.js";
import { mediaImages } from "../../protocol/media-check.js";
import type { ArtifactScope } from "../store/artifact-store.js";
import type { MediaRange, StoredMediaEntry } from "../store/media-store.js";

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
      values: p(`SELECT step, value FROM media_values WHERE run_pk = @pk AND key = @key
                 AND (@fromStep IS NULL OR step >= @fromStep) AND (@toStep IS NULL OR step <= @toStep) ORDER BY step LIMIT @limit`),
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

  values(runPk: number, key: string, range: MediaRange): StoredMediaEntry[] {
    const rows = this.s.values.all({ pk: runPk, key, ...range }) as { step: number; value: string }[];
    return rows.map((r) => ({ step: r.step, value: JSON.parse(r.value) as MediaValue }));
  }

  blobVisible(scope: ArtifactScope, digest: string, publicOnly: boolean): boolean {
    return this.s.visible.get({ ...scope, digest, publicOnly: publicOnly ? 1 : 0 }) !== undefined;
  }
}
