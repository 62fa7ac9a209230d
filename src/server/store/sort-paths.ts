/**
 * The one limit shared by every backend's index of runs-table sorts by config and summary
 * values (sqlite-sort-values.ts, postgres-sort-values.ts).
 */

/**
 * Paths kept per project: each one costs every summary (or config) update of the project's runs
 * a row write. Sorts by more paths than this fall back to the plain query (correct, slower).
 */
export const MAX_SORT_PATHS_PER_PROJECT = 32;
