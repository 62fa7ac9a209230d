/**
 * Server replicas started together on one empty database both find no user and both create the
 * local user: the second must take the first's user, not fail its start on the name.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { bootstrapLocalUser, SqliteStore, type Store } from "../../src/server/index.js";

const dirs: string[] = [];
const home = process.env.HOME;
afterEach(() => {
  process.env.HOME = home;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

it("takes the local user another replica created between its count and its insert", async () => {
  const dir = mkdtempSync(join(tmpdir(), "trk-boot-"));
  dirs.push(dir);
  process.env.HOME = dir; // the credentials file goes under it
  const store = SqliteStore.open(join(dir, "trackside.db"));
  try {
    const first = await bootstrapLocalUser(store, ["http://127.0.0.1:1"]);
    // The second replica counted users before the first one's insert committed.
    const racing = new Proxy(store, {
      get: (target, prop, receiver) => (prop === "countUsers" ? async () => 0 : Reflect.get(target, prop, receiver) as unknown),
    }) as Store;
    const second = await bootstrapLocalUser(racing, ["http://127.0.0.1:2"]);
    expect(second.user.id).toBe(first.user.id);
    expect(second.createdUser).toBe(false);
    expect(await store.countUsers()).toBe(1);
  } finally {
    await store.close();
  }
});
