/**
 * Saved views in the SQLite store: a user's named workspace states of a project
 * (routes-views.ts). One statement or one transaction per call; the unique index on
 * (user, entity, project, name) decides a name taken, and setting a default clears the other
 * default in the same transaction.
 */
import type Database from "better-sqlite3";
import type { JsonObject } from "../../protocol/records.js";
import { viewNameTaken } from "../store/saved-views.js";
import type { StoredView, ViewChange, ViewScope } from "../store/store.js";

const COLUMNS = "id, name, state, is_default AS isDefault, created_at AS createdAt, updated_at AS updatedAt";

type ViewRow = Omit<StoredView, "state" | "isDefault"> & { state: string; isDefault: number };
const toView = (row: ViewRow): StoredView => ({ ...row, state: JSON.parse(row.state) as JsonObject, isDefault: row.isDefault === 1 });


const isUniqueViolation = (err: unknown) => (err as { code?: string } | null)?.code === "SQLITE_CONSTRAINT_UNIQUE";

export class SqliteViews {
  private readonly s;

  constructor(private readonly db: Database.Database) {
    const p = (sql: string) => db.prepare(sql);
    const scope = "user_id = @userId AND entity_id = @entityId AND project = @project";
    this.s = {
      list: p(`SELECT ${COLUMNS} FROM saved_views WHERE ${scope} ORDER BY name, id`),
      one: p(`SELECT ${COLUMNS} FROM saved_views WHERE ${scope} AND id = @id`),
      insert: p(`INSERT INTO saved_views (user_id, entity_id, project, name, state, is_default, created_at, updated_at)
                 VALUES (@userId, @entityId, @project, @name, @state, @isDefault, @now, @now)`),
      clearDefault: p(`UPDATE saved_views SET is_default = 0 WHERE ${scope} AND is_default = 1 AND id <> @id`),
      update: p(`UPDATE saved_views SET name = coalesce(@name, name), state = coalesce(@state, state),
                 is_default = coalesce(@isDefault, is_default), updated_at = @now WHERE ${scope} AND id = @id`),
      delete: p(`DELETE FROM saved_views WHERE ${scope} AND id = @id`),
    };
  }

  list(scope: ViewScope): StoredView[] {
    return (this.s.list.all(scope) as ViewRow[]).map(toView);
  }

  create(scope: ViewScope, view: { name: string; state: JsonObject; isDefault: boolean }, now: number): StoredView {
    return this.db.transaction(() => {
      if (view.isDefault) this.s.clearDefault.run({ ...scope, id: -1 });
      try {
        const { lastInsertRowid } = this.s.insert.run({ ...scope, name: view.name, state: JSON.stringify(view.state), isDefault: view.isDefault ? 1 : 0, now });
        return toView(this.s.one.get({ ...scope, id: Number(lastInsertRowid) }) as ViewRow);
      } catch (err) {
        if (isUniqueViolation(err)) throw viewNameTaken(view.name);
        throw err;
      }
    }).immediate();
  }

  update(scope: ViewScope, id: number, change: ViewChange, now: number): StoredView | null {
    return this.db.transaction(() => {
      if (!this.s.one.get({ ...scope, id })) return null;
      if (change.isDefault) this.s.clearDefault.run({ ...scope, id });
      try {
        this.s.update.run({
          ...scope,
          id,
          now,
          name: change.name ?? null,
          state: change.state === undefined ? null : JSON.stringify(change.state),
          isDefault: change.isDefault === undefined ? null : change.isDefault ? 1 : 0,
        });
      } catch (err) {
        if (isUniqueViolation(err) && change.name !== undefined) throw viewNameTaken(change.name);
        throw err;
      }
      return toView(this.s.one.get({ ...scope, id }) as ViewRow);
    }).immediate();
  }

  delete(scope: ViewScope, id: number): boolean {
    return this.s.delete.run({ ...scope, id }).changes > 0;
  }
}
