/**
 * Shared set-up for the server tests: a fresh temp dir with a real SQLite file per test, an app
 * driven through inject(), a fake clock, and two users (alice, bob) with their API keys.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { encodeRecords } from "../../src/protocol/codec.js";
import { RECORDS_CONTENT_TYPE } from "../../src/protocol/api.js";
import type { HistoryRow, RunInfo, RunRecord } from "../../src/protocol/records.js";
import { buildApp, encodeHistoryRow, mintApiKey, SqliteStore } from "../../src/server/index.js";
import type { Store } from "../../src/server/store/store.js";
import type { BlobStore } from "../../src/server/blobs/blob-store.js";
import { FilesystemBlobStore } from "../../src/server/blobs/filesystem-blob-store.js";

export const BASE_URL = "http://trackside.test";
export const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);

export interface TestEnv {
  dir: string;
  store: SqliteStore;
  app: FastifyInstance;
  clock: { now: number };
  aliceKey: string;
  bobKey: string;
  close(): Promise<void>;
}

/** An app on `store` driven by a fake clock at T0, with users alice and bob and a key each. */
export async function appWithUsers(store: Store, blobs?: BlobStore): Promise<{ app: FastifyInstance; clock: { now: number }; aliceKey: string; bobKey: string }> {
  const clock = { now: T0 };
  const app = buildApp({ store, blobs, publicBaseUrl: BASE_URL, now: () => clock.now });
  const keyFor = async (name: string) => {
    const user = await store.createUser(name, clock.now);
    const key = mintApiKey();
    await store.addApiKey(user.id, key.hash, key.prefix, clock.now);
    return key.key;
  };
  return { app, clock, aliceKey: await keyFor("alice"), bobKey: await keyFor("bob") };
}

/** A SQLite store and an app with alice and bob; with `blobs`, a filesystem blob store in the same directory (media URLs, artifacts). */
export async function makeEnv(opts: { blobs?: boolean } = {}): Promise<TestEnv> {
  const dir = mkdtempSync(join(tmpdir(), "trackside-server-test-"));
  const store = SqliteStore.open(join(dir, "trackside.db"));
  const blobs = opts.blobs ? new FilesystemBlobStore(join(dir, "artifacts")) : undefined;
  const { app, clock, aliceKey, bobKey } = await appWithUsers(store, blobs);
  return {
    dir,
    store,
    app,
    clock,
    aliceKey,
    bobKey,
    async close() {
      await app.close();
      await store.close();
      await blobs?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function runInfo(id: string, over: Partial<RunInfo> = {}): RunInfo {
  return {
    id,
    entity: "alice",
    project: "mnist",
    name: "likely-lion-9",
    notes: null,
    tags: [],
    group: null,
    jobType: null,
    config: { lr: 0.001 },
    createdAt: T0,
    program: {
      executable: "/usr/bin/node",
      args: ["train.js", "--epochs", "3"],
      cwd: "/home/alice/proj",
      pid: 4242,
      host: "gpu-box-1",
      nodeVersion: "v20.11.0",
      os: "linux 6.1.0 x64",
      tracksideVersion: "0.1.0",
    },
    ...over,
  };
}

export function rows(fromStep: number, count: number, extra: Record<string, number> = {}): HistoryRow[] {
  return Array.from({ length: count }, (_, i) => ({
    _step: fromStep + i,
    _timestamp: T0 + (fromStep + i) * 1000,
    _runtime: fromStep + i,
    loss: 1 / (fromStep + i + 1),
    ...extra,
  }));
}

/** A msgpack upload body: each batch encoded on its own and concatenated, as the daemon sends. */
export function msgpackBody(...batches: RunRecord[][]): Buffer {
  return Buffer.concat(batches.map((b) => encodeRecords(b)));
}

export function postRecords(
  env: TestEnv,
  path: string,
  body: Buffer | RunRecord[] | string,
  key: string | null = env.aliceKey,
): Promise<LightMyRequestResponse> {
  const isMsgpack = Buffer.isBuffer(body);
  return env.app.inject({
    method: "POST",
    url: `/api/v1/runs/${path}/records`,
    headers: {
      "content-type": isMsgpack ? RECORDS_CONTENT_TYPE : "application/json",
      ...(key ? { authorization: `Bearer ${key}` } : {}),
    },
    payload: isMsgpack ? body : typeof body === "string" ? body : JSON.stringify(body),
  });
}

export function get(env: TestEnv, url: string, key: string | null = env.aliceKey, headers: Record<string, string> = {}) {
  return env.app.inject({ method: "GET", url, headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers } });
}

/** The error code of an error reply. */
export function codeOf(res: LightMyRequestResponse): string {
  return (res.json() as { error: { code: string } }).error.code;
}

/** Metadata as the daemon's probe sends it (daemon/metadata-probe.ts), for pages and the CLI. */
export const PROBED_METADATA = {
  host: "gpu-box-1",
  os: { platform: "linux", release: "6.1.0", distro: "Ubuntu 22.04", arch: "x64" },
  node: "v20.11.0",
  program: { executable: "/usr/bin/node", args: ["train.js", "--epochs", "3"], cwd: "/home/alice/proj" },
  git: { remote: "git@github.com:alice/mnist.git", branch: "main", commit: "3f2a9c1e", dirty: true },
  cpu: { model: "AMD EPYC 7763", physicalCores: 16, logicalCores: 32 },
  memory: { totalMB: 65536 },
  disk: { path: "/home", totalGB: 500, usedGB: 120.5 },
  gpus: [
    { name: "NVIDIA H100 80GB HBM3", memoryMB: 81559, driver: "550.54", cuda: "12.4" },
    { name: "NVIDIA H100 80GB HBM3", memoryMB: 81559, driver: "550.54", cuda: "12.4" },
  ],
  container: "docker",
  slurm: { job_id: "1234", partition: "gpu" },
  ci: null,
  user: "alice",
  tracksideVersion: "0.1.0",
};

/**
 * Turns a run into one from before migration 9, as an old database holds it: its history as wide
 * rows (one msgpack blob per step, table `history`), read from nothing else, with no record
 * index. Its chunks stay: runs from migrations 5 to 8 (history_chunks = 1) had both.
 */
export async function makeLegacyRun(store: SqliteStore, runPk: number, layout: 0 | 1 = 0): Promise<void> {
  const db = store.db;
  const records = db.prepare("SELECT first_seq, n FROM history_records WHERE run_pk = ? ORDER BY first_seq").all(runPk) as { first_seq: number; n: number }[];
  const stored = await store.readHistory(runPk, { limit: Number.MAX_SAFE_INTEGER });
  const insert = db.prepare("INSERT INTO history (run_pk, seq, step, ts, data) VALUES (?, ?, ?, ?, ?)");
  let i = 0;
  for (const r of records) {
    for (let o = 0; o < r.n; o++, i++) insert.run(runPk, r.first_seq + o, stored[i]._step, stored[i]._timestamp, encodeHistoryRow(stored[i]));
  }
  db.prepare("DELETE FROM history_records WHERE run_pk = ?").run(runPk);
  db.prepare("UPDATE runs SET history_chunks = ? WHERE pk = ?").run(layout, runPk);
}
