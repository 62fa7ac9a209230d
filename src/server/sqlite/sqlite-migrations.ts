/**
 * The SQLite schema as a list of numbered migrations. Applied versions are recorded in
 * `schema_migrations`, so opening a database brings it up to date and a migration never runs
 * twice. Never edit a released migration: append a new one.
 */
import type Database from "better-sqlite3";

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "initial schema",
    sql: `
      CREATE TABLE users (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        created_at  INTEGER NOT NULL
      );

      -- Only the sha256 of a key is kept; prefix is its first characters, for display.
      CREATE TABLE api_keys (
        id          INTEGER PRIMARY KEY,
        user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        hash        TEXT NOT NULL UNIQUE,
        prefix      TEXT NOT NULL,
        created_at  INTEGER NOT NULL
      );

      CREATE TABLE entities (
        id             INTEGER PRIMARY KEY,
        name           TEXT NOT NULL UNIQUE,
        owner_user_id  INTEGER NOT NULL REFERENCES users(id),
        created_at     INTEGER NOT NULL
      );

      CREATE TABLE projects (
        id          INTEGER PRIMARY KEY,
        entity_id   INTEGER NOT NULL REFERENCES entities(id),
        name        TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        UNIQUE (entity_id, name)
      );

      -- Each *_seq column holds the seq of the last record applied to that field, so an older
      -- record (a resend, a replay) never overwrites a newer one. -1: nothing applied yet.
      -- state_seq covers state, exit_code, signal, error and finished_at together; init_seq
      -- covers run_group, job_type and program (fields only the run record sets).
      CREATE TABLE runs (
        pk              INTEGER PRIMARY KEY,
        project_id      INTEGER NOT NULL REFERENCES projects(id),
        run_id          TEXT NOT NULL,
        name            TEXT NOT NULL,
        notes           TEXT,
        tags            TEXT NOT NULL DEFAULT '[]',
        run_group       TEXT,
        job_type        TEXT,
        privacy         TEXT NOT NULL DEFAULT 'private' CHECK (privacy IN ('private', 'public')),
        author_user_id  INTEGER NOT NULL REFERENCES users(id),
        state           TEXT NOT NULL DEFAULT 'running',
        exit_code       INTEGER,
        signal          TEXT,
        error           TEXT,
        created_at      INTEGER NOT NULL,
        heartbeat_at    INTEGER,
        finished_at     INTEGER,
        config          TEXT NOT NULL DEFAULT '{}',
        summary         TEXT NOT NULL DEFAULT '{}',
        metadata        TEXT NOT NULL DEFAULT '{}',
        program         TEXT,
        name_seq        INTEGER NOT NULL DEFAULT -1,
        notes_seq       INTEGER NOT NULL DEFAULT -1,
        tags_seq        INTEGER NOT NULL DEFAULT -1,
        init_seq        INTEGER NOT NULL DEFAULT -1,
        config_seq      INTEGER NOT NULL DEFAULT -1,
        summary_seq     INTEGER NOT NULL DEFAULT -1,
        metadata_seq    INTEGER NOT NULL DEFAULT -1,
        state_seq       INTEGER NOT NULL DEFAULT -1,
        last_seq        INTEGER NOT NULL DEFAULT -1,
        UNIQUE (project_id, run_id)
      );
      CREATE INDEX runs_by_project_created ON runs (project_id, created_at);

      -- Wide rows: one row per step holding every metric of it (msgpack, so NaN and the
      -- infinities survive exactly). Keyed by (run, seq) so a resent row replaces itself.
      -- No REFERENCES on run_pk: a foreign-key probe per row would slow the hottest insert, and
      -- rows are only written by ingest, which holds the run it writes to.
      CREATE TABLE history (
        run_pk  INTEGER NOT NULL,
        seq     INTEGER NOT NULL,
        step    INTEGER NOT NULL,
        ts      REAL,
        data    BLOB NOT NULL,
        PRIMARY KEY (run_pk, seq)
      ) WITHOUT ROWID;

      -- Browser sessions and one-time login links; only the sha256 of a token is kept.
      CREATE TABLE sessions (
        token_hash  TEXT PRIMARY KEY,
        user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        kind        TEXT NOT NULL CHECK (kind IN ('session', 'login_link')),
        expires_at  INTEGER NOT NULL,
        created_at  INTEGER NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: "liveness: runs the sweeper marked crashed",
    sql: `
      -- When the server's sweeper marked the run crashed for want of heartbeats (ms since epoch),
      -- else NULL. Such a crash is a guess, so anything the run sends later undoes it; a crash
      -- that an exit record reported (the daemon saw the process die) leaves this NULL and stays.
      -- The sweep changes no *_seq column: a later exit record still applies as usual.
      ALTER TABLE runs ADD COLUMN sweeper_crashed_at INTEGER;

      -- The sweep reads only running runs, by heartbeat: a partial index keeps it small and off
      -- the ingest path of finished runs.
      CREATE INDEX runs_running_by_heartbeat ON runs (heartbeat_at) WHERE state = 'running';
    `,
  },
  {
    version: 3,
    name: "system metrics and console output",
    sql: `
      -- One row per sample of system metrics, keyed by the time the daemon took it (ms since
      -- epoch): samples are outside the client's sequence, so their time is what makes a resent
      -- sample replace itself. data: msgpack of the sample's values, so NaN survives.
      CREATE TABLE system_metrics (
        run_pk  INTEGER NOT NULL,
        at      INTEGER NOT NULL,
        data    BLOB NOT NULL,
        PRIMARY KEY (run_pk, at)
      ) WITHOUT ROWID;

      -- Every key a run's samples held, so the key list of a run needs no decoding of its samples.
      CREATE TABLE system_metric_keys (
        run_pk  INTEGER NOT NULL,
        key     TEXT NOT NULL,
        PRIMARY KEY (run_pk, key)
      ) WITHOUT ROWID;

      -- One row per console line, keyed by (run, seq) like history so a resent line replaces
      -- itself. WITHOUT ROWID suits the common short line; a long one overflows as usual.
      CREATE TABLE console_lines (
        run_pk  INTEGER NOT NULL,
        seq     INTEGER NOT NULL,
        at      INTEGER NOT NULL,
        stream  TEXT NOT NULL CHECK (stream IN ('stdout', 'stderr')),
        text    TEXT NOT NULL,
        PRIMARY KEY (run_pk, seq)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 4,
    name: "runs table of the web app: sort and filter indexes",
    sql: `
      -- A page of a project's runs sorted by name, or filtered by state (newest first), reads
      -- these in order and stops at the page's end instead of sorting every run of the project.
      CREATE INDEX runs_by_project_name ON runs (project_id, name);
      CREATE INDEX runs_by_project_state_created ON runs (project_id, state, created_at);
    `,
  },
  {
    version: 5,
    name: "history by column, for charts",
    sql: `
      -- History again, by column: per history record and per key, the record's values of that
      -- key as packed little-endian float64s (history-chunks.ts), written beside the wide rows
      -- (still the source of truth for history reads). A chart reads the chunks of one key and
      -- of its x key (_step, _timestamp or _runtime), not a million row blobs. n: the record's
      -- steps; m: how many of them hold a number for the key (m < n: a list of their offsets
      -- follows the values). Keyed by key before first_seq so that one key's chunks are one
      -- range of the index, in seq order; a resent record replaces its own chunks.
      CREATE TABLE history_chunks (
        run_pk     INTEGER NOT NULL,
        key        TEXT NOT NULL,
        first_seq  INTEGER NOT NULL,
        n          INTEGER NOT NULL,
        m          INTEGER NOT NULL,
        data       BLOB NOT NULL,
        PRIMARY KEY (run_pk, key, first_seq)
      ) WITHOUT ROWID;

      -- 1: every history record of the run was ingested with its chunks (runs created from
      -- here on). 0: a run from before this migration, charted from its wide rows instead.
      ALTER TABLE runs ADD COLUMN history_chunks INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 6,
    name: "records of unknown kinds, and the daemon's refusal reports",
    sql: `
      -- Records of a kind this version does not know (a newer daemon talking to this server),
      -- kept opaque so that version skew loses nothing: data is the whole record as msgpack.
      -- Keyed like the known kinds, so a resent record replaces itself: by (run, seq) for the
      -- client's records; the daemon's (seq 0) by their time at, or by their content when they
      -- carry none (sqlite-ingest.ts, opaqueTime).
      CREATE TABLE unknown_records (
        run_pk  INTEGER NOT NULL,
        kind    TEXT NOT NULL,
        seq     INTEGER NOT NULL,
        at      INTEGER NOT NULL,
        data    BLOB NOT NULL,
        PRIMARY KEY (run_pk, kind, seq, at)
      ) WITHOUT ROWID;

      -- The daemon's reports that this server refused a frame of the run (record kind
      -- "refused"): how many records and bytes it held, and the server's error. The frame itself
      -- stays in the daemon's dead-letter file. Keyed by the report's time, so a resend replaces it.
      CREATE TABLE refused_reports (
        run_pk   INTEGER NOT NULL,
        at       INTEGER NOT NULL,
        records  INTEGER NOT NULL,
        bytes    INTEGER NOT NULL,
        error    TEXT NOT NULL,
        PRIMARY KEY (run_pk, at)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 7,
    name: "accounts, keys and teams",
    sql: `
      -- Site admins manage accounts; the first user (the one an embedded server creates on its
      -- first start) is one. A disabled user's keys and sessions stop working; their runs stay.
      ALTER TABLE users ADD COLUMN email TEXT;
      ALTER TABLE users ADD COLUMN is_admin INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE users ADD COLUMN disabled_at INTEGER;
      UPDATE users SET is_admin = 1 WHERE id = (SELECT MIN(id) FROM users);

      -- A key's label, and when it was last used (written at most once a minute, auth.ts).
      ALTER TABLE api_keys ADD COLUMN label TEXT;
      ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;
      CREATE INDEX api_keys_by_user ON api_keys (user_id);

      -- Users and teams share one namespace: both are entities. A user's entity belongs to its
      -- user (owner_user_id); a team's to its members, by role (owner_user_id: who created it).
      ALTER TABLE entities ADD COLUMN kind TEXT NOT NULL DEFAULT 'user' CHECK (kind IN ('user', 'team'));
      CREATE TABLE team_members (
        entity_id  INTEGER NOT NULL REFERENCES entities(id) ON DELETE CASCADE,
        user_id    INTEGER NOT NULL REFERENCES users(id),
        role       TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
        added_at   INTEGER NOT NULL,
        PRIMARY KEY (entity_id, user_id)
      ) WITHOUT ROWID;
      CREATE INDEX team_members_by_user ON team_members (user_id);

      -- The key a session or login link was made with (NULL: none, e.g. one made before this
      -- column). Revoking the key deletes them: a leaked key turned into a browser session must
      -- not outlive the key.
      ALTER TABLE sessions ADD COLUMN api_key_id INTEGER REFERENCES api_keys(id) ON DELETE CASCADE;
      CREATE INDEX sessions_by_key ON sessions (api_key_id) WHERE api_key_id IS NOT NULL;

      -- The privacy a project's new runs get; an edit of the run changes it afterwards.
      ALTER TABLE projects ADD COLUMN default_privacy TEXT NOT NULL DEFAULT 'private' CHECK (default_privacy IN ('private', 'public'));
    `,
  },
  {
    version: 8,
    name: "a revision per run, for live events across servers",
    sql: `
      -- Goes up with every change a run page shows: an applied upload, an edit, a sweep, a
      -- revival. A server holding live-event streams polls it (a cheap lookup by key), so a
      -- browser connected to one server hears of uploads that another applied.
      ALTER TABLE runs ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 9,
    name: "history stored once, as column chunks",
    sql: `
      -- The column chunks become history's one copy for runs created from here on
      -- (runs.history_chunks = 2): no wide row per step is written for them. A chunk now also
      -- holds its key's values that are not numbers (history-chunks.ts): extra, msgpack
      -- [offset, value, ...], NULL when there are none; a key that never holds a number gets a
      -- chunk too. Runs from before keep their wide rows, read as before (history_chunks 0 or 1).
      ALTER TABLE history_chunks ADD COLUMN extra BLOB;

      -- One row per history record of such a run (history-rows.ts): its step count, its step
      -- range (a read by step skips whole records) and its keys in order (JSON), which name the
      -- chunks to read back a row. Keyed like the chunks, so a resent record replaces it.
      CREATE TABLE history_records (
        run_pk     INTEGER NOT NULL,
        first_seq  INTEGER NOT NULL,
        n          INTEGER NOT NULL,
        min_step   REAL NOT NULL,
        max_step   REAL NOT NULL,
        keys       TEXT NOT NULL,
        PRIMARY KEY (run_pk, first_seq)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 10,
    name: "runs table sorted by config and summary values through an index",
    sql: `
      -- The config and summary paths a project's runs table has been sorted by
      -- (sqlite-sort-values.ts); path is json_extract's, as the runs query builds it.
      CREATE TABLE run_sort_paths (
        id          INTEGER PRIMARY KEY,
        project_id  INTEGER NOT NULL REFERENCES projects(id),
        source      TEXT NOT NULL CHECK (source IN ('config', 'summary')),
        path        TEXT NOT NULL,
        UNIQUE (project_id, source, path)
      );

      -- Each run's value at each such path (NULL: none), in SQLite's order by the index.
      CREATE TABLE run_sort_values (
        path_id  INTEGER NOT NULL,
        run_pk   INTEGER NOT NULL,
        value,
        PRIMARY KEY (path_id, run_pk)
      ) WITHOUT ROWID;
      CREATE INDEX run_sort_values_by_value ON run_sort_values (path_id, value, run_pk);

      -- Kept current here rather than in ingest: one lookup of the project's few paths per write.
      CREATE TRIGGER runs_sort_values_insert AFTER INSERT ON runs BEGIN
        INSERT OR REPLACE INTO run_sort_values (path_id, run_pk, value)
          SELECT id, NEW.pk, json_extract(CASE source WHEN 'config' THEN NEW.config ELSE NEW.summary END, path)
          FROM run_sort_paths WHERE project_id = NEW.project_id;
      END;
      CREATE TRIGGER runs_sort_values_update AFTER UPDATE OF config, summary ON runs BEGIN
        INSERT OR REPLACE INTO run_sort_values (path_id, run_pk, value)
          SELECT id, NEW.pk, json_extract(CASE source WHEN 'config' THEN NEW.config ELSE NEW.summary END, path)
          FROM run_sort_paths WHERE project_id = NEW.project_id;
      END;
      CREATE TRIGGER runs_sort_values_delete AFTER DELETE ON runs BEGIN
        DELETE FROM run_sort_values WHERE run_pk = OLD.pk AND path_id IN (SELECT id FROM run_sort_paths WHERE project_id = OLD.project_id);
      END;
    `,
  },
  {
    version: 11,
    name: "saved views of a project's workspace, per user",
    sql: `
      -- A user's named workspace states of a project (routes-views.ts); state is the web app's
      -- JSON, kept as text. The project is its name: a view may outlive the project's last run.
      CREATE TABLE saved_views (
        id          INTEGER PRIMARY KEY,
        user_id     INTEGER NOT NULL REFERENCES users(id),
        entity_id   INTEGER NOT NULL REFERENCES entities(id),
        project     TEXT NOT NULL,
        name        TEXT NOT NULL,
        state       TEXT NOT NULL,
        is_default  INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        UNIQUE (user_id, entity_id, project, name)
      );
      -- At most one default per user and project, whatever a buggy caller does.
      CREATE UNIQUE INDEX saved_views_one_default ON saved_views (user_id, entity_id, project) WHERE is_default = 1;
    `,
  },
  {
    version: 12,
    name: "server secrets kept in the database (PostgreSQL migration 5)",
    sql: `
      -- Secrets every server process on the database shares (store.ts, serverSecret): a secret
      -- held in one process's memory would make a URL it signed useless at another replica.
      CREATE TABLE server_secrets (
        name        TEXT PRIMARY KEY,
        secret      BLOB NOT NULL,
        created_at  INTEGER NOT NULL
      );
    `,
  },
  {
    version: 13,
    name: "when each run last changed, for projects' live events across servers (PostgreSQL migration 6)",
    sql: `
      -- The database's clock (ms) at a run's last revision (migration 8). A server holding a
      -- project's live-event stream asks for the project's runs changed in the last seconds
      -- (one range of this index), instead of every run's revision: a project may hold 100,000.
      ALTER TABLE runs ADD COLUMN changed_at INTEGER NOT NULL DEFAULT 0;
      CREATE INDEX runs_by_change ON runs (project_id, changed_at);
    `,
  },
  {
    version: 14,
    name: "artifacts: collections, versions, aliases and lineage (PostgreSQL migration 7)",
    sql: `
      -- A project's artifact collections (store/artifact-store.ts): a name and its one type.
      CREATE TABLE artifact_collections (
        id          INTEGER PRIMARY KEY,
        project_id  INTEGER NOT NULL REFERENCES projects(id),
        name        TEXT NOT NULL,
        type        TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        UNIQUE (project_id, name)
      );

      -- A version is its manifest's digest: the unique (collection, digest) makes logging the
      -- same manifest again answer the existing version. version is v0, v1... in the collection.
      -- size and file_count are the files' (references are not stored); metadata is JSON text.
      CREATE TABLE artifact_versions (
        id             INTEGER PRIMARY KEY,
        collection_id  INTEGER NOT NULL REFERENCES artifact_collections(id),
        version        INTEGER NOT NULL,
        digest         TEXT NOT NULL,
        size           INTEGER NOT NULL,
        file_count     INTEGER NOT NULL,
        description    TEXT,
        metadata       TEXT NOT NULL,
        created_at     INTEGER NOT NULL,
        UNIQUE (collection_id, version),
        UNIQUE (collection_id, digest)
      );

      -- A version's entries, one row each (a version may hold a million): ord is the manifest's
      -- order by path. uri NULL: a stored file (digest and size set); else a reference.
      CREATE TABLE artifact_entries (
        version_id  INTEGER NOT NULL REFERENCES artifact_versions(id),
        ord         INTEGER NOT NULL,
        path        TEXT NOT NULL,
        digest      TEXT,
        size        INTEGER,
        uri         TEXT,
        PRIMARY KEY (version_id, ord)
      ) WITHOUT ROWID;
      -- A blob download asks whether any visible version holds the digest.
      CREATE INDEX artifact_entries_by_digest ON artifact_entries (digest) WHERE uri IS NULL;

      -- User aliases, unique in a collection; logging moves one. latest is not stored: it is the
      -- newest version, so it moves by itself.
      CREATE TABLE artifact_aliases (
        collection_id  INTEGER NOT NULL REFERENCES artifact_collections(id),
        alias          TEXT NOT NULL,
        version_id     INTEGER NOT NULL REFERENCES artifact_versions(id),
        PRIMARY KEY (collection_id, alias)
      );
      CREATE INDEX artifact_aliases_by_version ON artifact_aliases (version_id);

      -- Lineage: the runs that logged a version and the runs that used one, once each; id orders
      -- them by first logged (used), which a timestamp could not (two in the same ms).
      CREATE TABLE artifact_outputs (
        id          INTEGER PRIMARY KEY,
        version_id  INTEGER NOT NULL REFERENCES artifact_versions(id),
        run_pk      INTEGER NOT NULL REFERENCES runs(pk),
        logged_at   INTEGER NOT NULL,
        UNIQUE (version_id, run_pk)
      );
      CREATE INDEX artifact_outputs_by_run ON artifact_outputs (run_pk, id);
      CREATE TABLE artifact_inputs (
        id          INTEGER PRIMARY KEY,
        version_id  INTEGER NOT NULL REFERENCES artifact_versions(id),
        run_pk      INTEGER NOT NULL REFERENCES runs(pk),
        used_at     INTEGER NOT NULL,
        UNIQUE (version_id, run_pk)
      );
      CREATE INDEX artifact_inputs_by_run ON artifact_inputs (run_pk, id);
    `,
  },
  {
    version: 15,
    name: "media: each run's media values by key and step, and the blobs they reference (PostgreSQL migration 8)",
    sql: `
      -- One row per (run, key, step): the newest record of a step (by seq) wins (sqlite-media.ts).
      -- value is the MediaValue as JSON text; type is beside it for the key list.
      CREATE TABLE media_values (
        run_pk  INTEGER NOT NULL REFERENCES runs(pk),
        key     TEXT NOT NULL,
        step    INTEGER NOT NULL,
        seq     INTEGER NOT NULL,
        type    TEXT NOT NULL,
        value   TEXT NOT NULL,
        PRIMARY KEY (run_pk, key, step)
      ) WITHOUT ROWID;

      -- The blob digests a run's media has referenced (once each, kept when a step is relogged):
      -- a blob download by a non-member asks whether a public run of the project holds one.
      CREATE TABLE media_blobs (
        digest  TEXT NOT NULL,
        run_pk  INTEGER NOT NULL REFERENCES runs(pk),
        PRIMARY KEY (digest, run_pk)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 16,
    name: "W&B resume asks kept in the database (PostgreSQL migration 9), public runs by project",
    sql: `
      -- A W&B client's RunResumeStatus lets the UpsertBucket that follows reopen the run if it
      -- ended (wandb/wandb-runs.ts). Kept here rather than in the asking server's memory: behind a
      -- load balancer the upsert may reach another replica. Short-lived (used up by the run's next
      -- upsert, expired after minutes), so \`trackside db copy\` leaves it behind (copy-schema.ts).
      CREATE TABLE wandb_resume_asks (
        run_pk    INTEGER PRIMARY KEY REFERENCES runs(pk) ON DELETE CASCADE,
        asked_at  INTEGER NOT NULL
      );

      -- Whether a project has a public run (getProject, asked by every project page's access
      -- check) without a scan of the project's runs, as PostgreSQL's migration 3 has it: that
      -- EXISTS read every run of a private project (39 ms of 100,000).
      CREATE INDEX runs_public_by_project ON runs (project_id, created_at) WHERE privacy = 'public';
    `,
  },
];

/**
 * Brings the database up to the newest schema; returns the versions it applied.
 *
 * @example
 * const applied = migrate(db); // [1] on a new file, [] afterwards
 */
export function migrate(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    applied_at  INTEGER NOT NULL
  )`);
  const done = new Set(
    (db.prepare("SELECT version FROM schema_migrations").all() as { version: number }[]).map((r) => r.version),
  );
  const newest = Math.max(0, ...migrations.map((m) => m.version));
  const ahead = [...done].filter((v) => v > newest);
  if (ahead.length > 0) {
    // A newer trackside wrote this file; running old code on it could corrupt it.
    throw new Error(`The database schema is at version ${Math.max(...ahead)}, newer than this trackside knows (${newest}). Upgrade trackside.`);
  }
  const record = db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)");
  const applied: number[] = [];
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (done.has(m.version)) continue;
    // Each migration and its bookkeeping row commit together, or not at all.
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.name, Date.now());
    }).immediate();
    applied.push(m.version);
  }
  return applied;
}
