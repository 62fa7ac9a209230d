/**
 * Media in the PostgreSQL store (sqlite-media.ts is the same for SQLite): writes join the
 * ingest's transaction (applyMediaPostgres), reads are the routes'.
 */
import type { Sql } from "postgres";
import type { MediaKeyView, MediaValue } from "../../protocol/media.js";
import { mediaImages } from "../../protocol/media-check.js";
import type { ArtifactScope } from "../store/artifact-store.js";
import { mediaPage, type MediaRange, type StoredMediaPage } from "../store/media-store.js";

/**
 * Keeps a media record of run `pk` in the ingest's transaction `t` (its statements pushed to
 * `pending`): the newest seq of a (key, step) wins, a resend (same seq) replaces itself.
 */
export function applyMediaPostgres(t: Sql, pk: number, seq: number, step: number, key: string, value: MediaValue, pending: Promise<unknown>[]): void {
  pending.push(t`INSERT INTO media_values (run_pk, key, step, seq, type, value) VALUES (${pk}, ${key}, ${step}, ${seq}, ${value.type}, ${JSON.stringify(value)})
                 ON CONFLICT (run_pk, key, step) DO UPDATE SET seq = excluded.seq, type = excluded.type, value = excluded.value
                 WHERE media_values.seq <= excluded.seq`);
  const digests = [...new Set(mediaImages(value).map((i) => i.digest))];
  if (digests.length > 0) {
    pending.push(t`INSERT INTO media_blobs (digest, run_pk) SELECT d, ${pk} FROM unnest(${digests}::text[]) AS d ON CONFLICT DO NOTHING`);
  }
}

export class PostgresMedia {
  constructor(private readonly sql: Sql) {}

  async keys(runPk: number): Promise<MediaKeyView[]> {
    return (await this.sql`
      SELECT m.key, count(*) AS steps, min(m.step) AS "firstStep", max(m.step) AS "lastStep",
             (SELECT l.type FROM media_values l WHERE l.run_pk = m.run_pk AND l.key = m.key ORDER BY l.step DESC LIMIT 1) AS type
      FROM media_values m WHERE m.run_pk = ${runPk} GROUP BY m.run_pk, m.key ORDER BY m.key COLLATE "C"`).map((r) => ({
      key: r.key as string,
      type: r.type as MediaKeyView["type"],
      steps: Number(r.steps),
      firstStep: Number(r.firstStep),
      lastStep: Number(r.lastStep),
    }));
  }

  /** As sqlite-media.ts: the values before the step past maxChars, that step's number, and one row past the limit. */
  async values(runPk: number, key: string, range: MediaRange): Promise<StoredMediaPage> {
    const rows = await this.sql<{ step: string; value: string | null }[]>`
      SELECT step, CASE WHEN before < ${range.maxChars} THEN value END AS value FROM (
        SELECT step, value, sum(length(value)) OVER (ORDER BY step ROWS UNBOUNDED PRECEDING) - length(value) AS before
        FROM media_values WHERE run_pk = ${runPk} AND key = ${key}
          AND (${range.fromStep}::bigint IS NULL OR step >= ${range.fromStep}::bigint)
          AND (${range.toStep}::bigint IS NULL OR step <= ${range.toStep}::bigint)
        ORDER BY step LIMIT ${range.limit + 1}) AS s
      ORDER BY step`;
    return mediaPage(rows, range.limit);
  }

  async blobVisible(scope: ArtifactScope, digest: string, publicOnly: boolean): Promise<boolean> {
    const rows = await this.sql`
      SELECT 1 FROM media_blobs b JOIN runs r ON r.pk = b.run_pk JOIN projects p ON p.id = r.project_id
      WHERE b.digest = ${digest} AND p.entity_id = ${scope.entityId} AND p.name = ${scope.project}
        AND (NOT ${publicOnly} OR r.privacy = 'public') LIMIT 1`;
    return rows.length > 0;
  }
}
