/**
 * Saved views in the PostgreSQL store (sqlite-views.ts is the same for SQLite). Setting a
 * default clears the other default in the same transaction; the partial unique index makes a
 * race of two replicas end in one default and a unique violation, never two defaults.
 */
import type { Sql } from "postgres";
import type { JsonObject } from "../../protocol/records.js";
import type { StoredView, ViewChange, ViewScope } from "../store/store.js";
import { viewNameTaken } from "../store/saved-views.js";
import { isUniqueViolation } from "./postgres-connection.js";

const COLUMNS = `id, name, state::text AS state, is_default AS "isDefault", created_at AS "createdAt", updated_at AS "updatedAt"`;

type ViewRow = Omit<StoredView, "state"> & { state: string };
// Read as text and parsed here, so that a JSON number comes back as JSON.parse makes it, as in SQLite.
const toView = (row: ViewRow): StoredView => ({ ...row, state: JSON.parse(row.state) as JsonObject });

export class PostgresViews {
  constructor(private readonly sql: Sql) {}

  async list(scope: ViewScope): Promise<StoredView[]> {
    const rows = await this.sql.unsafe(
      `SELECT ${COLUMNS} FROM saved_views WHERE user_id = $1 AND entity_id = $2 AND project = $3 ORDER BY name, id`,
      [scope.userId, scope.entityId, scope.project],
    );
    return (rows as unknown as ViewRow[]).map(toView);
  }

  async create(scope: ViewScope, view: { name: string; state: JsonObject; isDefault: boolean }, now: number): Promise<StoredView> {
    try {
      return await this.sql.begin(async (t) => {
        if (view.isDefault) await t`UPDATE saved_views SET is_default = false WHERE user_id = ${scope.userId} AND entity_id = ${scope.entityId} AND project = ${scope.project} AND is_default`;
        const rows = await t.unsafe(
          `INSERT INTO saved_views (user_id, entity_id, project, name, state, is_default, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5::text::jsonb, $6, $7, $7) RETURNING ${COLUMNS}`,
          [scope.userId, scope.entityId, scope.project, view.name, JSON.stringify(view.state), view.isDefault, now],
        );
        return toView(rows[0] as unknown as ViewRow);
      }) as StoredView;
    } catch (err) {
      if (isUniqueViolation(err)) throw viewNameTaken(view.name);
      throw err;
    }
  }

  async update(scope: ViewScope, id: number, change: ViewChange, now: number): Promise<StoredView | null> {
    try {
      return (await this.sql.begin(async (t) => {
        if (change.isDefault) {
          await t`UPDATE saved_views SET is_default = false WHERE user_id = ${scope.userId} AND entity_id = ${scope.entityId} AND project = ${scope.project} AND is_default AND id <> ${id}`;
        }
        const rows = await t.unsafe(
          `UPDATE saved_views SET name = coalesce($5, name), state = coalesce($6::text::jsonb, state),
             is_default = coalesce($7, is_default), updated_at = $8
           WHERE user_id = $1 AND entity_id = $2 AND project = $3 AND id = $4 RETURNING ${COLUMNS}`,
          [scope.userId, scope.entityId, scope.project, id, change.name ?? null, change.state === undefined ? null : JSON.stringify(change.state), change.isDefault ?? null, now],
        );
        return rows.length > 0 ? toView(rows[0] as unknown as ViewRow) : null;
      })) as StoredView | null;
    } catch (err) {
      if (isUniqueViolation(err) && change.name !== undefined) throw viewNameTaken(change.name);
      throw err;
    }
  }

  async delete(scope: ViewScope, id: number): Promise<boolean> {
    const rows = await this.sql`DELETE FROM saved_views WHERE user_id = ${scope.userId} AND entity_id = ${scope.entityId} AND project = ${scope.project} AND id = ${id} RETURNING id`;
    return rows.length > 0;
  }
}
