/**
 * Who is who in the SQLite store: users, API keys, sessions, entities, teams and project
 * settings. The access rule itself is not here (access.ts decides from the roles this answers).
 */
import type Database from "better-sqlite3";
import { errors } from "../../protocol/errors.js";
import type {
  EntityRole,
  NewUser,
  Privacy,
  SessionKind,
  StoredApiKey,
  StoredEntity,
  StoredMembership,
  StoredProjectSettings,
  StoredTeamMember,
  StoredUser,
  TeamRole,
} from "../store/store.js";

/** A key's last use is written at most this often: a busy upload must not write per request. */
export const KEY_USE_RESOLUTION_MS = 60_000;

const USER_COLUMNS = "u.id, u.name, u.created_at AS createdAt, u.email, u.is_admin AS admin, u.disabled_at AS disabledAt";
const ENTITY_COLUMNS = "e.id, e.name, e.kind, e.owner_user_id AS ownerUserId";
const KEY_COLUMNS = "k.id, k.user_id AS userId, k.label, k.prefix, k.created_at AS createdAt, k.last_used_at AS lastUsedAt";

type UserRow = Omit<StoredUser, "admin"> & { admin: number };
const toUser = (row: UserRow | undefined): StoredUser | null => (row ? { ...row, admin: row.admin === 1 } : null);

/** Prepared once per database; each method is one statement or one transaction. */
export class SqliteAccounts {
  private readonly s;

  constructor(private readonly db: Database.Database) {
    const p = (sql: string) => db.prepare(sql);
    this.s = {
      countUsers: p("SELECT COUNT(*) FROM users").pluck(),
      insertUser: p("INSERT INTO users (name, created_at, email, is_admin) VALUES (?, ?, ?, ?)"),
      userById: p(`SELECT ${USER_COLUMNS} FROM users u WHERE u.id = ?`),
      userByName: p(`SELECT ${USER_COLUMNS} FROM users u WHERE u.name = ?`),
      users: p(`SELECT ${USER_COLUMNS} FROM users u ORDER BY u.id`),
      firstUser: p(`SELECT ${USER_COLUMNS} FROM users u ORDER BY u.id LIMIT 1`),
      setDisabled: p("UPDATE users SET disabled_at = ? WHERE id = ?"),
      setAdmin: p("UPDATE users SET is_admin = ? WHERE id = ?"),
      activeAdmins: p("SELECT COUNT(*) FROM users WHERE is_admin = 1 AND disabled_at IS NULL").pluck(),

      insertKey: p("INSERT INTO api_keys (user_id, hash, prefix, created_at, label) VALUES (?, ?, ?, ?, ?)"),
      keyById: p(`SELECT ${KEY_COLUMNS} FROM api_keys k WHERE k.id = ?`),
      keysOf: p(`SELECT ${KEY_COLUMNS} FROM api_keys k WHERE k.user_id = ? ORDER BY k.id`),
      userByKey: p(`SELECT ${USER_COLUMNS}, k.last_used_at AS keyLastUsedAt FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.hash = ? AND u.disabled_at IS NULL`),
      // Conditional too, for two requests of one key that both found its last use stale.
      touchKey: p("UPDATE api_keys SET last_used_at = @now WHERE hash = @hash AND (last_used_at IS NULL OR last_used_at <= @now - @resolution)"),
      keyHashOf: p("SELECT hash FROM api_keys WHERE id = ? AND user_id = ?").pluck(),
      deleteKey: p("DELETE FROM api_keys WHERE id = ?"),

      insertSession: p("INSERT INTO sessions (token_hash, user_id, kind, expires_at, created_at, api_key_id) VALUES (?, ?, ?, ?, ?, ?)"),
      keyIdByHash: p("SELECT id FROM api_keys WHERE hash = ?").pluck(),
      sessionKeyId: p("SELECT api_key_id FROM sessions WHERE token_hash = ?").pluck(),
      deleteSessionsOf: p("DELETE FROM sessions WHERE user_id = ?"),
      userBySession: p(
        `SELECT ${USER_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = ? AND s.kind = ? AND s.expires_at > ? AND u.disabled_at IS NULL`,
      ),
      deleteSession: p("DELETE FROM sessions WHERE token_hash = ?"),
      deleteExpiredSessions: p("DELETE FROM sessions WHERE expires_at <= ?"),

      entityByName: p(`SELECT ${ENTITY_COLUMNS} FROM entities e WHERE e.name = ?`),
      // lower() folds ASCII only, which is all an entity name may hold (protocol/ids.ts).
      nameTaken: p("SELECT 1 FROM entities WHERE lower(name) = lower(@n) UNION ALL SELECT 1 FROM users WHERE lower(name) = lower(@n) LIMIT 1").pluck(),
      insertEntity: p("INSERT INTO entities (name, owner_user_id, created_at, kind) VALUES (?, ?, ?, ?)"),
      entitiesOf: p(`
        SELECT ${ENTITY_COLUMNS} FROM entities e
        WHERE (e.kind = 'user' AND e.owner_user_id = @user)
           OR e.id IN (SELECT entity_id FROM team_members WHERE user_id = @user)
        ORDER BY e.kind = 'team', e.name`),
      teamRole: p("SELECT role FROM team_members WHERE entity_id = ? AND user_id = ?").pluck(),
      teamsOf: p(`
        SELECT ${ENTITY_COLUMNS}, m.role, (SELECT COUNT(*) FROM team_members x WHERE x.entity_id = e.id) AS members
        FROM team_members m JOIN entities e ON e.id = m.entity_id
        WHERE m.user_id = ? ORDER BY e.name`),
      members: p(`
        SELECT m.user_id AS userId, u.name AS user, m.role, m.added_at AS addedAt
        FROM team_members m JOIN users u ON u.id = m.user_id
        WHERE m.entity_id = ? ORDER BY m.role <> 'admin', u.name`),
      upsertMember: p(
        "INSERT INTO team_members (entity_id, user_id, role, added_at) VALUES (?, ?, ?, ?) ON CONFLICT (entity_id, user_id) DO UPDATE SET role = excluded.role",
      ),
      deleteMember: p("DELETE FROM team_members WHERE entity_id = ? AND user_id = ?"),
      // Only enabled admins count: a team whose admins are all disabled could not be run.
      teamAdmins: p(
        "SELECT COUNT(*) FROM team_members m JOIN users u ON u.id = m.user_id WHERE m.entity_id = ? AND m.role = 'admin' AND u.disabled_at IS NULL",
      ).pluck(),

      project: p(`
        SELECT e.name AS entity, p.name, p.default_privacy AS defaultPrivacy,
               EXISTS (SELECT 1 FROM runs r WHERE r.project_id = p.id AND r.privacy = 'public') AS hasPublicRun
        FROM projects p JOIN entities e ON e.id = p.entity_id
        WHERE e.name = ? AND p.name = ?`),
      upsertProjectPrivacy: p(
        "INSERT INTO projects (entity_id, name, created_at, default_privacy) VALUES (?, ?, ?, ?) ON CONFLICT (entity_id, name) DO UPDATE SET default_privacy = excluded.default_privacy",
      ),
    };
  }

  countUsers(): number {
    return this.s.countUsers.get() as number;
  }

  /** A user and their entity, in one transaction; TRK_ERR_CONFLICT when the name is taken. */
  createUser(name: string, now: number, details: NewUser = {}): StoredUser {
    return this.db.transaction(() => {
      this.claimName(name);
      const id = Number(this.s.insertUser.run(name, now, details.email ?? null, details.admin ? 1 : 0).lastInsertRowid);
      this.s.insertEntity.run(name, id, now, "user");
      return this.userById(id);
    }).immediate();
  }

  /**
   * Refuses a name a user or a team has, inside the caller's transaction, in any case: "Bob"
   * beside "bob" would pass for him in member lists and links.
   */
  private claimName(name: string): void {
    if (this.s.nameTaken.get({ n: name })) {
      throw errors.conflict(`The name ${JSON.stringify(name)} is taken by a user or a team (they share one namespace)`, "Choose another name.");
    }
  }

  private userById(id: number): StoredUser {
    return toUser(this.s.userById.get(id) as UserRow) as StoredUser;
  }

  userByName(name: string): StoredUser | null {
    return toUser(this.s.userByName.get(name) as UserRow | undefined);
  }

  listUsers(): StoredUser[] {
    return (this.s.users.all() as UserRow[]).map((r) => toUser(r) as StoredUser);
  }

  firstUser(): StoredUser | null {
    return toUser(this.s.firstUser.get() as UserRow | undefined);
  }

  /** Applies the change, then refuses it (rolled back) if no enabled admin is left. */
  updateUser(userId: number, change: { disabledAt?: number | null; admin?: boolean }): StoredUser {
    return this.db.transaction(() => {
      if (change.disabledAt !== undefined) this.s.setDisabled.run(change.disabledAt, userId);
      // A disabled user's sessions and login links go for good: enabling the user again brings
      // back their keys, not a browser session someone else may hold.
      if (change.disabledAt !== undefined && change.disabledAt !== null) this.s.deleteSessionsOf.run(userId);
      if (change.admin !== undefined) this.s.setAdmin.run(change.admin ? 1 : 0, userId);
      if ((this.s.activeAdmins.get() as number) === 0) {
        throw errors.conflict("That would leave the server without an enabled site admin", "Make another user an admin first.");
      }
      return this.userById(userId);
    }).immediate();
  }

  addApiKey(userId: number, keyHash: string, prefix: string, now: number, label: string | null): StoredApiKey {
    const id = Number(this.s.insertKey.run(userId, keyHash, prefix, now, label).lastInsertRowid);
    return this.s.keyById.get(id) as StoredApiKey;
  }

  /**
   * The key's user, and whether its last use is stale (older than KEY_USE_RESOLUTION_MS): then
   * the caller records this use with touchKey. Reading first matters: in SQLite even an UPDATE
   * that changes no row takes the write lock, and waits for any other writer.
   */
  userByApiKeyHash(keyHash: string, now: number): { user: StoredUser; stale: boolean } | null {
    const row = this.s.userByKey.get(keyHash) as (UserRow & { keyLastUsedAt: number | null }) | undefined;
    if (!row) return null;
    const { keyLastUsedAt, ...user } = row;
    return { user: toUser(user)!, stale: keyLastUsedAt === null || keyLastUsedAt <= now - KEY_USE_RESOLUTION_MS };
  }

  /** Records a use of the key at `now` (see userByApiKeyHash). */
  touchKey(keyHash: string, now: number): void {
    this.s.touchKey.run({ hash: keyHash, now, resolution: KEY_USE_RESOLUTION_MS });
  }

  listApiKeys(userId: number): StoredApiKey[] {
    return this.s.keysOf.all(userId) as StoredApiKey[];
  }

  revokeApiKey(userId: number, keyId: number): string | null {
    return this.db.transaction(() => {
      const hash = this.s.keyHashOf.get(keyId, userId) as string | undefined;
      if (hash === undefined) return null;
      this.s.deleteKey.run(keyId);
      return hash;
    }).immediate();
  }

  addSession(tokenHash: string, userId: number, kind: SessionKind, expiresAt: number, now: number, apiKeyId: number | null): void {
    // Sweeping on insert keeps the table small without a timer.
    this.s.deleteExpiredSessions.run(now);
    this.s.insertSession.run(tokenHash, userId, kind, expiresAt, now, apiKeyId);
  }

  credentialKeyId(kind: "key" | "session", hash: string): number | null {
    const id = (kind === "key" ? this.s.keyIdByHash.get(hash) : this.s.sessionKeyId.get(hash)) as number | null | undefined;
    return id ?? null;
  }

  userBySession(tokenHash: string, kind: SessionKind, now: number): StoredUser | null {
    return toUser(this.s.userBySession.get(tokenHash, kind, now) as UserRow | undefined);
  }

  consumeSession(tokenHash: string, kind: SessionKind, now: number): StoredUser | null {
    return this.db.transaction(() => {
      const user = this.userBySession(tokenHash, kind, now);
      if (user) this.s.deleteSession.run(tokenHash);
      return user;
    }).immediate();
  }

  deleteSession(tokenHash: string): void {
    this.s.deleteSession.run(tokenHash);
  }

  getEntity(name: string): StoredEntity | null {
    return (this.s.entityByName.get(name) as StoredEntity | undefined) ?? null;
  }

  /** The user entity `name` of `ownerUserId`, created if missing (a user from before entities had rows). */
  ensureEntity(name: string, ownerUserId: number, now: number): StoredEntity {
    return this.db.transaction(() => {
      const found = this.getEntity(name);
      if (found) return found;
      this.s.insertEntity.run(name, ownerUserId, now, "user");
      return this.getEntity(name) as StoredEntity;
    }).immediate();
  }

  entitiesOf(userId: number): StoredEntity[] {
    return this.s.entitiesOf.all({ user: userId }) as StoredEntity[];
  }

  roleIn(entity: StoredEntity, userId: number): EntityRole | null {
    if (entity.kind === "user") return entity.ownerUserId === userId ? "owner" : null;
    return (this.s.teamRole.get(entity.id, userId) as TeamRole | undefined) ?? null;
  }

  createTeam(name: string, creatorUserId: number, now: number): StoredEntity {
    return this.db.transaction(() => {
      this.claimName(name);
      const id = Number(this.s.insertEntity.run(name, creatorUserId, now, "team").lastInsertRowid);
      this.s.upsertMember.run(id, creatorUserId, "admin", now);
      return this.getEntity(name) as StoredEntity;
    }).immediate();
  }

  teamsOf(userId: number): StoredMembership[] {
    const rows = this.s.teamsOf.all(userId) as (StoredEntity & { role: TeamRole; members: number })[];
    return rows.map(({ role, members, ...team }) => ({ team, role, members }));
  }

  teamMembers(teamId: number): StoredTeamMember[] {
    return this.s.members.all(teamId) as StoredTeamMember[];
  }

  setTeamMember(teamId: number, userId: number, role: TeamRole, now: number): void {
    this.db.transaction(() => {
      this.s.upsertMember.run(teamId, userId, role, now);
      this.keepAnAdmin(teamId);
    }).immediate();
  }

  removeTeamMember(teamId: number, userId: number): boolean {
    return this.db.transaction(() => {
      const removed = this.s.deleteMember.run(teamId, userId).changes > 0;
      this.keepAnAdmin(teamId);
      return removed;
    }).immediate();
  }

  /** Inside a transaction: refuses (rolling it back) a change that left the team with no admin. */
  private keepAnAdmin(teamId: number): void {
    if ((this.s.teamAdmins.get(teamId) as number) === 0) {
      throw errors.conflict("That would leave the team without an admin", "Make another member an admin first.");
    }
  }

  getProject(entity: string, project: string): StoredProjectSettings | null {
    const row = this.s.project.get(entity, project) as (Omit<StoredProjectSettings, "hasPublicRun"> & { hasPublicRun: number }) | undefined;
    return row ? { ...row, hasPublicRun: row.hasPublicRun === 1 } : null;
  }

  setProjectDefaultPrivacy(entityId: number, project: string, privacy: Privacy, now: number): void {
    this.s.upsertProjectPrivacy.run(entityId, project, now, privacy);
  }
}
