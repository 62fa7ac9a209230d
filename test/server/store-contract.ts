/**
 * The store contract: every behaviour the tracking server relies on from its `Store`, written
 * against the interface alone (no SQL, no backend's internals), so that each backend runs the
 * same suite (DESIGN.md, "Where it scales"; CONVENTIONS.md, "Interfaces with contract suites").
 *
 * A backend's test file calls it once:
 *
 * @example
 * runStoreContract("SqliteStore", async () => {
 *   const dir = mkdtempSync(join(tmpdir(), "trackside-contract-"));
 *   const store = SqliteStore.open(join(dir, "trackside.db"));
 *   return { store, close: async () => { await store.close(); rmSync(dir, { recursive: true }); } };
 * });
 *
 * Each test gets a fresh, empty store from `makeStore` and closes it after.
 */
import { createHash } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { manifestDigest } from "../../src/protocol/artifact-digest.js";
import type { ArtifactManifest } from "../../src/protocol/artifacts.js";
import type { ImageRef, MediaValue } from "../../src/protocol/media.js";
import type { ArtifactScope, StoredArtifactVersion } from "../../src/server/store/artifact-store.js";
import type { HistoryRow, RunInfo, RunRecord } from "../../src/protocol/records.js";
import type { IngestTarget, ListRunsQuery, RunSortField, Store, StoredRun, StoredUser, ViewScope } from "../../src/server/store/store.js";
import { rows, runInfo, T0 } from "./helpers.js";

export interface ContractStore {
  store: Store;
  close(): Promise<void>;
}

const MINUTE = 60_000;

/** Expects each named field of `obj` to be a JS number (not a string or a bigint, as drivers give for bigint columns). */
function expectNumbers(obj: object, fields: string[]): void {
  for (const f of fields) {
    const v = (obj as Record<string, unknown>)[f];
    expect(typeof v, `${f} = ${String(v)} (${typeof v})`).toBe("number");
  }
}

/** Expects each named field to be a number or null. */
function expectNumbersOrNull(obj: object, fields: string[]): void {
  for (const f of fields) {
    const v = (obj as Record<string, unknown>)[f];
    if (v !== null) expect(typeof v, `${f} = ${String(v)} (${typeof v})`).toBe("number");
  }
}

const RUN_NUMBER_FIELDS = ["pk", "entityId", "createdAt", "lastSeq"];
const RUN_NULLABLE_NUMBER_FIELDS = ["exitCode", "heartbeatAt", "finishedAt", "sweeperCrashedAt"];

export function runStoreContract(name: string, makeStore: () => Promise<ContractStore>): void {
  describe(`Store contract: ${name}`, () => {
    let handle: ContractStore;
    let store: Store;
    let alice: StoredUser;
    let bob: StoredUser;

    beforeEach(async () => {
      handle = await makeStore();
      store = handle.store;
      alice = await store.createUser("alice", T0, { admin: true });
      bob = await store.createUser("bob", T0 + 1);
    });
    afterEach(async () => {
      await handle.close();
    });

    /** Where alice's runs of `project` go. */
    async function target(runId: string, project = "mnist", entity = "alice", author = alice): Promise<IngestTarget> {
      const e = (await store.getEntity(entity))!;
      return { entityId: e.id, project, runId, authorUserId: author.id };
    }

    /** Opens a run with its run record (seq 0) at `now`, and returns it. */
    async function open(runId: string, over: Partial<RunInfo> = {}, now = T0, project = "mnist"): Promise<StoredRun> {
      await store.ingest(await target(runId, project), [{ k: "run", seq: 0, run: runInfo(runId, { project, ...over }) }], now);
      return (await store.getRun("alice", project, runId))!;
    }

    async function send(runId: string, records: RunRecord[], now = T0, project = "mnist") {
      return store.ingest(await target(runId, project), records, now);
    }

    const run = async (runId: string, project = "mnist") => (await store.getRun("alice", project, runId))!;

    describe("users, keys and sessions", () => {
      it("creates users with their entities; ids and times are JS numbers; listed oldest first", async () => {
        expect(await store.countUsers()).toBe(2);
        expect(alice).toMatchObject({ name: "alice", createdAt: T0, email: null, admin: true, disabledAt: null });
        expectNumbers(alice, ["id", "createdAt"]);
        expect(await store.getUserByName("alice")).toEqual(alice);
        expect(await store.getUserByName("carol")).toBeNull();
        const carol = await store.createUser("carol", T0 + 2, { email: "carol@example.com" });
        expect(carol).toMatchObject({ email: "carol@example.com", admin: false });
        expect((await store.listUsers()).map((u) => u.name)).toEqual(["alice", "bob", "carol"]);
        expect((await store.firstUser())?.name).toBe("alice");
        const entity = (await store.getEntity("carol"))!;
        expect(entity).toMatchObject({ name: "carol", kind: "user", ownerUserId: carol.id });
        expectNumbers(entity, ["id", "ownerUserId"]);
        expect(await store.ensureEntity("carol", carol.id)).toEqual(entity);
        expect(await store.getEntity("nobody")).toBeNull();
      });

      it("refuses a name a user or a team has (TRK_ERR_CONFLICT), creating nothing", async () => {
        await store.createTeam("vision", alice.id, T0);
        await expect(store.createUser("alice", T0)).rejects.toMatchObject({ code: "TRK_ERR_CONFLICT" });
        await expect(store.createUser("vision", T0)).rejects.toMatchObject({ code: "TRK_ERR_CONFLICT" });
        expect(await store.countUsers()).toBe(2);
        expect((await store.getEntity("vision"))!.kind).toBe("team");
      });

      it("creates one user of a name when two requests race for it; the other gets TRK_ERR_CONFLICT", async () => {
        const results = await Promise.allSettled([store.createUser("carol", T0), store.createUser("carol", T0)]);
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
        expect(results.find((r) => r.status === "rejected")).toMatchObject({ reason: { code: "TRK_ERR_CONFLICT" } });
        expect((await store.listUsers()).filter((u) => u.name === "carol")).toHaveLength(1);
      });

      it("disables and enables users, and refuses to leave no enabled site admin", async () => {
        expect(await store.updateUser(bob.id, { disabledAt: T0 + 5 })).toMatchObject({ name: "bob", disabledAt: T0 + 5 });
        expect((await store.getUserByName("bob"))!.disabledAt).toBe(T0 + 5);
        await expect(store.updateUser(alice.id, { admin: false })).rejects.toMatchObject({ code: "TRK_ERR_CONFLICT" });
        await expect(store.updateUser(alice.id, { disabledAt: T0 })).rejects.toMatchObject({ code: "TRK_ERR_CONFLICT" });
        expect(await store.getUserByName("alice")).toMatchObject({ admin: true, disabledAt: null });
        await store.updateUser(bob.id, { disabledAt: null, admin: true });
        expect(await store.updateUser(alice.id, { admin: false })).toMatchObject({ admin: false });
      });

      it("finds the user of a key by its hash only; lists keys oldest first without their hashes", async () => {
        const k1 = await store.addApiKey(alice.id, "hash-1", "trk_aaaa", T0, "laptop");
        const k2 = await store.addApiKey(alice.id, "hash-2", "trk_bbbb", T0 + 1);
        expect(k1).toMatchObject({ userId: alice.id, label: "laptop", prefix: "trk_aaaa", createdAt: T0, lastUsedAt: null });
        expect(k2.label).toBeNull();
        expectNumbers(k1, ["id", "userId", "createdAt"]);
        expect((await store.userByApiKeyHash("hash-2", T0))?.name).toBe("alice");
        expect(await store.userByApiKeyHash("trk_aaaa", T0)).toBeNull();
        expect(await store.userByApiKeyHash("hash-3", T0)).toBeNull();
        const listed = await store.listApiKeys(alice.id);
        expect(listed.map((k) => k.id)).toEqual([k1.id, k2.id]);
        expect(JSON.stringify(listed)).not.toContain("hash-");
        expect(await store.listApiKeys(bob.id)).toEqual([]);
      });

      it("notes a key's last use at most once a minute", async () => {
        const key = await store.addApiKey(alice.id, "hash-1", "trk_aaaa", T0);
        const lastUsed = async () => (await store.listApiKeys(alice.id)).find((k) => k.id === key.id)!.lastUsedAt;
        await store.userByApiKeyHash("hash-1", T0 + 1000);
        expect(await lastUsed()).toBe(T0 + 1000);
        expectNumbers((await store.listApiKeys(alice.id))[0], ["lastUsedAt"]);
        await store.userByApiKeyHash("hash-1", T0 + 1000 + MINUTE - 1);
        expect(await lastUsed()).toBe(T0 + 1000);
        await store.userByApiKeyHash("hash-1", T0 + 1000 + MINUTE);
        expect(await lastUsed()).toBe(T0 + 1000 + MINUTE);
      });

      it("revokes a key of its own user only, returning its hash", async () => {
        const key = await store.addApiKey(alice.id, "hash-1", "trk_aaaa", T0);
        expect(await store.revokeApiKey(bob.id, key.id)).toBeNull();
        expect((await store.userByApiKeyHash("hash-1", T0))?.name).toBe("alice");
        expect(await store.revokeApiKey(alice.id, key.id)).toBe("hash-1");
        expect(await store.userByApiKeyHash("hash-1", T0)).toBeNull();
        expect(await store.listApiKeys(alice.id)).toEqual([]);
        expect(await store.revokeApiKey(alice.id, key.id)).toBeNull();
      });

      it("matches a disabled user by nothing (key, session, login link); enabled again, by their keys only", async () => {
        await store.addApiKey(bob.id, "bob-key", "trk_bob_", T0);
        await store.addSession("bob-session", bob.id, "session", T0 + MINUTE, T0);
        await store.addSession("bob-link", bob.id, "login_link", T0 + MINUTE, T0);
        await store.updateUser(bob.id, { disabledAt: T0 });
        expect(await store.userByApiKeyHash("bob-key", T0)).toBeNull();
        expect(await store.userBySession("bob-session", "session", T0)).toBeNull();
        expect(await store.consumeSession("bob-link", "login_link", T0)).toBeNull();
        await store.updateUser(bob.id, { disabledAt: null });
        expect((await store.userByApiKeyHash("bob-key", T0))?.name).toBe("bob");
        // Sessions and links went for good: someone else may have held one.
        expect(await store.userBySession("bob-session", "session", T0)).toBeNull();
        expect(await store.consumeSession("bob-link", "login_link", T0)).toBeNull();
      });

      it("remembers the key a session or link was made with, and revoking the key deletes them", async () => {
        const key = await store.addApiKey(bob.id, "bob-key", "trk_bob_", T0);
        const other = await store.addApiKey(bob.id, "bob-other", "trk_bob2", T0);
        expect(await store.credentialKeyId("key", "bob-key")).toBe(key.id);
        expect(await store.credentialKeyId("key", "nope")).toBeNull();
        await store.addSession("from-key", bob.id, "session", T0 + MINUTE, T0, key.id);
        await store.addSession("link-from-key", bob.id, "login_link", T0 + MINUTE, T0, key.id);
        await store.addSession("from-other", bob.id, "session", T0 + MINUTE, T0, other.id);
        await store.addSession("from-none", bob.id, "session", T0 + MINUTE, T0);
        expect(await store.credentialKeyId("session", "from-key")).toBe(key.id);
        expect(await store.credentialKeyId("session", "from-none")).toBeNull();
        expect(await store.revokeApiKey(bob.id, key.id)).toBe("bob-key");
        expect(await store.userBySession("from-key", "session", T0)).toBeNull();
        expect(await store.consumeSession("link-from-key", "login_link", T0)).toBeNull();
        expect((await store.userBySession("from-other", "session", T0))?.name).toBe("bob");
        expect((await store.userBySession("from-none", "session", T0))?.name).toBe("bob");
      });

      it("answers a session of its kind until it expires or is deleted", async () => {
        await store.addSession("s1", alice.id, "session", T0 + MINUTE, T0);
        expect((await store.userBySession("s1", "session", T0 + MINUTE - 1))?.name).toBe("alice");
        expect(await store.userBySession("s1", "login_link", T0)).toBeNull();
        expect(await store.userBySession("s1", "session", T0 + MINUTE)).toBeNull();
        expect(await store.userBySession("nope", "session", T0)).toBeNull();
        await store.addSession("s2", alice.id, "session", T0 + MINUTE, T0);
        await store.deleteSession("s2");
        expect(await store.userBySession("s2", "session", T0)).toBeNull();
      });

      it("consumes a login link once, even when two requests race for it; never an expired one", async () => {
        await store.addSession("link", alice.id, "login_link", T0 + MINUTE, T0);
        const both = await Promise.all([store.consumeSession("link", "login_link", T0), store.consumeSession("link", "login_link", T0)]);
        expect(both.filter((u) => u !== null).map((u) => u!.name)).toEqual(["alice"]);
        expect(await store.consumeSession("link", "login_link", T0)).toBeNull();
        await store.addSession("late", alice.id, "login_link", T0 + MINUTE, T0);
        expect(await store.consumeSession("late", "login_link", T0 + MINUTE)).toBeNull();
        await store.addSession("wrong-kind", alice.id, "session", T0 + MINUTE, T0);
        expect(await store.consumeSession("wrong-kind", "login_link", T0)).toBeNull();
        expect((await store.userBySession("wrong-kind", "session", T0))?.name).toBe("alice");
      });
    });

    describe("entities, teams and roles", () => {
      it("gives each user the owner role of their own entity and nothing in another's", async () => {
        const aliceEntity = (await store.getEntity("alice"))!;
        expect(await store.roleIn(aliceEntity, alice.id)).toBe("owner");
        expect(await store.roleIn(aliceEntity, bob.id)).toBeNull();
      });

      it("creates a team with its creator as admin; lists teams and members in their orders", async () => {
        const team = await store.createTeam("vision", bob.id, T0);
        expect(team).toMatchObject({ name: "vision", kind: "team", ownerUserId: bob.id });
        expectNumbers(team, ["id", "ownerUserId"]);
        await expect(store.createTeam("vision", alice.id, T0)).rejects.toMatchObject({ code: "TRK_ERR_CONFLICT" });
        await expect(store.createTeam("alice", alice.id, T0)).rejects.toMatchObject({ code: "TRK_ERR_CONFLICT" });
        const carol = await store.createUser("carol", T0);
        await store.setTeamMember(team.id, carol.id, "admin", T0 + 1);
        await store.setTeamMember(team.id, alice.id, "viewer", T0 + 2);
        expect(await store.roleIn(team, bob.id)).toBe("admin");
        expect(await store.roleIn(team, alice.id)).toBe("viewer");
        const members = await store.teamMembers(team.id);
        expect(members.map((m) => [m.user, m.role])).toEqual([
          ["bob", "admin"],
          ["carol", "admin"],
          ["alice", "viewer"],
        ]);
        expect(members[2]).toMatchObject({ userId: alice.id, addedAt: T0 + 2 });
        expectNumbers(members[0], ["userId", "addedAt"]);
        await store.createTeam("audio", alice.id, T0);
        const teams = await store.teamsOf(alice.id);
        expect(teams.map((t) => [t.team.name, t.role, t.members])).toEqual([
          ["audio", "admin", 1],
          ["vision", "viewer", 3],
        ]);
        expectNumbers(teams[1], ["members"]);
        expect((await store.entitiesOf(alice.id)).map((e) => e.name)).toEqual(["alice", "audio", "vision"]);
        expect((await store.entitiesOf(bob.id)).map((e) => e.name)).toEqual(["bob", "vision"]);
      });

      it("changes and removes members but never leaves a team without an admin", async () => {
        const team = await store.createTeam("vision", alice.id, T0);
        await expect(store.setTeamMember(team.id, alice.id, "member", T0)).rejects.toMatchObject({ code: "TRK_ERR_CONFLICT" });
        await expect(store.removeTeamMember(team.id, alice.id)).rejects.toMatchObject({ code: "TRK_ERR_CONFLICT" });
        expect(await store.roleIn(team, alice.id)).toBe("admin");
        expect(await store.removeTeamMember(team.id, bob.id)).toBe(false);
        await store.setTeamMember(team.id, bob.id, "member", T0);
        await store.setTeamMember(team.id, bob.id, "admin", T0);
        await store.setTeamMember(team.id, alice.id, "member", T0);
        expect(await store.roleIn(team, alice.id)).toBe("member");
        expect(await store.removeTeamMember(team.id, alice.id)).toBe(true);
        expect(await store.roleIn(team, alice.id)).toBeNull();
        expect((await store.teamMembers(team.id)).map((m) => m.user)).toEqual(["bob"]);
      });
    });

    describe("projects", () => {
      it("exist once they have a run or settings; new runs take the project's default privacy", async () => {
        expect(await store.getProject("alice", "mnist")).toBeNull();
        const first = await open("run00001");
        expect(first.privacy).toBe("private");
        expect(await store.getProject("alice", "mnist")).toEqual({ entity: "alice", name: "mnist", defaultPrivacy: "private", hasPublicRun: false });
        const aliceEntity = (await store.getEntity("alice"))!;
        await store.setProjectDefaultPrivacy(aliceEntity.id, "mnist", "public", T0);
        expect((await open("run00002")).privacy).toBe("public");
        expect((await run("run00001")).privacy).toBe("private"); // existing runs keep theirs
        expect(await store.getProject("alice", "mnist")).toMatchObject({ defaultPrivacy: "public", hasPublicRun: true });
        // Settings before any run create the project.
        await store.setProjectDefaultPrivacy(aliceEntity.id, "cifar", "public", T0);
        expect(await store.getProject("alice", "cifar")).toEqual({ entity: "alice", name: "cifar", defaultPrivacy: "public", hasPublicRun: false });
        expect((await open("run00003", {}, T0, "cifar")).privacy).toBe("public");
      });

      it("lists an entity's projects, newest run first, counting all runs or only public ones", async () => {
        await open("a0000001", { createdAt: T0 }, T0, "older");
        await open("b0000001", { createdAt: T0 + 10 }, T0, "newer");
        await open("b0000002", { createdAt: T0 + 20 }, T0, "newer");
        await store.patchRun((await run("b0000002", "newer")).pk, { privacy: "public" });
        const all = await store.listProjects("alice", false);
        expect(all).toEqual([
          { entity: "alice", name: "newer", runCount: 2, lastRunAt: T0 + 20 },
          { entity: "alice", name: "older", runCount: 1, lastRunAt: T0 },
        ]);
        expectNumbers(all[0], ["runCount", "lastRunAt"]);
        expect(await store.listProjects("alice", true)).toEqual([{ entity: "alice", name: "newer", runCount: 1, lastRunAt: T0 + 20 }]);
        expect(await store.listProjects("bob", false)).toEqual([]);
      });
    });

    describe("saved views", () => {
      it("keeps each user's views of a project apart, by name, with numbers for ids and times and the state as given", async () => {
        const entity = (await store.getEntity("alice"))!;
        const mine: ViewScope = { userId: alice.id, entityId: entity.id, project: "mnist" };
        const state = { runs: ["a", "b"], panels: [{ keys: ["loss"], x: "step", smoothing: 0.6 }], "é": null, n: 1e-7 };
        const b = await store.createView(mine, { name: "b view", state, isDefault: false }, T0);
        const a = await store.createView(mine, { name: "a view", state: {}, isDefault: true }, T0 + 1);
        expect(b).toEqual({ id: b.id, name: "b view", state, isDefault: false, createdAt: T0, updatedAt: T0 });
        expectNumbers(b, ["id", "createdAt", "updatedAt"]);
        expect((await store.listViews(mine)).map((v) => v.name)).toEqual(["a view", "b view"]);
        // Another user, or another project of the same entity, sees none of them.
        expect(await store.listViews({ ...mine, userId: bob.id })).toEqual([]);
        expect(await store.listViews({ ...mine, project: "cifar" })).toEqual([]);
        // ... and cannot change or delete them by id.
        expect(await store.updateView({ ...mine, userId: bob.id }, a.id, { name: "x" }, T0)).toBeNull();
        expect(await store.deleteView({ ...mine, project: "cifar" }, a.id)).toBe(false);
        // The same name is free for another user.
        await store.createView({ ...mine, userId: bob.id }, { name: "a view", state: {}, isDefault: true }, T0);
        expect((await store.listViews(mine)).find((v) => v.isDefault)?.id).toBe(a.id);
      });

      it("refuses a name the user already has there, on create and rename, and changes nothing", async () => {
        const entity = (await store.getEntity("alice"))!;
        const mine: ViewScope = { userId: alice.id, entityId: entity.id, project: "mnist" };
        const one = await store.createView(mine, { name: "one", state: { a: 1 }, isDefault: false }, T0);
        const two = await store.createView(mine, { name: "two", state: { a: 2 }, isDefault: false }, T0);
        await expect(store.createView(mine, { name: "one", state: {}, isDefault: true }, T0)).rejects.toMatchObject({ code: "TRK_ERR_CONFLICT" });
        await expect(store.updateView(mine, two.id, { name: "one", isDefault: true }, T0)).rejects.toMatchObject({ code: "TRK_ERR_CONFLICT" });
        expect(await store.listViews(mine)).toEqual([one, two]);
      });

      it("keeps at most one default per user and project, changes only the fields given, and deletes", async () => {
        const entity = (await store.getEntity("alice"))!;
        const mine: ViewScope = { userId: alice.id, entityId: entity.id, project: "mnist" };
        const one = await store.createView(mine, { name: "one", state: { a: 1 }, isDefault: true }, T0);
        const two = await store.createView(mine, { name: "two", state: { a: 2 }, isDefault: true }, T0);
        const defaults = async () => (await store.listViews(mine)).filter((v) => v.isDefault).map((v) => v.name);
        expect(await defaults()).toEqual(["two"]);
        const changed = await store.updateView(mine, one.id, { isDefault: true }, T0 + 5);
        expect(changed).toEqual({ ...one, isDefault: true, updatedAt: T0 + 5 });
        expect(await defaults()).toEqual(["one"]);
        const renamed = await store.updateView(mine, two.id, { name: "deux", state: { b: [1, 2] } }, T0 + 6);
        expect(renamed).toEqual({ ...two, name: "deux", state: { b: [1, 2] }, isDefault: false, updatedAt: T0 + 6 });
        expect(await store.deleteView(mine, one.id)).toBe(true);
        expect(await store.deleteView(mine, one.id)).toBe(false);
        expect(await store.updateView(mine, one.id, { name: "gone" }, T0)).toBeNull();
        expect((await store.listViews(mine)).map((v) => v.name)).toEqual(["deux"]);
      });
    });

    describe("artifacts", () => {
      const sha = (text: string) => createHash("sha256").update(text).digest("hex");
      /** A manifest of files named by path, each holding its own path as bytes. */
      const manifest = (paths: string[], over: Partial<ArtifactManifest> = {}): ArtifactManifest => ({
        name: "data",
        type: "dataset",
        description: null,
        metadata: {},
        files: paths.map((path) => ({ path, digest: sha(path), size: path.length })),
        references: [],
        ...over,
      });
      let scope: ArtifactScope;
      beforeEach(async () => {
        scope = { entityId: (await store.getEntity("alice"))!.id, project: "mnist" };
      });
      const log = (runPk: number, m: ArtifactManifest, aliases: string[] = [], now = T0) => store.logArtifactVersion(scope, runPk, m, manifestDigest(m), aliases, now);
      const names = (vs: StoredArtifactVersion[] | null) => vs?.map((v) => `${v.name}:v${v.version}[${v.aliases.join(",")}]`) ?? null;

      it("numbers versions from v0; the same files in another order are the same version, whatever is logged in between", async () => {
        const r1 = await open("run00001");
        const r2 = await open("run00002");
        const m = manifest(["a.txt", "b.txt"], { description: "two files", metadata: { rows: 2, "é": [1, null] } });
        const v0 = await log(r1.pk, m, [], T0 + 5);
        expect(v0).toEqual({
          id: v0.id, entity: "alice", project: "mnist", name: "data", type: "dataset", version: 0, aliases: ["latest"],
          digest: manifestDigest(m), size: 10, fileCount: 2, description: "two files", metadata: { rows: 2, "é": [1, null] }, createdAt: T0 + 5,
        });
        expectNumbers(v0, ["id", "version", "size", "fileCount", "createdAt"]);
        const v1 = await log(r2.pk, manifest(["a.txt", "c.txt"]), [], T0 + 6);
        expect([v1.version, v1.aliases]).toEqual([1, ["latest"]]);
        // v0's files reversed, with another description: v0 again, and latest stays on v1.
        const again = await log(r2.pk, { ...m, files: [...m.files].reverse(), description: "other" }, [], T0 + 7);
        expect(again).toEqual({ ...v0, aliases: [] });
        expect(names(await store.listArtifactVersions(scope, "data", false))).toEqual(["data:v1[latest]", "data:v0[]"]);
        expect((await store.getArtifactVersion(scope, "data", "latest", false))?.id).toBe(v1.id);
        expect((await store.getArtifactVersion(scope, "data", "v0", false))?.id).toBe(v0.id);
        expect(await store.getArtifactVersion(scope, "data", "v2", false)).toBeNull();
        expect(await store.getArtifactVersion(scope, "nope", "latest", false)).toBeNull();
        expect(await store.getArtifactVersion({ ...scope, project: "cifar" }, "data", "latest", false)).toBeNull();
        expect(await store.listArtifactVersions(scope, "nope", false)).toBeNull();
      });

      it("moves user aliases to the version logged with them; latest moves by itself", async () => {
        const r = await open("run00001");
        await log(r.pk, manifest(["a"]), ["prod", "best", "Best"]);
        expect(names(await store.listArtifactVersions(scope, "data", false))).toEqual(["data:v0[Best,best,latest,prod]"]);
        await log(r.pk, manifest(["b"]), ["best"]);
        expect(names(await store.listArtifactVersions(scope, "data", false))).toEqual(["data:v1[best,latest]", "data:v0[Best,prod]"]);
        expect((await store.getArtifactVersion(scope, "data", "best", false))?.version).toBe(1);
        expect((await store.getArtifactVersion(scope, "data", "prod", false))?.version).toBe(0);
        expect(await store.getArtifactVersion(scope, "data", "staging", false)).toBeNull();
        // Re-logging v0 with an alias moves the alias back; it adds no version and leaves latest.
        const back = await log(r.pk, manifest(["a"]), ["best"]);
        expect(back.aliases).toEqual(["Best", "best", "prod"]);
        expect(names(await store.listArtifactVersions(scope, "data", false))).toEqual(["data:v1[latest]", "data:v0[Best,best,prod]"]);
      });

      it("refuses a collection's name under another type, and changes nothing", async () => {
        const r = await open("run00001");
        await log(r.pk, manifest(["a"]), ["best"]);
        await expect(log(r.pk, manifest(["b"], { type: "model" }), ["best"])).rejects.toMatchObject({ code: "TRK_ERR_CONFLICT" });
        expect(names(await store.listArtifactVersions(scope, "data", false))).toEqual(["data:v0[best,latest]"]);
        const model = await log(r.pk, manifest(["b"], { name: "net", type: "model" }));
        expect(model.version).toBe(0);
        const collections = await store.listArtifactCollections(scope, null, false);
        expect(collections.map((c) => [c.name, c.type, c.versions, c.latest.version])).toEqual([["data", "dataset", 1, 0], ["net", "model", 1, 0]]);
        expectNumbers(collections[0], ["versions"]);
        expect((await store.listArtifactCollections(scope, "model", false)).map((c) => c.name)).toEqual(["net"]);
        expect(await store.listArtifactCollections(scope, "code", false)).toEqual([]);
      });

      it("records a log and a use once however often they are applied, and two logs at once make one version", async () => {
        const r1 = await open("run00001");
        const r2 = await open("run00002");
        const r3 = await open("run00003");
        const [a, b] = await Promise.all([log(r1.pk, manifest(["x"]), ["best"]), log(r2.pk, manifest(["x"]), ["best"])]);
        expect(a.id).toBe(b.id);
        expect(a.version).toBe(0);
        const [c, d] = await Promise.all([log(r1.pk, manifest(["y"])), log(r1.pk, manifest(["y"]))]);
        expect([c.id, c.version]).toEqual([d.id, 1]);
        expect(names(await store.listArtifactVersions(scope, "data", false))).toEqual(["data:v1[latest]", "data:v0[best]"]);
        await log(r1.pk, manifest(["x"]), ["best"], T0 + 9);
        await store.useArtifactVersion(a.id, r3.pk, T0 + 10);
        await store.useArtifactVersion(a.id, r3.pk, T0 + 11);
        const lineage = await store.artifactLineage(a.id);
        expect(lineage.producedBy.map((l) => l.id).sort()).toEqual(["run00001", "run00002"]);
        expect(lineage.usedBy.map((l) => l.id)).toEqual(["run00003"]);
        expect((await store.runArtifacts(r1.pk)).outputs.map((v) => v.version)).toEqual([0, 1]);
        expect((await store.runArtifacts(r3.pk)).inputs.map((v) => v.version)).toEqual([0]);
      });

      it("lists producers and consumers in the order they first logged or used a version, and a run's artifacts likewise", async () => {
        const [a, b, c, d] = await Promise.all(["run0000a", "run0000b", "run0000c", "run0000d"].map((id) => open(id)));
        await store.patchRun(b.pk, { privacy: "public" });
        const x = await log(b.pk, manifest(["x"], { name: "x" }));
        const y = await log(b.pk, manifest(["y"], { name: "y", type: "model" }), [], T0 + 1);
        await log(a.pk, manifest(["x"], { name: "x" }), [], T0 + 2);
        await log(b.pk, manifest(["x"], { name: "x" }), [], T0 + 3); // again: b stays first
        await store.useArtifactVersion(x.id, d.pk, T0 + 4);
        await store.useArtifactVersion(y.id, c.pk, T0 + 5);
        await store.useArtifactVersion(x.id, c.pk, T0 + 6);
        await store.useArtifactVersion(y.id, d.pk, T0 + 7);
        const lineage = await store.artifactLineage(x.id);
        expect(lineage.producedBy).toEqual([
          { runPk: b.pk, entity: "alice", project: "mnist", id: "run0000b", name: b.name, state: b.state, privacy: "public" },
          { runPk: a.pk, entity: "alice", project: "mnist", id: "run0000a", name: a.name, state: a.state, privacy: "private" },
        ]);
        expectNumbers(lineage.producedBy[0], ["runPk"]);
        expect(lineage.usedBy.map((l) => l.id)).toEqual(["run0000d", "run0000c"]);
        expect(names((await store.runArtifacts(b.pk)).outputs)).toEqual(["x:v0[latest]", "y:v0[latest]"]);
        expect((await store.runArtifacts(c.pk)).inputs.map((v) => v.name)).toEqual(["y", "x"]);
        expect((await store.runArtifacts(d.pk)).inputs.map((v) => v.name)).toEqual(["x", "y"]);
        expect(await store.runArtifacts(a.pk)).toEqual({ outputs: [{ ...x, aliases: ["latest"] }], inputs: [] });
      });

      it("shows non-members only the versions a public run logged, with latest on the newest of those", async () => {
        const priv = await open("run00001");
        const pub = await open("run00002");
        await store.patchRun(pub.pk, { privacy: "public" });
        const v0 = await log(priv.pk, manifest(["a"]), ["mine"]);
        await log(priv.pk, manifest(["only-private"], { name: "secret" }));
        expect(await store.listArtifactVersions(scope, "data", true)).toBeNull();
        expect(await store.getArtifactVersion(scope, "data", "latest", true)).toBeNull();
        expect(await store.listArtifactCollections(scope, null, true)).toEqual([]);
        const v1 = await log(pub.pk, manifest(["b"]), ["shown"]);
        await log(priv.pk, manifest(["c"]));
        expect(names(await store.listArtifactVersions(scope, "data", true))).toEqual(["data:v1[latest,shown]"]);
        expect(names(await store.listArtifactVersions(scope, "data", false))).toEqual(["data:v2[latest]", "data:v1[shown]", "data:v0[mine]"]);
        expect((await store.getArtifactVersion(scope, "data", "latest", true))?.id).toBe(v1.id);
        expect(await store.getArtifactVersion(scope, "data", "v0", true)).toBeNull();
        expect(await store.getArtifactVersion(scope, "data", "mine", true)).toBeNull();
        expect(await store.getArtifactVersion(scope, "data", "v2", true)).toBeNull();
        expect((await store.listArtifactCollections(scope, null, true)).map((c) => [c.name, c.versions, c.latest.version])).toEqual([["data", 1, 1]]);
        expect((await store.listArtifactCollections(scope, null, false)).map((c) => [c.name, c.versions, c.latest.version])).toEqual([["data", 3, 2], ["secret", 1, 0]]);
        // A public run logging v0 makes it visible.
        await log(pub.pk, manifest(["a"]));
        expect((await store.getArtifactVersion(scope, "data", "mine", true))?.id).toBe(v0.id);
      });

      it("keeps a version's 1,000 files and its references, sorted by path", async () => {
        const r = await open("run00001");
        const paths = Array.from({ length: 1000 }, (_, i) => `dir${i % 7}/file-${(i * 7919) % 1000}.bin`);
        const m = manifest(paths, {
          references: [
            { path: "ext/z.csv", uri: "s3://bucket/z.csv", digest: null, size: null },
            { path: "ext/a.csv", uri: "file:///data/a.csv", digest: sha("a"), size: 12_000_000_000 },
          ],
        });
        const v = await log(r.pk, m);
        expect([v.fileCount, v.size]).toEqual([1000, paths.reduce((n, p) => n + p.length, 0)]);
        const entries = await store.artifactEntries(v.id);
        const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : 1);
        expect(entries.files).toEqual([...m.files].sort(byPath));
        expect(entries.references).toEqual([...m.references].sort(byPath));
        expectNumbers(entries.files[0], ["size"]);
        expectNumbers(entries.references[0], ["size"]);
      });

      it("finds a blob only in a version of the scope that the reader sees, never by a reference's digest", async () => {
        const priv = await open("run00001");
        const pub = await open("run00002");
        await store.patchRun(pub.pk, { privacy: "public" });
        await log(priv.pk, manifest(["private.bin"], { references: [{ path: "ref", uri: "https://example.com/r", digest: sha("ref-bytes"), size: 9 }] }));
        await log(pub.pk, manifest(["public.bin"], { name: "open" }));
        expect(await store.blobInVisibleVersion(scope, sha("private.bin"), false)).toBe(true);
        expect(await store.blobInVisibleVersion(scope, sha("private.bin"), true)).toBe(false);
        expect(await store.blobInVisibleVersion(scope, sha("public.bin"), true)).toBe(true);
        expect(await store.blobInVisibleVersion(scope, sha("ref-bytes"), false)).toBe(false);
        expect(await store.blobInVisibleVersion(scope, sha("other"), false)).toBe(false);
        expect(await store.blobInVisibleVersion({ ...scope, project: "cifar" }, sha("public.bin"), false)).toBe(false);
      });
    });

    describe("media", () => {
      const sha = (text: string) => createHash("sha256").update(text).digest("hex");
      const image = (name: string, caption: string | null = null): ImageRef => ({ type: "image", digest: sha(name), size: 10, format: "png", width: 2, height: 3, caption });
      const media = (seq: number, step: number, key: string, value: MediaValue): RunRecord => ({ k: "media", seq, step, key, value });
      const histogram: MediaValue = { type: "histogram", bins: [0, 0.5, 1], counts: [3, 4] };
      const table: MediaValue = { type: "table", columns: ["x", "img"], rows: [[1, image("t1")], ["two", null]] };

      it("keeps each (key, step) at its newest record, lists keys by name with their type and steps, and ranges values by step", async () => {
        const r = await open("run00001");
        const outcome = await send("run00001", [
          media(1, 0, "samples", image("a", "first")),
          media(2, 0, "w", histogram),
          media(3, 1, "samples", { type: "images", items: [image("b"), image("c", "c")] }),
          media(4, 2, "preds", table),
          media(5, 2, "samples", image("d")),
        ]);
        expect(outcome.lastSeq).toBe(5);
        // An older record of step 0 arriving late changes nothing; a resend replaces itself.
        await send("run00001", [media(0, 0, "samples", image("old")), media(5, 2, "samples", image("d"))]);
        const keys = await store.runMediaKeys(r.pk);
        expect(keys).toEqual([
          { key: "preds", type: "table", steps: 1, firstStep: 2, lastStep: 2 },
          { key: "samples", type: "image", steps: 3, firstStep: 0, lastStep: 2 },
          { key: "w", type: "histogram", steps: 1, firstStep: 0, lastStep: 0 },
        ]);
        for (const k of keys) expectNumbers(k, ["steps", "firstStep", "lastStep"]);
        const range = (fromStep: number | null, toStep: number | null, limit: number) => ({ fromStep, toStep, limit, maxChars: 1 << 24 });
        const { entries: all, next } = await store.runMediaValues(r.pk, "samples", range(null, null, 1000));
        expect(all).toEqual([
          { step: 0, value: image("a", "first") },
          { step: 1, value: { type: "images", items: [image("b"), image("c", "c")] } },
          { step: 2, value: image("d") },
        ]);
        expect(next).toBeNull();
        for (const e of all) expectNumbers(e, ["step"]);
        expect(await store.runMediaValues(r.pk, "samples", range(1, null, 1))).toEqual({ entries: [{ step: 1, value: { type: "images", items: [image("b"), image("c", "c")] } }], next: 2 });
        expect((await store.runMediaValues(r.pk, "samples", range(null, 1, 10))).entries.map((e) => e.step)).toEqual([0, 1]);
        expect(await store.runMediaValues(r.pk, "samples", range(null, 1, 2))).toEqual(expect.objectContaining({ next: null }));
        expect(await store.runMediaValues(r.pk, "preds", range(null, null, 10))).toEqual({ entries: [{ step: 2, value: table }], next: null });
        expect(await store.runMediaValues(r.pk, "nope", range(null, null, 10))).toEqual({ entries: [], next: null });
        // At most about maxChars of values: the steps after the one that reaches it are left out,
        // and `next` says where they begin; the first step is answered whatever its size.
        const size = JSON.stringify(image("a", "first")).length;
        const cut = await store.runMediaValues(r.pk, "samples", { ...range(null, null, 1000), maxChars: size });
        expect([cut.entries.map((e) => e.step), cut.next]).toEqual([[0], 1]);
        const tiny = await store.runMediaValues(r.pk, "samples", { ...range(1, null, 1000), maxChars: 1 });
        expect([tiny.entries.map((e) => e.step), tiny.next]).toEqual([[1], 2]);
        expectNumbers(tiny, ["next"]);
        // A newer record of a step replaces it, and the key's type follows its last step.
        await send("run00001", [media(6, 2, "samples", histogram)]);
        expect((await store.runMediaKeys(r.pk)).find((k) => k.key === "samples")?.type).toBe("histogram");
        expect(await store.runMediaKeys((await open("run00002")).pk)).toEqual([]);
      });

      it("answers whether a run of the scope references a blob in its media, a public one when asked so", async () => {
        const r = await open("run00001");
        await send("run00001", [media(1, 0, "preds", table), media(2, 1, "s", { type: "images", items: [image("b")] })]);
        const scope = { entityId: (await store.getEntity("alice"))!.id, project: "mnist" };
        expect(await store.blobInVisibleMedia(scope, sha("t1"), false)).toBe(true);
        expect(await store.blobInVisibleMedia(scope, sha("b"), false)).toBe(true);
        expect(await store.blobInVisibleMedia(scope, sha("zzz"), false)).toBe(false);
        expect(await store.blobInVisibleMedia({ ...scope, project: "cifar" }, sha("b"), false)).toBe(false);
        // The run is private: not for a reader who sees only public runs, until it is made public.
        expect(await store.blobInVisibleMedia(scope, sha("b"), true)).toBe(false);
        await store.patchRun(r.pk, { privacy: "public" });
        expect(await store.blobInVisibleMedia(scope, sha("b"), true)).toBe(true);
      });
    });

    describe("ingest", () => {
      it("creates a run from its run record with every field, and refuses records for a run that does not exist", async () => {
        const info = runInfo("run00001", { tags: ["a", "b"], group: "sweep-1", jobType: "train", notes: "first", config: { lr: 0.1, opt: { name: "adam" } } });
        const outcome = await store.ingest(await target("run00001"), [{ k: "run", seq: 0, run: info }], T0 + 5);
        expect(outcome).toEqual({ records: 1, lastSeq: 0 });
        const r = await run("run00001");
        expect(r).toMatchObject({
          entity: "alice",
          project: "mnist",
          id: "run00001",
          name: info.name,
          notes: "first",
          tags: ["a", "b"],
          group: "sweep-1",
          jobType: "train",
          author: "alice",
          state: "running",
          exitCode: null,
          signal: null,
          error: null,
          createdAt: info.createdAt,
          heartbeatAt: T0 + 5,
          finishedAt: null,
          config: info.config,
          summary: {},
          metadata: {},
          program: info.program,
          lastSeq: 0,
          sweeperCrashedAt: null,
        });
        expectNumbers(r, RUN_NUMBER_FIELDS);
        expectNumbersOrNull(r, RUN_NULLABLE_NUMBER_FIELDS);
        expect(await store.getRun("alice", "mnist", "nope0001")).toBeNull();
        await expect(send("nope0001", [{ k: "history", seq: 1, rows: rows(0, 1) }])).rejects.toMatchObject({ code: "TRK_ERR_NOT_FOUND" });
        await expect(send("nope0001", [{ k: "history", seq: 1, rows: rows(0, 1) }], T0, "noproj")).rejects.toMatchObject({ code: "TRK_ERR_NOT_FOUND" });
        expect(await store.getProject("alice", "noproj")).toBeNull();
      });

      it("applies the same batch twice as once: nothing doubles, nothing changes", async () => {
        await open("run00001");
        const batch: RunRecord[] = [
          { k: "history", seq: 1, rows: rows(0, 5) },
          { k: "config", seq: 6, config: { lr: 0.2 } },
          { k: "summary", seq: 7, summary: { best: 0.9 } },
          { k: "console", seq: 8, lines: [{ at: T0, stream: "stdout", text: "epoch 1" }, { at: T0 + 1, stream: "stderr", text: "warn" }] },
          { k: "system", seq: 0, at: T0 + 100, values: { "system/cpu": 12.5 } },
          { k: "refused", seq: 0, at: T0 + 200, records: 3, bytes: 300, error: "TRK_ERR_BAD_REQUEST: x" },
          { k: "update", seq: 10, tags: ["x"] },
        ];
        const first = await send("run00001", batch, T0 + 10);
        expect(first).toEqual({ records: batch.length, lastSeq: 10 });
        const snapshot = async () => {
          const r = await run("run00001");
          return {
            run: r,
            history: await store.readHistory(r.pk, { limit: 100 }),
            historyCount: await store.countHistory(r.pk),
            console: await store.readConsole(r.pk, { after: -1, limit: 100 }),
            consoleCount: await store.countConsole(r.pk),
            system: await store.readSystemMetrics(r.pk, { limit: 100 }),
            refusals: await store.refusals(r.pk),
          };
        };
        const before = await snapshot();
        expect(before.historyCount).toBe(5);
        expectNumbers(before, ["historyCount", "consoleCount"]);
        expect(await send("run00001", batch, T0 + 10)).toEqual(first);
        // The revision may go up on a resend (a browser refreshes for nothing); nothing else moves.
        const after = await snapshot();
        expect(after.run.revision).toBeGreaterThanOrEqual(before.run.revision);
        expect({ ...after, run: { ...after.run, revision: 0 } }).toEqual({ ...before, run: { ...before.run, revision: 0 } });
      });

      it("raises a run's revision with every upload, edit and sweep, and answers revisions by pk", async () => {
        await open("rev00001");
        const r0 = await run("rev00001");
        expectNumbers(r0, ["revision"]);
        await send("rev00001", [{ k: "history", seq: 1, rows: rows(0, 2) }], T0 + 1);
        const r1 = await run("rev00001");
        expect(r1.revision).toBeGreaterThan(r0.revision);
        await store.patchRun(r1.pk, { name: "edited" });
        const r2 = await run("rev00001");
        expect(r2.revision).toBeGreaterThan(r1.revision);
        expect(await store.sweepStaleRuns(T0 + 10_000, T0 + 10_001, "gone")).toBe(1);
        const r3 = await run("rev00001");
        expect(r3.revision).toBeGreaterThan(r2.revision);
        const revisions = await store.runRevisions([r3.pk, r3.pk + 1000]);
        expect([...revisions]).toEqual([[r3.pk, r3.revision]]);
      });

      it("answers the revisions of a project's runs changed lately (the project stream's poll), not others'", async () => {
        await open("lat00001");
        await open("lat00002");
        await open("lat00003", {}, T0, "other");
        const alice0 = (await store.getRun("alice", "mnist", "lat00001"))!;
        const recent = async () => new Map((await store.recentRunRevisions(alice0.entityId, "mnist", 60_000)).map((r) => [r.pk, r]));
        const seen = await recent();
        const [r1, r2] = [await run("lat00001"), await run("lat00002")];
        expect(seen.get(r1.pk)).toEqual({ pk: r1.pk, id: "lat00001", revision: r1.revision });
        expect(seen.get(r2.pk)).toEqual({ pk: r2.pk, id: "lat00002", revision: r2.revision });
        expect(seen.has((await run("lat00003", "other")).pk)).toBe(false); // another project's run
        // Each kind of change shows there at the run's new revision: an upload, an edit, a sweep.
        await send("lat00001", [{ k: "history", seq: 1, rows: rows(0, 2) }], T0 + 1);
        expect((await recent()).get(r1.pk)?.revision).toBe((await run("lat00001")).revision);
        await store.patchRun(r2.pk, { name: "edited" });
        expect((await recent()).get(r2.pk)?.revision).toBe((await run("lat00002")).revision);
        await store.sweepStaleRuns(T0 + 10_000, T0 + 10_001, "gone");
        const swept = await recent();
        expect(swept.get(r1.pk)?.revision).toBe((await run("lat00001")).revision);
        expect(swept.get(r1.pk)!.revision).toBeGreaterThan(r1.revision + 1);
        // Only what changed within the window: one that ends before any of these changes holds none.
        expect((await store.recentRunRevisions(alice0.entityId, "mnist", -60_000)).length).toBe(0);
        expect((await store.recentRunRevisions(alice0.entityId, "no-such-project", 60_000)).length).toBe(0);
      });

      it("says whether this store is the one that sweeps (alone on its database, it is)", async () => {
        expect(await store.holdsSweepLock()).toBe(true);
        expect(await store.holdsSweepLock()).toBe(true);
      });

      it("applies the same batch arriving twice at once (a retry through a load balancer) once, even the run's first", async () => {
        const batch: RunRecord[] = [
          { k: "run", seq: 0, run: runInfo("race0001") },
          { k: "history", seq: 1, rows: rows(0, 50) },
          { k: "console", seq: 51, lines: [{ at: T0, stream: "stdout", text: "hello" }] },
          { k: "summary", seq: 52, summary: { acc: 1 } },
        ];
        const t = await target("race0001");
        const outcomes = await Promise.all([store.ingest(t, batch, T0), store.ingest(t, batch, T0), store.ingest(t, batch, T0)]);
        expect(outcomes.map((o) => o.lastSeq)).toEqual([52, 52, 52]);
        const r = await run("race0001");
        expect(await store.countHistory(r.pk)).toBe(50);
        expect(await store.countConsole(r.pk)).toBe(1);
        expect((await store.listRuns("alice", "mnist", PAGE))!.total).toBe(1);
        expect(await store.listProjects("alice", false)).toHaveLength(1);
      });

      it("never lets an older record overwrite a newer field, in one batch or across batches", async () => {
        await open("run00001", { name: "first-name" });
        await send("run00001", [
          { k: "config", seq: 5, config: { lr: 5 } },
          { k: "config", seq: 3, config: { lr: 3 } },
          { k: "summary", seq: 6, summary: { acc: 6 } },
          { k: "update", seq: 7, name: "seven", notes: "n7", tags: ["t7"] },
        ]);
        await send("run00001", [
          { k: "summary", seq: 4, summary: { acc: 4 } },
          { k: "update", seq: 2, name: "two", notes: "n2", tags: ["t2"] },
          { k: "config", seq: 1, config: { lr: 1 } },
        ]);
        expect(await run("run00001")).toMatchObject({ config: { lr: 5 }, summary: { acc: 6 }, name: "seven", notes: "n7", tags: ["t7"], lastSeq: 7 });
        // A newer record still applies; fields left out of an update keep their value.
        await send("run00001", [{ k: "update", seq: 8, notes: null }]);
        expect(await run("run00001")).toMatchObject({ name: "seven", notes: null, tags: ["t7"] });
      });

      it("keeps non-finite numbers of config and summary as the API shows them", async () => {
        await open("run00001");
        await send("run00001", [{ k: "summary", seq: 1, summary: { nan: NaN, inf: Infinity, ninf: -Infinity, deep: { x: [1, "s", null, true] } } }]);
        expect((await run("run00001")).summary).toEqual({ nan: "NaN", inf: "Infinity", ninf: "-Infinity", deep: { x: [1, "s", null, true] } });
      });

      it("applies an exit record once, and a resume (a newer run record) reopens the run", async () => {
        await open("run00001");
        const exit: RunRecord = { k: "exit", seq: 3, state: "failed", exitCode: 1, signal: null, error: "Error: boom", finishedAt: T0 + 60_000 };
        await send("run00001", [exit]);
        expect(await run("run00001")).toMatchObject({ state: "failed", exitCode: 1, signal: null, error: "Error: boom", finishedAt: T0 + 60_000 });
        await send("run00001", [{ k: "exit", seq: 2, state: "killed", exitCode: null, signal: "SIGTERM", error: null, finishedAt: T0 + 1 }]);
        expect((await run("run00001")).state).toBe("failed");
        await send("run00001", [{ k: "run", seq: 4, run: runInfo("run00001", { resumed: true, name: "resumed" }) }]);
        expect(await run("run00001")).toMatchObject({ state: "running", exitCode: null, error: null, finishedAt: null, name: "resumed" });
        await send("run00001", [{ k: "exit", seq: 5, state: "killed", exitCode: null, signal: "SIGINT", error: null, finishedAt: T0 + 2 }]);
        expect(await run("run00001")).toMatchObject({ state: "killed", signal: "SIGINT", exitCode: null });
      });

      it("takes the daemon's records (seq 0) without moving lastSeq; a fresh metadata probe replaces the last", async () => {
        await open("run00001");
        await send("run00001", [{ k: "history", seq: 1, rows: rows(0, 3) }]);
        const outcome = await send("run00001", [
          { k: "meta", seq: 0, metadata: { host: "a" } },
          { k: "system", seq: 0, at: T0, values: { "system/cpu": 1 } },
        ]);
        expect(outcome).toEqual({ records: 2, lastSeq: 3 });
        await send("run00001", [{ k: "meta", seq: 0, metadata: { host: "b" } }]);
        expect(await run("run00001")).toMatchObject({ metadata: { host: "b" }, lastSeq: 3 });
      });

      it("counts records of unknown kinds by kind, once per seq (or per time for the daemon's)", async () => {
        await open("run00001");
        const video = { k: "video", seq: 3, path: "images/0.png" } as unknown as RunRecord;
        const probe = (at: number) => ({ k: "gpu-topology", seq: 0, at, links: [1, 2] }) as unknown as RunRecord;
        for (let i = 0; i < 2; i++) await send("run00001", [video, probe(T0 + 1)]);
        const outcome = await send("run00001", [probe(T0 + 2)]);
        expect(outcome.lastSeq).toBe(3);
        const r = await run("run00001");
        const counts = await store.unknownRecordCounts(r.pk);
        expect(counts).toEqual([
          { kind: "gpu-topology", count: 2 },
          { kind: "video", count: 1 },
        ]);
        expectNumbers(counts[0], ["count"]);
        expect(r.lastSeq).toBe(3);
      });

      it("sums the daemon's refusal reports, once per report, newest reasons first and at most 10", async () => {
        await open("run00001");
        const r = await run("run00001");
        expect(await store.refusals(r.pk)).toEqual({ records: 0, bytes: 0, reports: 0, reasons: [] });
        const report = (at: number, records: number, error: string): RunRecord => ({ k: "refused", seq: 0, at, records, bytes: records * 10, error });
        await send("run00001", [report(T0 + 1, 2, "E1"), report(T0 + 2, 3, "E2"), report(T0 + 3, 4, "E1")]);
        await send("run00001", [report(T0 + 3, 4, "E1")]); // a resend
        const summed = await store.refusals(r.pk);
        expect(summed).toEqual({
          records: 9,
          bytes: 90,
          reports: 3,
          reasons: [
            { error: "E1", records: 6, at: T0 + 3 },
            { error: "E2", records: 3, at: T0 + 2 },
          ],
        });
        expectNumbers(summed, ["records", "bytes", "reports"]);
        expectNumbers(summed.reasons[0], ["records", "at"]);
        await send("run00001", Array.from({ length: 12 }, (_, i) => report(T0 + 100 + i, 1, `E-${i}`)));
        const many = await store.refusals(r.pk);
        expect(many.reasons).toHaveLength(10);
        expect(many.reasons[0].error).toBe("E-11");
        expect(many.reports).toBe(15);
      });
    });

    describe("liveness", () => {
      it("heartbeats keep a run alive; the sweep marks stale running runs once, with its error and time", async () => {
        await open("stale001", {}, T0);
        await open("fresh001", {}, T0);
        await open("ended001", {}, T0);
        await send("ended001", [{ k: "exit", seq: 1, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: T0 }]);
        expect(await store.heartbeat("alice", "mnist", "fresh001", T0 + 100)).toBe(true);
        expect(await store.heartbeat("alice", "mnist", "nope0001", T0 + 100)).toBe(false);
        expect((await run("fresh001")).heartbeatAt).toBe(T0 + 100);
        expect(await store.sweepStaleRuns(T0 + 50, T0 + 500, "no heartbeat")).toBe(1);
        expect(await run("stale001")).toMatchObject({ state: "crashed", error: "no heartbeat", sweeperCrashedAt: T0 + 500 });
        expectNumbers(await run("stale001"), ["sweeperCrashedAt"]);
        expect((await run("fresh001")).state).toBe("running");
        expect((await run("ended001")).state).toBe("finished");
        expect(await store.sweepStaleRuns(T0 + 50, T0 + 600, "no heartbeat")).toBe(0);
        expect((await run("stale001")).sweeperCrashedAt).toBe(T0 + 500);
      });

      it("concurrent sweeps mark each stale run once", async () => {
        for (let i = 0; i < 20; i++) await open(`stale${String(i).padStart(3, "0")}`, {}, T0);
        await open("fresh001", {}, T0 + 100);
        const counts = await Promise.all([1, 2, 3, 4].map((m) => store.sweepStaleRuns(T0 + 50, T0 + m, "gone")));
        expect(counts.reduce((a, b) => a + b, 0)).toBe(20);
        const runs = (await store.listRuns("alice", "mnist", { ...PAGE, limit: 100 }))!.runs;
        for (const m of [1, 2, 3, 4]) expect(runs.filter((r) => r.sweeperCrashedAt === T0 + m)).toHaveLength(counts[m - 1]);
        expect(runs.filter((r) => r.state === "running").map((r) => r.id)).toEqual(["fresh001"]);
      });

      it("a heartbeat or any records revive a swept run; an exit record after the sweep gives its own ending", async () => {
        for (const id of ["blip0001", "blip0002", "blip0003", "dead0001"]) await open(id, {}, T0);
        await send("dead0001", [{ k: "exit", seq: 1, state: "crashed", exitCode: null, signal: "SIGKILL", error: "killed", finishedAt: T0 }]);
        await store.sweepStaleRuns(T0 + 1, T0 + 2, "no heartbeat");
        expect(await store.heartbeat("alice", "mnist", "blip0001", T0 + 3)).toBe(true);
        expect(await run("blip0001")).toMatchObject({ state: "running", error: null, sweeperCrashedAt: null, heartbeatAt: T0 + 3 });
        await send("blip0002", [{ k: "run", seq: 0, run: runInfo("blip0002") }], T0 + 3); // a resent old record
        expect(await run("blip0002")).toMatchObject({ state: "running", error: null, sweeperCrashedAt: null });
        // The sweep moved no seq: the run's own exit record (seq 1, after its run record) applies.
        await send("blip0003", [{ k: "exit", seq: 1, state: "failed", exitCode: 2, signal: null, error: "Error: x", finishedAt: T0 + 3 }], T0 + 3);
        expect(await run("blip0003")).toMatchObject({ state: "failed", exitCode: 2, error: "Error: x", sweeperCrashedAt: null });
        // A crash the run reported stays.
        expect(await store.heartbeat("alice", "mnist", "dead0001", T0 + 3)).toBe(true);
        await send("dead0001", [{ k: "history", seq: 2, rows: rows(0, 1) }], T0 + 3);
        expect(await run("dead0001")).toMatchObject({ state: "crashed", error: "killed" });
      });
    });

    describe("server secrets", () => {
      it("makes a secret of 32 random bytes once and answers it again, even to callers asking at once; each name has its own", async () => {
        const first = await Promise.all([store.serverSecret("wandb-upload-urls"), store.serverSecret("wandb-upload-urls"), store.serverSecret("wandb-upload-urls")]);
        expect(first[0].length).toBe(32);
        expect(first[1].equals(first[0]) && first[2].equals(first[0])).toBe(true);
        expect((await store.serverSecret("wandb-upload-urls")).equals(first[0])).toBe(true);
        const other = await store.serverSecret("another");
        expect(other.length).toBe(32);
        expect(other.equals(first[0])).toBe(false);
      });
    });

    describe("W&B resume asks", () => {
      it("answers an ask once, to the first taker, while it is fresh; a later ask replaces the earlier one", async () => {
        const a = await open("resume01");
        const b = await open("resume02");
        expect(await store.takeResumeAsk(a.pk, T0)).toBe(false);
        await store.addResumeAsk(a.pk, T0 + 10, T0 - 10 * MINUTE);
        expect(await store.takeResumeAsk(b.pk, T0)).toBe(false); // another run's ask
        expect(await store.takeResumeAsk(a.pk, T0)).toBe(true);
        expect(await store.takeResumeAsk(a.pk, T0)).toBe(false); // used up
        // An ask older than the window is used up too, and answers false.
        await store.addResumeAsk(a.pk, T0 + 20, T0 - 10 * MINUTE);
        expect(await store.takeResumeAsk(a.pk, T0 + 21)).toBe(false);
        expect(await store.takeResumeAsk(a.pk, T0)).toBe(false);
        // Asked again: the newer time stands.
        await store.addResumeAsk(a.pk, T0 + 30, T0 - 10 * MINUTE);
        await store.addResumeAsk(a.pk, T0 + 40, T0 - 10 * MINUTE);
        expect(await store.takeResumeAsk(a.pk, T0 + 35)).toBe(true);
      });

      it("gives one ask to one of many takers at once", async () => {
        const a = await open("resume01");
        await store.addResumeAsk(a.pk, T0, T0 - 10 * MINUTE);
        const taken = await Promise.all([1, 2, 3, 4].map(() => store.takeResumeAsk(a.pk, T0)));
        expect(taken.filter(Boolean)).toHaveLength(1);
      });

      it("forgets asks made before the given time when another is noted", async () => {
        const a = await open("resume01");
        const b = await open("resume02");
        await store.addResumeAsk(a.pk, T0, T0 - 10 * MINUTE);
        await store.addResumeAsk(b.pk, T0 + 10 * MINUTE, T0 + 1);
        // a's ask is gone: even a taker that would still take it finds none.
        expect(await store.takeResumeAsk(a.pk, T0)).toBe(false);
        expect(await store.takeResumeAsk(b.pk, T0 + 1)).toBe(true);
      });
    });

    describe("patchRun", () => {
      it("wins over every record applied before it; a newer record still applies", async () => {
        await open("run00001");
        await send("run00001", [{ k: "update", seq: 3, name: "three", tags: ["t3"] }]);
        const r = await run("run00001");
        await store.patchRun(r.pk, { name: "edited", tags: ["e"], notes: "by hand", privacy: "public" });
        await send("run00001", [
          { k: "update", seq: 3, name: "three", tags: ["t3"] },
          { k: "update", seq: 2, notes: "two" },
        ]);
        expect(await run("run00001")).toMatchObject({ name: "edited", tags: ["e"], notes: "by hand", privacy: "public" });
        await send("run00001", [{ k: "update", seq: 4, name: "four" }]);
        expect(await run("run00001")).toMatchObject({ name: "four", tags: ["e"] });
        await store.patchRun(r.pk, {});
        expect((await run("run00001")).name).toBe("four");
      });
    });

    describe("runs table: sort, filter and paging", () => {
      const list = async (q: Partial<ListRunsQuery>) => (await store.listRuns("alice", "mnist", { ...PAGE, ...q }))!;
      const ids = async (q: Partial<ListRunsQuery>) => (await list(q)).runs.map((r) => r.id);

      /** Four runs whose every sortable field differs (r3 and r4 miss the optional ones). */
      async function seed(): Promise<void> {
        // Each run's records arrive at its own heartbeat time: r1 at +40, r2 at +10, r3 at +30, r4 at +20.
        // r1 finished after 100 s; r2 failed after 20 s; r3 and r4 run on.
        const openWith = async (id: string, info: Partial<RunInfo>, now: number, more: RunRecord[], author = alice) =>
          store.ingest(await target(id, "mnist", "alice", author), [{ k: "run", seq: 0, run: runInfo(id, info) }, ...more], now);
        await openWith("r1", { name: "b-name", createdAt: T0 + 2, notes: "zeta", group: "g2", jobType: "eval", tags: ["x", "y"], config: { lr: 0.3, opt: { beta: 2 } } }, T0 + 40, [
          { k: "summary", seq: 1, summary: { acc: 0.5, "a.b": 1 } },
          { k: "exit", seq: 2, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: T0 + 2 + 100_000 },
        ]);
        await openWith("r2", { name: "a-name", createdAt: T0 + 1, notes: "alpha", group: "g1", jobType: "train", tags: ["a"], config: { lr: 0.1, opt: { beta: 3 } } }, T0 + 10, [
          { k: "summary", seq: 1, summary: { acc: 0.9, "a.b": 3 } },
          { k: "exit", seq: 2, state: "failed", exitCode: 1, signal: null, error: "x", finishedAt: T0 + 1 + 20_000 },
        ]);
        await openWith("r3", { name: "d-name", createdAt: T0 + 4, notes: null, tags: [], config: { lr: 0.2 } }, T0 + 30, [{ k: "summary", seq: 1, summary: { acc: 0.7 } }]);
        // r4's author is bob (the store does not check access: the HTTP layer does).
        await openWith("r4", { name: "c-name", createdAt: T0 + 3, tags: ["b"], config: { other: 1 } }, T0 + 20, [], bob);
      }

      it("sorts by each field, either way; runs without a value go last both ways", async () => {
        await seed();
        const cases: [RunSortField, string[]][] = [
          ["createdAt", ["r2", "r1", "r4", "r3"]],
          ["name", ["r2", "r1", "r4", "r3"]],
          ["id", ["r1", "r2", "r3", "r4"]],
          ["author", ["r1", "r2", "r3", "r4"]], // alice x3 (ties in creation order), then bob
          ["heartbeatAt", ["r2", "r4", "r3", "r1"]],
          ["state", ["r2", "r1", "r3", "r4"]], // failed, finished, running (ties in creation order)
          ["group", ["r2", "r1", "r3", "r4"]],
          ["jobType", ["r1", "r2", "r3", "r4"]],
          ["notes", ["r2", "r1", "r3", "r4"]],
        ];
        for (const [sort, ascending] of cases) {
          expect(await ids({ sort }), `${sort} ascending`).toEqual(ascending);
        }
        // Descending: the same order reversed, except that runs without the value stay last.
        expect(await ids({ sort: "group", descending: true })).toEqual(["r1", "r2", "r4", "r3"]);
        expect(await ids({ sort: "createdAt", descending: true })).toEqual(["r3", "r4", "r1", "r2"]);
        expect(await ids({ sort: "author", descending: true })).toEqual(["r4", "r3", "r2", "r1"]);
        // Duration: to the end, or to `now` while running.
        expect(await ids({ sort: "duration", now: T0 + 50_000 })).toEqual(["r2", "r3", "r4", "r1"]);
        expect(await ids({ sort: "duration", now: T0 + 500_000 })).toEqual(["r2", "r1", "r3", "r4"]);
        // Tags: tag by tag, so untagged runs first.
        expect(await ids({ sort: "tags" })).toEqual(["r3", "r2", "r4", "r1"]);
        expect(await ids({ sort: "tags", descending: true })).toEqual(["r1", "r4", "r2", "r3"]);
      });

      it("sorts tag lists tag by tag (each by its UTF-8 bytes), a list before the longer lists it begins", async () => {
        const lists = [["a b"], ["a", "b"], [], ["a"], ["B"], ["a", "b", "c"], ["é"]];
        for (const [i, tags] of lists.entries()) await open(`t${i}`, { tags });
        const sorted = (await list({ sort: "tags" })).runs.map((r) => r.tags);
        expect(sorted).toEqual([[], ["B"], ["a"], ["a", "b"], ["a", "b", "c"], ["a b"], ["é"]]);
      });

      it("sorts text by its UTF-8 bytes (upper case before lower case), the same on every backend", async () => {
        for (const [i, n] of ["b", "B", "a", "é", "Z"].entries()) await open(`t${i}`, { name: n });
        expect((await list({ sort: "name" })).runs.map((r) => r.name)).toEqual(["B", "Z", "a", "b", "é"]);
      });

      it("sorts by a config or summary path (numbers by value), runs without it last both ways", async () => {
        await seed();
        expect(await ids({ sortJson: { column: "config", path: ["lr"] } })).toEqual(["r2", "r3", "r1", "r4"]);
        expect(await ids({ sortJson: { column: "config", path: ["lr"] }, descending: true })).toEqual(["r1", "r3", "r2", "r4"]);
        expect(await ids({ sortJson: { column: "config", path: ["opt", "beta"] }, descending: true })).toEqual(["r2", "r1", "r4", "r3"]); // ties (no value) in the sort's direction too
        expect(await ids({ sortJson: { column: "summary", path: ["acc"] }, descending: true })).toEqual(["r2", "r3", "r1", "r4"]);
        // A key with a dot in it is one segment, not a path.
        expect(await ids({ sortJson: { column: "summary", path: ["a.b"] } })).toEqual(["r1", "r2", "r3", "r4"]);
        await send("r4", [{ k: "summary", seq: 1, summary: { acc: 10 } }]);
        // 10 > 0.9 as numbers (as text "10" < "0.9" would not be).
        expect((await ids({ sortJson: { column: "summary", path: ["acc"] }, descending: true }))[0]).toBe("r4");
      });

      it("pages a config or summary sort across the runs without the value, filtered too, and follows runs that arrive or change after it", async () => {
        await seed();
        const sort = { sortJson: { column: "summary" as const, path: ["acc"] }, descending: true };
        const pages = async (q: Partial<ListRunsQuery>, size: number) => {
          const out: string[] = [];
          for (let offset = 0; offset < 6; offset += size) out.push(...(await ids({ ...q, limit: size, offset })));
          return out;
        };
        expect(await pages(sort, 1)).toEqual(["r2", "r3", "r1", "r4"]);
        expect(await pages(sort, 3)).toEqual(["r2", "r3", "r1", "r4"]);
        expect(await pages({ ...sort, state: "running" }, 1)).toEqual(["r3", "r4"]);
        expect(await pages({ ...sort, descending: false }, 2)).toEqual(["r1", "r3", "r2", "r4"]);
        // A run created after the first sort by the path, and one whose value goes away.
        await store.ingest(await target("r5", "mnist", "alice", alice), [{ k: "run", seq: 0, run: runInfo("r5", { createdAt: T0 + 5 }) }, { k: "summary", seq: 1, summary: { acc: 0.8 } }], T0 + 50);
        await send("r3", [{ k: "summary", seq: 2, summary: { loss: 1 } }]);
        expect(await pages(sort, 2)).toEqual(["r2", "r5", "r1", "r4", "r3"]);
        expect((await list({ ...sort, limit: 1, offset: 4 })).total).toBe(5);
      });

      it("filters by state, tag, text and privacy; total counts every match; pages with limit and offset", async () => {
        await seed();
        expect(await list({ state: "running" })).toMatchObject({ total: 2 });
        expect(await ids({ state: "running" })).toEqual(["r4", "r3"]);
        expect(await ids({ tag: "a" })).toEqual(["r2"]);
        expect(await ids({ tag: "x" })).toEqual(["r1"]);
        expect(await ids({ tag: "nope" })).toEqual([]);
        expect(await ids({ text: "A-NAM" })).toEqual(["r2"]); // name, ASCII letters in either case
        expect(await ids({ text: "zet" })).toEqual(["r1"]); // notes
        expect(await ids({ text: "G1" })).toEqual(["r2"]); // group
        expect(await ids({ text: "eva" })).toEqual(["r1"]); // job type
        expect(await ids({ text: "r3" })).toEqual(["r3"]); // id
        expect(await ids({ text: "y" })).toEqual(["r1"]); // a tag
        // Only within a tag: not the punctuation of however a backend keeps the list.
        expect(await ids({ text: '"' })).toEqual([]);
        expect(await ids({ text: "x,y" })).toEqual([]);
        expect(await ids({ text: "_" })).toEqual([]); // literal, not a wildcard
        expect(await ids({ text: "%" })).toEqual([]);
        expect(await ids({ publicOnly: true })).toEqual([]);
        await store.patchRun((await run("r3")).pk, { privacy: "public" });
        expect(await list({ publicOnly: true })).toMatchObject({ total: 1, runs: [{ id: "r3" }] });
        const page = await list({ limit: 2, offset: 1, sort: "id" });
        expect(page.total).toBe(4);
        expectNumbers(page, ["total"]);
        expect(page.runs.map((r) => r.id)).toEqual(["r2", "r3"]);
        expect((await list({ limit: 2, offset: 4 })).runs).toEqual([]);
        const filteredPage = await list({ state: "running", limit: 1, offset: 1 });
        expect(filteredPage).toMatchObject({ total: 2, runs: [{ id: "r3" }] });
        const combined = await list({ text: "name", state: "running", tag: "b" });
        expect(combined).toMatchObject({ total: 1, runs: [{ id: "r4" }] });
        expect(await store.listRuns("alice", "nope", PAGE)).toBeNull();
        expect(await store.listRuns("nobody", "mnist", PAGE)).toBeNull();
      });

      it("returns runs with every field, as getRun does", async () => {
        await seed();
        const listed = (await list({ sort: "id" })).runs;
        for (const r of listed) {
          expect(r).toEqual(await run(r.id));
          expectNumbers(r, RUN_NUMBER_FIELDS);
          expectNumbersOrNull(r, RUN_NULLABLE_NUMBER_FIELDS);
        }
      });
    });

    describe("history", () => {
      it("reads rows in step order by step range and limit, values exact (NaN and the infinities too)", async () => {
        await open("run00001");
        const special: HistoryRow[] = [
          { _step: 10, _timestamp: T0 + 10, _runtime: 0.5, loss: NaN, inf: Infinity, ninf: -Infinity, tiny: 5e-324, phase: "train", ok: true, none: null },
        ];
        await send("run00001", [
          { k: "history", seq: 1, rows: rows(0, 10) },
          { k: "history", seq: 11, rows: special },
        ]);
        // The column form, as the client sends it.
        await send("run00001", [
          {
            k: "history",
            seq: 12,
            n: 3,
            cols: {
              _step: Float64Array.of(11, 12, 13),
              _timestamp: Float64Array.of(T0 + 11, T0 + 12, T0 + 13),
              _runtime: Float64Array.of(11, 12, 13),
              loss: Float64Array.of(0.25, NaN, 1.5),
              eval: [undefined, 7, undefined],
            },
          },
        ]);
        const r = await run("run00001");
        expect(await store.countHistory(r.pk)).toBe(14);
        const all = await store.readHistory(r.pk, { limit: 100 });
        expect(all.map((x) => x._step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
        expect(all.slice(0, 10)).toEqual(rows(0, 10));
        expect(all[10]).toEqual(special[0]);
        expect(Object.is(all[10].loss, NaN)).toBe(true);
        expect(all[11]).toEqual({ _step: 11, _timestamp: T0 + 11, _runtime: 11, loss: 0.25 });
        expect(all[12]).toEqual({ _step: 12, _timestamp: T0 + 12, _runtime: 12, loss: NaN, eval: 7 });
        expect(all[13].loss).toBe(1.5);
        expect((await store.readHistory(r.pk, { minStep: 3, maxStep: 5, limit: 100 })).map((x) => x._step)).toEqual([3, 4, 5]);
        expect((await store.readHistory(r.pk, { minStep: 8, limit: 3 })).map((x) => x._step)).toEqual([8, 9, 10]);
        expect((await store.readHistory(r.pk, { maxStep: 1, limit: 100 })).map((x) => x._step)).toEqual([0, 1]);
        expect(await store.readHistory(r.pk, { minStep: 100, limit: 100 })).toEqual([]);
      });

      it("replaces a resent history record's rows instead of adding them", async () => {
        await open("run00001");
        await send("run00001", [{ k: "history", seq: 1, rows: rows(0, 3) }]);
        await send("run00001", [{ k: "history", seq: 1, rows: rows(0, 3, { extra: 1 }) }]);
        const r = await run("run00001");
        expect(await store.countHistory(r.pk)).toBe(3);
        expect(await store.readHistory(r.pk, { limit: 10 })).toEqual(rows(0, 3, { extra: 1 }));
      });

      it("buckets a metric: min and max per bucket (no spike lost), a zoom range, each axis, and new uploads", async () => {
        await open("run00001");
        // loss = step, except a spike at step 55 and a NaN at step 70.
        const hist = rows(0, 100).map((r) => ({ ...r, loss: r._step === 55 ? 1000 : r._step === 70 ? NaN : r._step, phase: "train", ...(r._step % 2 === 0 ? { half: r._step / 2 } : {}) }));
        await send("run00001", [{ k: "history", seq: 1, rows: hist }]);
        const r = await run("run00001");
        const b = await store.historyBuckets(r.pk, { key: "loss", x: "step", buckets: 10 });
        expect(b).toMatchObject({ key: "loss", x: "step", points: 100, nonFinite: 1 });
        expect(b.x0).toHaveLength(10);
        expect(b.x0[0]).toBe(0);
        expect(b.x1[9]).toBe(99);
        expect(b.count.reduce((s, c) => s + c, 0)).toBe(100);
        expect(b.min[0]).toBe(0);
        expect(b.max[5]).toBe(1000); // the spike survives
        expect(Math.max(...b.max)).toBe(1000);
        expect(b.last[9]).toBe(99);
        // The bucket of the NaN: counted, left out of min, max and mean; a bucket of only NaN has NaN there.
        expect(b.count[7]).toBe(10);
        expect([b.min[7], b.max[7]]).toEqual([71, 79]);
        const zoom = await store.historyBuckets(r.pk, { key: "loss", x: "step", buckets: 1000, from: 20, to: 29 });
        expect(zoom.points).toBe(10);
        expect(zoom.min).toEqual([20, 21, 22, 23, 24, 25, 26, 27, 28, 29]);
        const byTime = await store.historyBuckets(r.pk, { key: "loss", x: "time", buckets: 5, from: T0 + 10_000, to: T0 + 19_000 });
        expect(byTime).toMatchObject({ x: "time", points: 10, x0: [T0 + 10_000, T0 + 11_800, T0 + 13_600, T0 + 15_400, T0 + 17_200] });
        const byRuntime = await store.historyBuckets(r.pk, { key: "loss", x: "runtime", buckets: 2, from: 0, to: 3 });
        expect(byRuntime).toMatchObject({ points: 4, min: [0, 2], max: [1, 3] });
        // Another metric as x: loss against half (logged on even steps only), paired by step; the odd steps are left out.
        const vsMetric = await store.historyBuckets(r.pk, { key: "loss", x: "step", xKey: "half", buckets: 1000, from: 10, to: 12 });
        expect(vsMetric).toMatchObject({ key: "loss", xKey: "half", points: 3, xLast: [10, 11, 12], last: [20, 22, 24] });
        expect((await store.historyBuckets(r.pk, { key: "loss", x: "step", xKey: "nope", buckets: 10 })).points).toBe(0);
        expect((await store.historyBuckets(r.pk, { key: "phase", x: "step", buckets: 10 })).points).toBe(0);
        expect((await store.historyBuckets(r.pk, { key: "nope", x: "step", buckets: 10 })).points).toBe(0);
        // A chart that refreshes sees what was uploaded since.
        await send("run00001", [{ k: "history", seq: 101, rows: rows(100, 10).map((x) => ({ ...x, loss: -5 })) }]);
        const after = await store.historyBuckets(r.pk, { key: "loss", x: "step", buckets: 10 });
        expect(after.points).toBe(110);
        expect(after.min[9]).toBe(-5);
        await send("run00001", [{ k: "history", seq: 111, rows: [{ _step: 500, _timestamp: T0 + 500_000, _runtime: 500, loss: NaN }] }]);
        const nan = await store.historyBuckets(r.pk, { key: "loss", x: "step", buckets: 1, from: 500, to: 500 });
        expect(nan).toMatchObject({ points: 1, nonFinite: 1, count: [1], min: [NaN], max: [NaN], mean: [NaN], last: [NaN] });
      });
    });

    describe("system metrics and console", () => {
      it("reads system samples in time order by range and limit, NaN kept; a resent sample replaces itself", async () => {
        await open("run00001");
        const sample = (at: number, values: Record<string, number>): RunRecord => ({ k: "system", seq: 0, at, values });
        await send("run00001", [sample(T0 + 3000, { "system/cpu": 3 }), sample(T0 + 1000, { "system/cpu": 1, "system/gpu.0.temp": NaN }), sample(T0 + 2000, { "system/mem": 2 })]);
        await send("run00001", [sample(T0 + 2000, { "system/mem": 2.5 })]);
        const r = await run("run00001");
        const all = await store.readSystemMetrics(r.pk, { limit: 10 });
        expect(all.map((s) => s.at)).toEqual([T0 + 1000, T0 + 2000, T0 + 3000]);
        expectNumbers(all[0], ["at"]);
        expect(all[0].values["system/cpu"]).toBe(1);
        expect(Object.is(all[0].values["system/gpu.0.temp"], NaN)).toBe(true);
        expect(all[1].values).toEqual({ "system/mem": 2.5 });
        expect((await store.readSystemMetrics(r.pk, { from: T0 + 2000, to: T0 + 3000, limit: 10 })).map((s) => s.at)).toEqual([T0 + 2000, T0 + 3000]);
        expect((await store.readSystemMetrics(r.pk, { limit: 1 })).map((s) => s.at)).toEqual([T0 + 1000]);
        expect(await store.systemMetricKeys(r.pk)).toEqual(["system/cpu", "system/gpu.0.temp", "system/mem"]);
      });

      it("reads console lines after a seq, by limit, containing a text, and the last lines", async () => {
        await open("run00001");
        const texts = ["Epoch 1 loss=0.5", "epoch 2 100% done", "a_b and axb", "Ünïcode ÉTÉ", "stderr: WARN", "last line"];
        await send("run00001", [{ k: "console", seq: 1, lines: texts.map((text, i) => ({ at: T0 + i, stream: i === 4 ? "stderr" : "stdout", text })) }]);
        await send("run00001", [{ k: "console", seq: 1, lines: texts.slice(0, 2).map((text, i) => ({ at: T0 + i, stream: "stdout", text })) }]); // a resend
        const r = await run("run00001");
        expect(await store.countConsole(r.pk)).toBe(6);
        const all = await store.readConsole(r.pk, { after: -1, limit: 100 });
        expect(all.map((l) => l.text)).toEqual(texts);
        expect(all[4]).toEqual({ seq: 5, at: T0 + 4, stream: "stderr", text: "stderr: WARN" });
        expectNumbers(all[0], ["seq", "at"]);
        expect((await store.readConsole(r.pk, { after: 2, limit: 2 })).map((l) => l.seq)).toEqual([3, 4]);
        const containing = async (contains: string) => (await store.readConsole(r.pk, { after: -1, limit: 100, contains })).map((l) => l.seq);
        expect(await containing("EPOCH")).toEqual([1, 2]); // ASCII letters in either case
        expect(await containing("warn")).toEqual([5]);
        expect(await containing("100%")).toEqual([2]);
        expect(await containing("%")).toEqual([2]); // literal, not a wildcard
        expect(await containing("a_b")).toEqual([3]); // `_` literal: "axb" does not match
        expect(await containing("ÉTÉ")).toEqual([4]);
        expect(await containing("été")).toEqual([]); // letters outside ASCII match only themselves
        expect(await containing("ünï")).toEqual([]);
        expect(await containing("Ünï")).toEqual([4]);
        expect((await store.readConsole(r.pk, { after: 1, limit: 100, contains: "epoch" })).map((l) => l.seq)).toEqual([2]);
        expect((await store.tailConsole(r.pk, 2)).map((l) => l.text)).toEqual(["stderr: WARN", "last line"]);
        expect((await store.tailConsole(r.pk, 100)).map((l) => l.seq)).toEqual([1, 2, 3, 4, 5, 6]);
      });
    });
  });
}

/** A first page sorted by creation time, oldest first, all runs. */
const PAGE: ListRunsQuery = { limit: 50, offset: 0, sort: "createdAt", descending: false, publicOnly: false };
