/**
 * Who is who in the PostgreSQL store: users, API keys, sessions, entities, teams and project
 * settings (the rules of sqlite-accounts.ts). Sessions and one-time links live in the database,
 * so any replica can answer for a token another one issued.
 */
import type { Sql } from "postgres";
import { errors } from "../../protocol/errors.js";
import type {
  EntityRole,
  NewUser,
  Privacy,
  SessionKind,
  StoredApiKey,
  StoredEntity,
  StoredMembership,
  StoredProject,
  StoredProjectSettings,
  StoredTeamMember,
  StoredUser,
  TeamRole,
} from "../store/store.js";
import { isUniqueViolation } from "./postgres-connection.js";

/** A key's last use is written at most this often (as in SQLite): a busy upload must not write per request. */
const KEY_USE_RESOLUTION_MS = 60_000;

const USER_COLUMNS = `u.id, u.name, u.created_at AS "createdAt", u.email, u.is_admin AS admin, u.disabled_at AS "disabledAt"`;
const ENTITY_COLUMNS = `e.id, e.name, e.kind, e.owner_user_id AS "ownerUserId"`;
const KEY_COLUMNS = `k.id, k.user_id AS "userId", k.label, k.prefix, k.created_at AS "createdAt", k.last_used_at AS "lastUsedAt"`;

const nameTaken = (name: string) =>
  errors.conflict(`The name ${JSON.stringify(name)} is taken by a user or a team (they share one namespace)`, "Choose another name.");

/** One method per Store call; each is one statement or one transaction. */
export class PostgresAccounts {
  constructor(private readonly sql: Sql) {}

  private async one<T>(query: string, params: unknown[] = [], sql: Sql = this.sql): Promise<T | null> {
    const rows = await sql.unsafe(query, params as never[]);
    return (rows[0] as T | undefined) ?? null;
  }

  private async all<T>(query: string, params: unknown[] = [], sql: Sql = this.sql): Promise<T[]> {
    return (await sql.unsafe(query, params as never[])) as unknown as T[];
  }

  async countUsers(): Promise<number> {
    return (await this.one<{ n: number }>("SELECT COUNT(*) AS n FROM users"))!.n;
  }

  /** A user and their entity, in one transaction; TRK_ERR_CONFLICT when the name is taken. */
  async createUser(name: string, now: number, details: NewUser = {}): Promise<StoredUser> {
    try {
      return (await this.sql.begin(async (tx) => {
        const t = tx as unknown as Sql;
        await this.claimName(t, name);
        const [{ id }] = await t<{ id: number }[]>`
          INSERT INTO users (name, created_at, email, is_admin) VALUES (${name}, ${now}, ${details.email ?? null}, ${details.admin ?? false}) RETURNING id`;
        await t`INSERT INTO entities (name, owner_user_id, created_at, kind) VALUES (${name}, ${id}, ${now}, 'user')`;
        return (await this.one<StoredUser>(`SELECT ${USER_COLUMNS} FROM users u WHERE u.id = $1`, [id], t))!;
      })) as StoredUser;
    } catch (err) {
      // Two creators of one name at once: the unique index refuses the second.
      if (isUniqueViolation(err)) throw nameTaken(name);
      throw err;
    }
  }

  private async claimName(t: Sql, name: string): Promise<void> {
    // In any letter case (see sqlite-accounts.ts); the unique indexes on lower(name) back this up.
    const taken = await t`SELECT 1 FROM entities WHERE lower(name COLLATE "C") = lower(${name} COLLATE "C")
                          UNION ALL SELECT 1 FROM users WHERE lower(name COLLATE "C") = lower(${name} COLLATE "C")`;
    if (taken.length > 0) throw nameTaken(name);
  }

  userByName(name: string): Promise<StoredUser | null> {
    return this.one<StoredUser>(`SELECT ${USER_COLUMNS} FROM users u WHERE u.name = $1`, [name]);
  }

  listUsers(): Promise<StoredUser[]> {
    return this.all<StoredUser>(`SELECT ${USER_COLUMNS} FROM users u ORDER BY u.id`);
  }

  firstUser(): Promise<StoredUser | null> {
    return this.one<StoredUser>(`SELECT ${USER_COLUMNS} FROM users u ORDER BY u.id LIMIT 1`);
  }

  /** Applies the change, then refuses it (rolled back) if no enabled admin is left. */
  async updateUser(userId: number, change: { disabledAt?: number | null; admin?: boolean }): Promise<StoredUser> {
    return (await this.sql.begin(async (tx) => {
      const t = tx as unknown as Sql;
      // Serialises admin changes: two replicas each disabling one of the last two admins must not both succeed.
      await t`LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE`;
      if (change.disabledAt !== undefined) await t`UPDATE users SET disabled_at = ${change.disabledAt} WHERE id = ${userId}`;
      // A disabled user's sessions and login links go for good (as in sqlite-accounts.ts).
      if (change.disabledAt !== undefined && change.disabledAt !== null) await t`DELETE FROM sessions WHERE user_id = ${userId}`;
      if (change.admin !== undefined) await t`UPDATE users SET is_admin = ${change.admin} WHERE id = ${userId}`;
      const [{ n }] = await t<{ n: number }[]>`SELECT COUNT(*) AS n FROM users WHERE is_admin AND disabled_at IS NULL`;
      if (n === 0) throw errors.conflict("That would leave the server without an enabled site admin", "Make another user an admin first.");
      return (await this.one<StoredUser>(`SELECT ${USER_COLUMNS} FROM users u WHERE u.id = $1`, [userId], t))!;
    })) as StoredUser;
  }

  async addApiKey(userId: number, keyHash: string, prefix: string, now: number, label: string | null): Promise<StoredApiKey> {
    return (await this.one<StoredApiKey>(
      `INSERT INTO api_keys AS k (user_id, hash, prefix, created_at, label) VALUES ($1, $2, $3, $4, $5) RETURNING ${KEY_COLUMNS}`,
      [userId, keyHash, prefix, now, label],
    ))!;
  }

  async userByApiKeyHash(keyHash: string, now: number): Promise<StoredUser | null> {
    const user = await this.one<StoredUser>(
      `SELECT ${USER_COLUMNS} FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.hash = $1 AND u.disabled_at IS NULL`,
      [keyHash],
    );
    if (user) {
      // Conditional, so that a key used many times a minute costs one index probe, not a write.
      await this.sql`UPDATE api_keys SET last_used_at = ${now}
                     WHERE hash = ${keyHash} AND (last_used_at IS NULL OR last_used_at <= ${now - KEY_USE_RESOLUTION_MS})`;
    }
    return user;
  }

  listApiKeys(userId: number): Promise<StoredApiKey[]> {
    return this.all<StoredApiKey>(`SELECT ${KEY_COLUMNS} FROM api_keys k WHERE k.user_id = $1 ORDER BY k.id`, [userId]);
  }

  async revokeApiKey(userId: number, keyId: number): Promise<string | null> {
    const rows = await this.sql<{ hash: string }[]>`DELETE FROM api_keys WHERE id = ${keyId} AND user_id = ${userId} RETURNING hash`;
    return rows[0]?.hash ?? null;
  }

  async addSession(tokenHash: string, userId: number, kind: SessionKind, expiresAt: number, now: number, apiKeyId: number | null): Promise<void> {
    // Sweeping on insert keeps the table small without a timer.
    await this.sql`DELETE FROM sessions WHERE expires_at <= ${now}`;
    await this.sql`INSERT INTO sessions (token_hash, user_id, kind, expires_at, created_at, api_key_id)
                   VALUES (${tokenHash}, ${userId}, ${kind}, ${expiresAt}, ${now}, ${apiKeyId})`;
  }

  /** The id of the API key a credential is, or was made with; null for none. */
  async credentialKeyId(kind: "key" | "session", hash: string): Promise<number | null> {
    const rows =
      kind === "key"
        ? await this.sql<{ id: number | null }[]>`SELECT id FROM api_keys WHERE hash = ${hash}`
        : await this.sql<{ id: number | null }[]>`SELECT api_key_id AS id FROM sessions WHERE token_hash = ${hash}`;
    return rows[0]?.id ?? null;
  }

  userBySession(tokenHash: string, kind: SessionKind, now: number): Promise<StoredUser | null> {
    return this.one<StoredUser>(
      `SELECT ${USER_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id
       WHERE s.token_hash = $1 AND s.kind = $2 AND s.expires_at > $3 AND u.disabled_at IS NULL`,
      [tokenHash, kind, now],
    );
  }

  /** One use only, across replicas: the DELETE ... RETURNING decides which request gets the user. */
  async consumeSession(tokenHash: string, kind: SessionKind, now: number): Promise<StoredUser | null> {
    return this.one<StoredUser>(
      `WITH gone AS (DELETE FROM sessions WHERE token_hash = $1 AND kind = $2 AND expires_at > $3 RETURNING user_id)
       SELECT ${USER_COLUMNS} FROM gone JOIN users u ON u.id = gone.user_id WHERE u.disabled_at IS NULL`,
      [tokenHash, kind, now],
    );
  }

  async deleteSession(tokenHash: string): Promise<void> {
    await this.sql`DELETE FROM sessions WHERE token_hash = ${tokenHash}`;
  }

  getEntity(name: string, sql: Sql = this.sql): Promise<StoredEntity | null> {
    return this.one<StoredEntity>(`SELECT ${ENTITY_COLUMNS} FROM entities e WHERE e.name = $1`, [name], sql);
  }

  /** The user entity `name` of `ownerUserId`, created if missing. */
  async ensureEntity(name: string, ownerUserId: number, now: number): Promise<StoredEntity> {
    await this.sql`INSERT INTO entities (name, owner_user_id, created_at, kind) VALUES (${name}, ${ownerUserId}, ${now}, 'user') ON CONFLICT (name) DO NOTHING`;
    return (await this.getEntity(name))!;
  }

  entitiesOf(userId: number): Promise<StoredEntity[]> {
    return this.all<StoredEntity>(
      `SELECT ${ENTITY_COLUMNS} FROM entities e
       WHERE (e.kind = 'user' AND e.owner_user_id = $1)
          OR e.id IN (SELECT entity_id FROM team_members WHERE user_id = $1)
       ORDER BY e.kind = 'team', e.name COLLATE "C"`,
      [userId],
    );
  }

  async roleIn(entity: StoredEntity, userId: number): Promise<EntityRole | null> {
    if (entity.kind === "user") return entity.ownerUserId === userId ? "owner" : null;
    const row = await this.one<{ role: TeamRole }>("SELECT role FROM team_members WHERE entity_id = $1 AND user_id = $2", [entity.id, userId]);
    return row?.role ?? null;
  }

  async createTeam(name: string, creatorUserId: number, now: number): Promise<StoredEntity> {
    try {
      return (await this.sql.begin(async (tx) => {
        const t = tx as unknown as Sql;
        await this.claimName(t, name);
        const [{ id }] = await t<{ id: number }[]>`
          INSERT INTO entities (name, owner_user_id, created_at, kind) VALUES (${name}, ${creatorUserId}, ${now}, 'team') RETURNING id`;
        await t`INSERT INTO team_members (entity_id, user_id, role, added_at) VALUES (${id}, ${creatorUserId}, 'admin', ${now})`;
        return (await this.getEntity(name, t))!;
      })) as StoredEntity;
    } catch (err) {
      if (isUniqueViolation(err)) throw nameTaken(name);
      throw err;
    }
  }

  async teamsOf(userId: number): Promise<StoredMembership[]> {
    const rows = await this.all<StoredEntity & { role: TeamRole; members: number }>(
      `SELECT ${ENTITY_COLUMNS}, m.role, (SELECT COUNT(*) FROM team_members x WHERE x.entity_id = e.id) AS members
       FROM team_members m JOIN entities e ON e.id = m.entity_id
       WHERE m.user_id = $1 ORDER BY e.name COLLATE "C"`,
      [userId],
    );
    return rows.map(({ role, members, ...team }) => ({ team: { ...team }, role, members }));
  }

  teamMembers(teamId: number): Promise<StoredTeamMember[]> {
    return this.all<StoredTeamMember>(
      `SELECT m.user_id AS "userId", u.name AS "user", m.role, m.added_at AS "addedAt"
       FROM team_members m JOIN users u ON u.id = m.user_id
       WHERE m.entity_id = $1 ORDER BY m.role <> 'admin', u.name COLLATE "C"`,
      [teamId],
    );
  }

  async setTeamMember(teamId: number, userId: number, role: TeamRole, now: number): Promise<void> {
    await this.sql.begin(async (tx) => {
      const t = tx as unknown as Sql;
      await this.lockTeam(t, teamId);
      await t`INSERT INTO team_members (entity_id, user_id, role, added_at) VALUES (${teamId}, ${userId}, ${role}, ${now})
              ON CONFLICT (entity_id, user_id) DO UPDATE SET role = excluded.role`;
      await this.keepAnAdmin(t, teamId);
    });
  }

  async removeTeamMember(teamId: number, userId: number): Promise<boolean> {
    return (await this.sql.begin(async (tx) => {
      const t = tx as unknown as Sql;
      await this.lockTeam(t, teamId);
      const removed = await t`DELETE FROM team_members WHERE entity_id = ${teamId} AND user_id = ${userId} RETURNING user_id`;
      await this.keepAnAdmin(t, teamId);
      return removed.length > 0;
    })) as boolean;
  }

  /** Serialises membership changes of one team (two demotions of its last two admins at once must not both pass). */
  private async lockTeam(t: Sql, teamId: number): Promise<void> {
    await t`SELECT 1 FROM entities WHERE id = ${teamId} FOR UPDATE`;
  }

  private async keepAnAdmin(t: Sql, teamId: number): Promise<void> {
    // Only enabled admins count: a team whose admins are all disabled could not be run.
    const [{ n }] = await t<{ n: number }[]>`
      SELECT COUNT(*) AS n FROM team_members m JOIN users u ON u.id = m.user_id
      WHERE m.entity_id = ${teamId} AND m.role = 'admin' AND u.disabled_at IS NULL`;
    if (n === 0) throw errors.conflict("That would leave the team without an admin", "Make another member an admin first.");
  }

  getProject(entity: string, project: string): Promise<StoredProjectSettings | null> {
    return this.one<StoredProjectSettings>(
      `SELECT e.name AS entity, p.name, p.default_privacy AS "defaultPrivacy",
              EXISTS (SELECT 1 FROM runs r WHERE r.project_id = p.id AND r.privacy = 'public') AS "hasPublicRun"
       FROM projects p JOIN entities e ON e.id = p.entity_id
       WHERE e.name = $1 AND p.name = $2`,
      [entity, project],
    );
  }

  async setProjectDefaultPrivacy(entityId: number, project: string, privacy: Privacy, now: number): Promise<void> {
    await this.sql`INSERT INTO projects (entity_id, name, created_at, default_privacy) VALUES (${entityId}, ${project}, ${now}, ${privacy})
                   ON CONFLICT (entity_id, name) DO UPDATE SET default_privacy = excluded.default_privacy`;
  }

  /**
   * Without publicOnly every project, with all its runs counted: the count kept by a trigger
   * (PostgreSQL migration 3), and the newest run from the end of the index on (project,
   * created_at); a COUNT(*) read all 100,000 runs of a large project (38-49 ms, now under 1 ms).
   * With it, only those holding a public run, counting their public runs only, which the kept
   * count cannot tell: they come from the partial index of public runs.
   */
  listProjects(entity: string, publicOnly: boolean): Promise<StoredProject[]> {
    if (!publicOnly) {
      return this.all<StoredProject>(
        `SELECT e.name AS entity, p.name AS name, p.run_count AS "runCount",
                (SELECT max(r.created_at) FROM runs r WHERE r.project_id = p.id) AS "lastRunAt"
         FROM projects p JOIN entities e ON e.id = p.entity_id
         WHERE e.name = $1
         ORDER BY "lastRunAt" DESC NULLS LAST, p.name COLLATE "C"`,
        [entity],
      );
    }
    return this.all<StoredProject>(
      `SELECT e.name AS entity, p.name AS name, c.n AS "runCount", c.last AS "lastRunAt"
       FROM projects p JOIN entities e ON e.id = p.entity_id
       CROSS JOIN LATERAL (SELECT count(*) AS n, max(r.created_at) AS last FROM runs r WHERE r.project_id = p.id AND r.privacy = 'public') c
       WHERE e.name = $1 AND c.n > 0
       ORDER BY c.last DESC NULLS LAST, p.name COLLATE "C"`,
      [entity],
    );
  }
}
