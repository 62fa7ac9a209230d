import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SqliteStore } from "../../src/server/index.js";
import { WalCheckpointer } from "../../src/server/sqlite/wal-checkpointer.js";
import { runInfo, T0 } from "./helpers.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "trackside-ckpt-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A database as SqliteStore opens it, holding one table of `mib` MiB written in one transaction. */
function bigWrite(file: string, mib: number): Database.Database {
  const db = new Database(file);
  db.pragma("page_size = 16384");
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("wal_autocheckpoint = 0"); // only the checkpointer copies pages here
  db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, data BLOB NOT NULL)");
  const insert = db.prepare("INSERT INTO t (data) VALUES (?)");
  const blob = Buffer.alloc(64 * 1024, 7);
  db.transaction(() => {
    for (let i = 0; i < mib * 16; i++) insert.run(blob);
  })();
  return db;
}

describe("WalCheckpointer", () => {
  it("copies a big WAL into the database file from its worker, and leaves the main connection's checkpoint as a safety net", async () => {
    const file = join(dir, "big.db");
    const db = bigWrite(file, 24);
    const before = statSync(file).size;
    const checkpointer = new WalCheckpointer(db, file);
    checkpointer.afterWrite();
    await checkpointer.idle();
    expect(before).toBeLessThan(1024 * 1024); // everything was still in the WAL
    expect(statSync(file).size).toBeGreaterThan(24 * 1024 * 1024);
    expect(db.pragma("wal_autocheckpoint", { simple: true })).toBe(4000);
    await checkpointer.close();
    await checkpointer.close();
    expect(db.prepare("SELECT COUNT(*) FROM t").pluck().get()).toBe(24 * 16);
    db.close();
  });

  describe("within 250 ms of a checkpoint (a fake clock)", () => {
    beforeEach(() => {
      vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    });
    afterEach(() => {
      vi.useRealTimers();
    });

    /** A database whose first checkpoint (of 12 MiB) is done, then 4 MiB more asked for at once. */
    async function secondWrite(file: string): Promise<{ db: Database.Database; checkpointer: WalCheckpointer; copied: number }> {
      const db = bigWrite(file, 12);
      const checkpointer = new WalCheckpointer(db, file);
      checkpointer.afterWrite(); // starts the worker and its first checkpoint at once
      await checkpointer.idle();
      const copied = statSync(file).size;
      const insert = db.prepare("INSERT INTO t (data) VALUES (?)");
      const blob = Buffer.alloc(64 * 1024, 9);
      db.transaction(() => {
        for (let i = 0; i < 16 * 4; i++) insert.run(blob);
      })();
      checkpointer.afterWrite();
      return { db, checkpointer, copied };
    }

    it("copies a write in the next checkpoint, which starts when the interval has passed", async () => {
      const path = join(dir, "soon.db");
      const { db, checkpointer, copied } = await secondWrite(path);
      const idled = checkpointer.idle();
      expect(vi.getTimerCount()).toBe(1); // asked for, waiting for the interval, not started
      vi.advanceTimersByTime(250);
      await idled;
      expect(statSync(path).size).toBeGreaterThanOrEqual(copied + 4 * 1024 * 1024);
      await checkpointer.close();
      expect(db.prepare("SELECT COUNT(*) FROM t").pluck().get()).toBe(16 * 16);
      db.close();
    });

    it("lets idle() go when close() comes while a checkpoint is only asked for", async () => {
      const { db, checkpointer } = await secondWrite(join(dir, "closing.db"));
      const idled = checkpointer.idle();
      await checkpointer.close();
      await idled;
      db.close();
    });
  });

  it("starts no worker for a small WAL: SQLite's own checkpoints stay as they are", async () => {
    const file = join(dir, "small.db");
    const db = bigWrite(file, 1);
    db.pragma("wal_autocheckpoint = 1000");
    const checkpointer = new WalCheckpointer(db, file);
    checkpointer.afterWrite();
    await checkpointer.idle();
    expect(statSync(file).size).toBeLessThan(1024 * 1024);
    expect(db.pragma("wal_autocheckpoint", { simple: true })).toBe(1000);
    await checkpointer.close();
    db.close();
  });

  it("lets a store that ingested a large history close and reopen with every row", async () => {
    const file = join(dir, "trackside.db");
    const store = SqliteStore.open(file);
    const alice = await store.createUser("alice", T0);
    const entity = (await store.getEntity("alice"))!;
    const target = { entityId: entity.id, project: "mnist", runId: "big00001", authorUserId: alice.id };
    await store.ingest(target, [{ k: "run", seq: 0, run: runInfo("big00001") }], T0);
    const n = 4096;
    for (let b = 0; b < 24; b++) {
      const cols = { _step: new Float64Array(n), _timestamp: new Float64Array(n), _runtime: new Float64Array(n), loss: new Float64Array(n), acc: new Float64Array(n) };
      for (let i = 0; i < n; i++) {
        const s = b * n + i;
        cols._step[i] = s;
        cols._timestamp[i] = T0 + s;
        cols._runtime[i] = s / 1000;
        cols.loss[i] = 1 / (s + 1);
        cols.acc[i] = Math.random();
      }
      await store.ingest(target, [{ k: "history", seq: 1 + b * n, n, cols }], T0);
    }
    expect(store.db.pragma("wal_autocheckpoint", { simple: true })).toBe(4000); // the worker took over
    await store.close();
    const again = SqliteStore.open(file);
    const run = (await again.getRun("alice", "mnist", "big00001"))!;
    expect(await again.countHistory(run.pk)).toBe(24 * n);
    await again.close();
  });
});
