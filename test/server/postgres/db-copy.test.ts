/**
 * `trackside db copy` (issue 15, point 6): a SQLite server with two users, a team, runs with
 * history, console output, system metrics, a refused report, a record of an unknown kind, a
 * login link and artifacts (versions, files, aliases, lineage: issue 18), copied into PostgreSQL, answers every API question the same there, and its keys
 * and links work there, and signs W&B upload URLs with the same secret (a W&B resume ask, good
 * for minutes, stays behind). An interrupted copy run again completes; a copy run again on a finished
 * target changes nothing; a target holding other data is refused with a coded error naming the
 * table.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import type { Sql } from "postgres";
import { manifestDigest } from "../../../src/protocol/artifact-digest.js";
import type { ArtifactManifest } from "../../../src/protocol/artifacts.js";
import type { ImageRef } from "../../../src/protocol/media.js";
import type { RunRecord } from "../../../src/protocol/records.js";
import type { Store } from "../../../src/server/store/store.js";
import { FilesystemBlobStore } from "../../../src/server/blobs/filesystem-blob-store.js";
import { buildApp, copySqliteToPostgres, migrate, MIGRATIONS, PostgresStore, type CopyResult } from "../../../src/server/index.js";
import { UPLOAD_SECRET_NAME } from "../../../src/server/wandb/upload-token.js";
import { CLI, makeEnv as makeProcessEnv, start } from "../../helpers/processes.js";
import { postgresOrSkip, startPostgres, type PostgresCluster } from "../../helpers/postgres.js";
import { BASE_URL, get, makeEnv, msgpackBody, postRecords, rows, runInfo, T0, type TestEnv } from "../helpers.js";

const bin = postgresOrSkip();

/** What the source server answers, asked again of the copy: [url, key name]. */
const QUESTIONS: [string, "alice" | "bob"][] = [
  ["/api/v1/runs/alice/mnist", "alice"],
  // A sort by a summary value fills SQLite's sort index (its migration 10), which is not copied:
  // PostgreSQL builds its own on the first such page.
  ["/api/v1/runs/alice/mnist?sort=-summary.best", "alice"],
  ["/api/v1/runs/alice/mnist/r1", "alice"],
  ["/api/v1/runs/alice/mnist/r1/history", "alice"],
  ["/api/v1/runs/alice/mnist/r1/history?keys=loss,phase&minStep=10", "alice"],
  ["/api/v1/runs/alice/mnist/r1/history/buckets?key=loss&buckets=10", "alice"],
  ["/api/v1/runs/alice/mnist/r1/console", "alice"],
  ["/api/v1/runs/alice/mnist/r1/system", "alice"],
  ["/api/v1/runs/alice/mnist/r2", "alice"],
  ["/api/v1/runs/alice/mnist/r2/history", "alice"],
  ["/api/v1/runs/alice/mnist/r2/media", "alice"],
  ["/api/v1/runs/alice/mnist/r2/media/values?key=w", "alice"],
  ["/api/v1/runs/alice/mnist/r2/media/values?key=preds", "alice"],
  ["/api/v1/runs/lab/cifar", "bob"],
  ["/api/v1/runs/lab/cifar/r3/history/buckets?key=acc&buckets=5", "bob"],
  ["/api/v1/teams/lab", "bob"],
  ["/api/v1/users", "alice"],
  ["/api/v1/keys", "bob"],
  ["/api/v1/views/alice/mnist", "alice"],
  ["/api/v1/viewer/projects", "alice"],
];

async function post(env: TestEnv, path: string, records: RunRecord[], key: string): Promise<void> {
  const res = await postRecords(env, path, msgpackBody(records), key);
  expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
}

const sha = (text: string) => createHash("sha256").update(text).digest("hex");
const dataset = (paths: string[]): ArtifactManifest => ({
  name: "data",
  type: "dataset",
  description: "two files",
  metadata: { rows: 2, split: { train: 0.8 } },
  files: paths.map((path) => ({ path, digest: sha(path), size: path.length })),
  references: [{ path: "ext/raw.csv", uri: "s3://bucket/raw.csv", digest: null, size: null }],
});

/** Artifacts through the store (their HTTP routes are not the copy's business): two versions, an alias, a use, another entity's model. */
async function logArtifacts(store: Store): Promise<void> {
  const [alice, lab] = [(await store.getEntity("alice"))!, (await store.getEntity("lab"))!];
  const [r1, r2, r3] = [(await store.getRun("alice", "mnist", "r1"))!, (await store.getRun("alice", "mnist", "r2"))!, (await store.getRun("lab", "cifar", "r3"))!];
  const mnist = { entityId: alice.id, project: "mnist" };
  const v0 = await store.logArtifactVersion(mnist, r1.pk, dataset(["a.txt", "b.txt"]), manifestDigest(dataset(["a.txt", "b.txt"])), ["best"], T0);
  await store.logArtifactVersion(mnist, r2.pk, dataset(["a.txt", "c.txt"]), manifestDigest(dataset(["a.txt", "c.txt"])), [], T0 + 1);
  await store.useArtifactVersion(v0.id, r2.pk, T0 + 2);
  const model = { ...dataset(["weights.bin"]), name: "net", type: "model", references: [] };
  await store.logArtifactVersion({ entityId: lab.id, project: "cifar" }, r3.pk, model, manifestDigest(model), ["prod"], T0 + 3);
}

/** What the store answers about the artifacts logArtifacts made: equal answers, equal artifacts. */
async function artifactAnswers(store: Store): Promise<unknown> {
  const out: unknown[] = [];
  for (const [entity, project, name, runId] of [["alice", "mnist", "data", "r2"], ["lab", "cifar", "net", "r3"]]) {
    const scope = { entityId: (await store.getEntity(entity))!.id, project };
    const versions = (await store.listArtifactVersions(scope, name, false))!;
    out.push(await store.listArtifactCollections(scope, null, false), versions);
    for (const v of versions) out.push(await store.artifactEntries(v.id), await store.artifactLineage(v.id));
    out.push(await store.runArtifacts((await store.getRun(entity, project, runId))!.pk));
  }
  return out;
}

/** The source: a SQLite server filled through its HTTP API. */
async function fillSource(env: TestEnv): Promise<string> {
  // alice is the site admin, as the first user of a real server is.
  await env.store.updateUser((await env.store.getUserByName("alice"))!.id, { admin: true });
  const as = (key: string) => ({ authorization: `Bearer ${key}`, "content-type": "application/json" });
  expect((await env.app.inject({ method: "POST", url: "/api/v1/teams", headers: as(env.aliceKey), payload: { name: "lab" } })).statusCode).toBe(200);
  const member = await env.app.inject({ method: "PUT", url: "/api/v1/teams/lab/members/bob", headers: as(env.aliceKey), payload: { role: "member" } });
  expect(member.statusCode, member.body).toBe(200);

  const history = rows(0, 30).map((r, i) => ({ ...r, phase: i % 2 ? "train" : "eval", ...(i === 5 ? { loss: NaN } : {}) }));
  await post(env, "alice/mnist/r1", [
    { k: "run", seq: 0, run: runInfo("r1", { tags: ["baseline"], config: { lr: 0.001, layers: [64, 32] } }) },
    { k: "history", seq: 1, rows: history.slice(0, 20) },
    { k: "console", seq: 21, lines: [{ at: T0 + 1, stream: "stdout", text: "epoch 1" }, { at: T0 + 2, stream: "stderr", text: "warning: slow" }] },
    { k: "system", seq: 0, at: T0 + 1000, values: { cpu: 12.5, "gpu.0.util": 97 } },
    { k: "system", seq: 0, at: T0 + 2000, values: { cpu: 40 } },
  ], env.aliceKey);
  await post(env, "alice/mnist/r1", [
    { k: "history", seq: 23, rows: history.slice(20) },
    { k: "summary", seq: 33, summary: { best: 0.5 } },
    { k: "refused", seq: 0, at: T0 + 3000, records: 4, bytes: 512, error: "TRK_ERR_BAD_VALUE: nope" },
    { k: "gpu-topology", seq: 0, at: T0 + 4000, links: [{ from: 0, to: 1 }] } as unknown as RunRecord,
    { k: "exit", seq: 34, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: T0 + 60_000 },
  ], env.aliceKey);
  await post(env, "alice/mnist/r2", [{ k: "run", seq: 0, run: runInfo("r2", { name: "second" }) }, { k: "history", seq: 1, rows: rows(0, 3) }], env.aliceKey);
  // Media (issue 19): a histogram over two steps, a table, and images whose blobs the run references.
  const image = (name: string): ImageRef => ({ type: "image", digest: sha(name), size: 4, format: "png", width: 1, height: 1, caption: name });
  await post(env, "alice/mnist/r2", [
    { k: "media", seq: 4, step: 0, key: "w", value: { type: "histogram", bins: [0, 1, 2], counts: [1, 2] } },
    { k: "media", seq: 5, step: 1, key: "w", value: { type: "histogram", bins: [-1, 0], counts: [7] } },
    { k: "media", seq: 6, step: 1, key: "preds", value: { type: "table", columns: ["label", "p"], rows: [["cat", 0.9], ["dog", null]] } },
    { k: "media", seq: 7, step: 1, key: "samples", value: { type: "images", items: [image("m1.png"), image("m2.png")] } },
  ], env.aliceKey);
  await post(env, "lab/cifar/r3", [
    { k: "run", seq: 0, run: runInfo("r3", { entity: "lab", project: "cifar" }) },
    { k: "history", seq: 1, rows: rows(0, 10, { acc: 0.5 }) },
  ], env.bobKey);
  const view = { name: "losses", state: { panels: [{ keys: ["loss"] }], runs: ["r1", "r2"] }, isDefault: true };
  expect((await env.app.inject({ method: "POST", url: "/api/v1/views/alice/mnist", headers: as(env.aliceKey), payload: view })).statusCode).toBe(201);
  const link = await env.app.inject({ method: "POST", url: "/api/v1/auth/login-links", headers: { authorization: `Bearer ${env.aliceKey}` } });
  expect(link.statusCode).toBe(200);
  // The secret of W&B's upload URLs (made at the first CreateRunFiles).
  await env.store.serverSecret(UPLOAD_SECRET_NAME);
  // A W&B resume asked (RunResumeStatus) and not yet used: good for minutes, so not copied.
  await env.store.addResumeAsk((await env.store.getRun("alice", "mnist", "r1"))!.pk, T0, T0 - 1);
  await logArtifacts(env.store);
  return new URL((link.json() as { url: string }).url).searchParams.get("token")!;
}

/** Every copied table's rows, as one text per table: equal texts, equal tables. */
async function digest(sql: Sql): Promise<Record<string, string>> {
  const tables = await sql<{ t: string }[]>`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = current_schema() AND table_name <> 'schema_migrations' ORDER BY 1`;
  const out: Record<string, string> = {};
  for (const { t } of tables) {
    const [row] = await sql.unsafe<{ d: string | null; n: number }[]>(`SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) AS d, count(*)::bigint AS n FROM "${t}" x`);
    out[t] = `${row.n}:${row.d ?? ""}`;
  }
  return out;
}

const counts = (r: CopyResult) => Object.fromEntries(r.tables.map((t) => [t.table, t.rows]));

describe.skipIf(bin === null)("trackside db copy (SQLite -> PostgreSQL)", () => {
  let pg: PostgresCluster;
  let source: TestEnv;
  let linkToken: string;
  let uploadSecret: Buffer;
  let artifacts: unknown;
  const expected = new Map<string, unknown>();
  const opened: { close(): Promise<unknown> }[] = [];

  beforeAll(async () => {
    // With a blob store: history and media answers give each image's URL.
    [pg, source] = await Promise.all([startPostgres(bin as string), makeEnv({ blobs: true })]);
    linkToken = await fillSource(source);
    uploadSecret = await source.store.serverSecret(UPLOAD_SECRET_NAME);
    artifacts = await artifactAnswers(source.store);
    const keys = { alice: source.aliceKey, bob: source.bobKey };
    for (const [url, who] of QUESTIONS) {
      const res = await get(source, url, keys[who]);
      expect(res.statusCode, `${url}: ${res.body}`).toBe(200);
      expected.set(url, res.json());
    }
    // The server is stopped before the copy, as docs/configuration.md asks.
    await source.app.close();
    await source.store.close();
  });
  afterAll(async () => {
    for (const o of opened.reverse()) await o.close();
    await pg?.stop();
    await source?.close().catch(() => undefined);
  });

  async function target(url: string): Promise<{ store: PostgresStore; app: FastifyInstance }> {
    const store = await PostgresStore.open(url);
    const blobs = new FilesystemBlobStore(join(source.dir, "artifacts"));
    const app = buildApp({ store, blobs, publicBaseUrl: BASE_URL, now: () => source.clock.now });
    opened.push(store, blobs, app);
    return { store, app };
  }

  it("copies through the CLI, and a server on PostgreSQL answers as the SQLite one did, with the same keys and login link", async () => {
    const t = makeProcessEnv();
    const url = pg.url.replace("postgres@", "postgres:pw-hidden@"); // trust auth: only hidden
    const copied = await start([CLI, "db", "copy", "--from", source.dir, "--to", url], t.env).exited;
    expect(copied.code, copied.stderr).toBe(0);
    expect(copied.stdout).toMatch(/^users\s+2\s+2$/m);
    expect(copied.stdout).toMatch(/^console_lines\s+2\s+2$/m);
    expect(copied.stdout).toMatch(/^saved_views\s+1\s+1$/m);
    expect(copied.stdout).toMatch(/^artifact_versions\s+3\s+3$/m);
    expect(copied.stdout).toMatch(/^artifact_entries\s+7\s+7$/m);
    expect(copied.stdout).toMatch(/^media_values\s+4\s+4$/m);
    expect(copied.stdout).toMatch(/^media_blobs\s+2\s+2$/m);
    expect(copied.stdout).toMatch(/every count verified/);
    expect(copied.stdout).not.toContain("wandb_resume_asks");
    expect(copied.stderr).toMatch(/copied history_chunks: \d+ rows/); // progress, a line per table off a terminal
    expect(copied.stdout + copied.stderr).not.toContain("pw-hidden");
    // Run again: it finds its own rows there, checks them, and writes none.
    const again = await start([CLI, "db", "copy", "--from", source.dir], { ...t.env, TRACKSIDE_DATABASE_URL: url }).exited;
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/checked users: 2 rows already in the target/);
    expect(again.stdout).toMatch(/^users\s+2\s+0$/m);
    expect(again.stdout).toMatch(/^history\s+\d+\s+0$/m);

    const { app, store } = await target(pg.url);
    expect(await artifactAnswers(store)).toEqual(artifacts);
    // A media blob's download rule holds on the copy: run r2 references it.
    expect(await store.blobInVisibleMedia({ entityId: (await store.getEntity("alice"))!.id, project: "mnist" }, sha("m1.png"), false)).toBe(true);
    // Upload URLs a W&B client got from the SQLite server are good on PostgreSQL's.
    expect((await store.serverSecret(UPLOAD_SECRET_NAME)).equals(uploadSecret)).toBe(true);
    // A resume asked of the SQLite server is not: the client asks again when it resumes.
    expect(await store.takeResumeAsk((await store.getRun("alice", "mnist", "r1"))!.pk, T0 - 1)).toBe(false);
    const keys = { alice: source.aliceKey, bob: source.bobKey };
    for (const [url, who] of QUESTIONS) {
      const res = await app.inject({ method: "GET", url, headers: { authorization: `Bearer ${keys[who]}` } });
      expect(res.statusCode, `${url}: ${res.body}`).toBe(200);
      expect(res.json(), url).toEqual(expected.get(url));
    }
    // The login link minted on SQLite signs in on PostgreSQL.
    const signedIn = await app.inject({ method: "GET", url: `/auth/link?token=${linkToken}`, headers: { "sec-fetch-site": "none" } });
    const cookie = String(signedIn.headers["set-cookie"]).split(";")[0];
    expect(cookie).toMatch(/=/);
    const viewer = await app.inject({ method: "GET", url: "/api/v1/viewer", headers: { cookie } });
    expect(viewer.statusCode).toBe(200);
    expect(viewer.json()).toMatchObject({ user: "alice" });
    // Ids made after the copy come after the copied ones (the sequences were moved past them).
    const made = await app.inject({ method: "POST", url: "/api/v1/users", headers: { authorization: `Bearer ${source.aliceKey}` }, payload: { name: "carol" } });
    expect(made.statusCode, made.body).toBe(200);
    const run = await app.inject({
      method: "POST",
      url: "/api/v1/runs/alice/mnist/r4/records",
      headers: { authorization: `Bearer ${source.aliceKey}`, "content-type": "application/json" },
      payload: JSON.stringify([{ k: "run", seq: 0, run: runInfo("r4") }]),
    });
    expect(run.statusCode, run.body).toBe(200);
    // ... artifacts' too: a new version of a copied collection, logged on PostgreSQL.
    const r4 = (await store.getRun("alice", "mnist", "r4"))!;
    const scope = { entityId: (await store.getEntity("alice"))!.id, project: "mnist" };
    const v2 = await store.logArtifactVersion(scope, r4.pk, dataset(["d.txt"]), manifestDigest(dataset(["d.txt"])), ["best"], T0 + 9);
    expect([v2.version, v2.aliases]).toEqual([2, ["best", "latest"]]);
    await store.useArtifactVersion(v2.id, r4.pk, T0 + 10);
    expect((await store.artifactLineage(v2.id)).usedBy.map((r) => r.id)).toEqual(["r4"]);
  });

  it("completes an interrupted copy when run again, and a further copy changes nothing", async () => {
    const url = await pg.createDatabase("interrupted");
    const interrupt = new Error("interrupted");
    // Interrupted in the middle of a table: its first batches are in, the rest are not.
    await expect(
      copySqliteToPostgres({
        from: source.dir,
        to: url,
        batchRows: 7,
        onProgress: (p) => {
          if (p.table === "history_chunks" && p.tableDone >= 14) throw interrupt;
        },
      }),
    ).rejects.toBe(interrupt);
    const { store } = await target(url);
    const [{ n: partial }] = await store.sql<{ n: number }[]>`SELECT count(*)::bigint AS n FROM history_chunks`;
    expect(partial).toBe(14);

    const resumed = await copySqliteToPostgres({ from: source.dir, to: url, batchRows: 7 });
    const chunks = resumed.tables.find((t) => t.table === "history_chunks")!;
    expect(chunks.inserted).toBe(chunks.rows - 14);
    expect(resumed.tables.find((t) => t.table === "users")).toEqual({ table: "users", rows: 2, inserted: 0 });
    const before = await digest(store.sql);
    expect(before.console_lines).toMatch(/^2:/);

    const again = await copySqliteToPostgres({ from: source.dir, to: url });
    expect(counts(again)).toEqual(counts(resumed));
    expect(again.tables.every((t) => t.inserted === 0)).toBe(true);
    expect(await digest(store.sql)).toEqual(before);

    // A row the source does not have: refused before anything is written, naming the table.
    await store.sql`INSERT INTO console_lines (run_pk, seq, at, stream, text) VALUES (1, 999, ${T0}, 'stdout', 'not from SQLite')`;
    const withExtra = await digest(store.sql);
    await expect(copySqliteToPostgres({ from: source.dir, to: url })).rejects.toMatchObject({
      code: "TRK_ERR_COPY_MISMATCH",
      message: expect.stringMatching(/table console_lines: the row \(run_pk=1, seq=999\) is in PostgreSQL but not in SQLite/),
    });
    expect(await digest(store.sql)).toEqual(withExtra);
  });

  it("refuses a target holding other data under the same ids, naming the table, and mixes nothing in", async () => {
    const url = await pg.createDatabase("other");
    const { store } = await target(url);
    await store.createUser("carol", T0); // id 1, which the source's alice has
    await expect(copySqliteToPostgres({ from: source.dir, to: url })).rejects.toMatchObject({
      code: "TRK_ERR_COPY_MISMATCH",
      message: expect.stringMatching(/table users: the row \(id=1\) is already there with another name/),
    });
    expect((await store.listUsers()).map((u) => u.name)).toEqual(["carol"]);
    const [{ n }] = await store.sql<{ n: number }[]>`SELECT count(*)::bigint AS n FROM runs`;
    expect(n).toBe(0);

    // The difference in a table copied late (console lines come after users, runs, history):
    // found before the first write, so not one user or run of the source is mixed in.
    const late = await pg.createDatabase("late");
    const other = await target(late);
    await other.store.sql`INSERT INTO console_lines (run_pk, seq, at, stream, text) VALUES (1, 21, ${T0 + 1}, 'stdout', 'epoch 1 of another server')`;
    await expect(copySqliteToPostgres({ from: source.dir, to: late })).rejects.toMatchObject({
      code: "TRK_ERR_COPY_MISMATCH",
      message: expect.stringMatching(/table console_lines: the row \(run_pk=1, seq=21\) is already there with another text/),
    });
    const [{ users }] = await other.store.sql<{ users: number }[]>`SELECT count(*)::bigint AS users FROM users`;
    expect(users).toBe(0);
  });

  it("refuses a directory without a server database, or with one of an older schema, with a coded error naming it", async () => {
    const t = makeProcessEnv();
    const res = await start([CLI, "db", "copy", "--from", t.home, "--to", pg.url], t.env).exited;
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/TRK_ERR_INVALID_OPTION: Invalid option --from=.*trackside\.db/);
    // A database an older trackside wrote: the server of this version migrates it first.
    const old = new Database(join(t.home, "trackside.db"));
    migrate(old, MIGRATIONS.slice(0, -1));
    old.close();
    await expect(copySqliteToPostgres({ from: t.home, to: pg.url })).rejects.toMatchObject({
      code: "TRK_ERR_INVALID_OPTION",
      message: expect.stringMatching(/it is at \d+\): start `trackside server --data-dir .*` of this version once/),
    });
  });
});
