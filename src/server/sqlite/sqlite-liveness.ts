/**
 * Liveness in SQLite: heartbeats, the sweep that marks runs crashed when their heartbeats stop,
 * and the repair of such a crash when the run turns out to be alive after all.
 *
 * The sweep is ONE conditional UPDATE (`state = 'running' AND heartbeat_at < cutoff`), so any
 * number of server processes may sweep one database at once: each run is marked by exactly one
 * of them, and a heartbeat that commits first keeps its run out of every later sweep. It sets
 * `sweeper_crashed_at` and touches no *_seq column, so a later exit record applies as usual.
 */
import type Database from "better-sqlite3";

/**
 * The database's clock in ms, for runs.changed_at (migration 13): one clock for every server on
 * the file, whatever each process's clock says.
 */
export const DB_NOW_MS = "CAST(unixepoch('subsec') * 1000 AS INTEGER)";

/**
 * SET clauses of every change a run page shows: the revision goes up (live events poll it) and
 * changed_at says when (a project's stream asks for the runs changed lately).
 */
export const MARK_CHANGED = `revision = revision + 1, changed_at = ${DB_NOW_MS}`;

/**
 * SET clauses that undo a crash the sweeper guessed: the run is `running` again and the
 * sweeper's error text is gone. A no-op for any other run (a crash that an exit record reported
 * has `sweeper_crashed_at` NULL and stays crashed). Every expression reads the row as it was
 * before the UPDATE, so the order of the clauses does not matter.
 */
export const REVIVE_IF_SWEPT = `
  state = CASE WHEN sweeper_crashed_at IS NULL THEN state ELSE 'running' END,
  error = CASE WHEN sweeper_crashed_at IS NULL THEN error ELSE NULL END,
  sweeper_crashed_at = NULL`;

/**
 * The sweep: one statement, so it is atomic wherever it runs. heartbeat_at is never NULL for a
 * run (ingest sets it when it creates the row). Served by the partial index
 * runs_running_by_heartbeat (migration 2).
 */
export const SWEEP_SQL = `
  UPDATE runs SET state = 'crashed', error = @error, sweeper_crashed_at = @now, ${MARK_CHANGED}
  WHERE state = 'running' AND heartbeat_at < @cutoff`;

/** Prepared liveness statements over one database (synchronous; SqliteStore wraps them in Promises). */
export class SqliteLiveness {
  private readonly s;

  constructor(db: Database.Database) {
    this.s = {
      heartbeat: db.prepare(`
        UPDATE runs SET heartbeat_at = @now, revision = revision + (sweeper_crashed_at IS NOT NULL),
          changed_at = CASE WHEN sweeper_crashed_at IS NULL THEN changed_at ELSE ${DB_NOW_MS} END, ${REVIVE_IF_SWEPT}
        WHERE pk = (
          SELECT r.pk FROM runs r JOIN projects p ON p.id = r.project_id JOIN entities e ON e.id = p.entity_id
          WHERE e.name = @entity AND p.name = @project AND r.run_id = @runId)`),
      sweep: db.prepare(SWEEP_SQL),
    };
  }

  /** Sets heartbeat_at and revives a run the sweeper marked crashed; false when the run does not exist. */
  heartbeat(entity: string, project: string, runId: string, now: number): boolean {
    return this.s.heartbeat.run({ now, entity, project, runId }).changes > 0;
  }

  /** Marks crashed every running run whose last heartbeat is before `cutoff`; returns how many. */
  sweep(cutoff: number, now: number, error: string): number {
    return this.s.sweep.run({ cutoff, now, error }).changes;
  }
}
