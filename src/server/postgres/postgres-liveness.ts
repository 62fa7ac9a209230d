/**
 * Liveness in PostgreSQL: heartbeats, the sweep that marks runs crashed when their heartbeats
 * stop, and the repair of such a crash (the rules of sqlite-liveness.ts).
 *
 * The sweep is ONE conditional `UPDATE ... RETURNING`: under READ COMMITTED a row another
 * replica's sweep (or a heartbeat) changed first is re-checked against the condition before it
 * is updated, so any number of replicas may sweep at once and each run is marked by one of them.
 */
import type { Sql } from "postgres";

/**
 * The advisory lock the sweeping replica holds (PostgresStore.holdsSweepLock): one number of
 * trackside's own, apart from the migrations' lock.
 */
export const SWEEP_LOCK_KEY = 0x7472_6b02; // "trk" 2

/** The database's clock in ms, for runs.changed_at (migration 6): one clock for every replica. */
export const DB_NOW_MS = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/**
 * SET clauses of every change a run page shows: the revision goes up (live events poll it) and
 * changed_at says when (a project's stream asks for the runs changed lately).
 */
export const MARK_CHANGED = `revision = revision + 1, changed_at = ${DB_NOW_MS}`;

/** SET clauses that undo a crash the sweeper guessed (as sqlite-liveness.ts's REVIVE_IF_SWEPT). */
export const REVIVE_IF_SWEPT = `
  state = CASE WHEN sweeper_crashed_at IS NULL THEN state ELSE 'running' END,
  error = CASE WHEN sweeper_crashed_at IS NULL THEN error ELSE NULL END,
  sweeper_crashed_at = NULL`;

/** Sets heartbeat_at and revives a run the sweeper marked crashed; false when the run does not exist. */
export async function heartbeatPostgres(sql: Sql, entity: string, project: string, runId: string, now: number): Promise<boolean> {
  const rows = await sql`
    UPDATE runs SET heartbeat_at = ${now}, revision = revision + (CASE WHEN sweeper_crashed_at IS NULL THEN 0 ELSE 1 END),
      changed_at = CASE WHEN sweeper_crashed_at IS NULL THEN changed_at ELSE ${sql.unsafe(DB_NOW_MS)} END, ${sql.unsafe(REVIVE_IF_SWEPT)}
    WHERE pk = (
      SELECT r.pk FROM runs r JOIN projects p ON p.id = r.project_id JOIN entities e ON e.id = p.entity_id
      WHERE e.name = ${entity} AND p.name = ${project} AND r.run_id = ${runId})
    RETURNING pk`;
  return rows.length > 0;
}

/** Marks crashed every running run whose last heartbeat is before `cutoff`; returns how many this call marked. */
export async function sweepPostgres(sql: Sql, cutoff: number, now: number, error: string): Promise<number> {
  const rows = await sql`
    UPDATE runs SET state = 'crashed', error = ${error}, sweeper_crashed_at = ${now}, ${sql.unsafe(MARK_CHANGED)}
    WHERE state = 'running' AND heartbeat_at < ${cutoff}
    RETURNING pk`;
  return rows.length;
}
