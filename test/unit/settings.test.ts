import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { resolveSettings } from "../../src/client/settings.js";
import { RUN_NAME_PATTERN, isTracksideError } from "../../src/protocol/index.js";

const home = mkdtempSync(join(tmpdir(), "trk-settings-"));
const base = { HOME: home, TRACKSIDE_API_KEY: "trk_test" } as NodeJS.ProcessEnv;

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a throw");
}

describe("resolveSettings", () => {
  it("applies defaults: project uncategorized, 8-character id, adjective-noun-N name", () => {
    const s = resolveSettings({}, base);
    expect(s.project).toBe("uncategorized");
    expect(s.id).toMatch(/^[a-z0-9]{8}$/);
    expect(s.name).toMatch(RUN_NAME_PATTERN);
    expect(s.mode).toBe("online");
    expect(s.baseUrl).toBe("http://127.0.0.1:8421");
    expect(s.maxImagePixels).toBe(8192 * 8192);
    expect(Object.isFrozen(s)).toBe(true);
  });

  it("reads every option from its environment variable", () => {
    const s = resolveSettings({}, {
      ...base,
      TRACKSIDE_PROJECT: "p1",
      TRACKSIDE_ENTITY: "team-a",
      TRACKSIDE_RUN_ID: "my-run",
      TRACKSIDE_NAME: "nice name",
      TRACKSIDE_NOTES: "why",
      TRACKSIDE_TAGS: "a, b,,c",
      TRACKSIDE_JOB_TYPE: "eval",
      TRACKSIDE_MODE: "offline",
      TRACKSIDE_DIR: "/tmp/x",
      TRACKSIDE_BASE_URL: "http://127.0.0.1:9/",
      TRACKSIDE_RESUME: "allow",
    });
    expect(s).toMatchObject({
      project: "p1",
      entity: "team-a",
      id: "my-run",
      name: "nice name",
      notes: "why",
      tags: ["a", "b", "c"],
      jobType: "eval",
      mode: "offline",
      dir: "/tmp/x",
      baseUrl: "http://127.0.0.1:9",
      resume: "allow",
    });
  });

  it("lets options win over the environment", () => {
    expect(resolveSettings({ project: "opt" }, { ...base, TRACKSIDE_PROJECT: "env" }).project).toBe("opt");
  });

  it.each([
    ["id", { id: "bad/id" }, "TRK_ERR_INVALID_ID", '"/"'],
    ["id", { id: " padded" }, "TRK_ERR_INVALID_ID", "whitespace"],
    ["id", { id: "x".repeat(65) }, "TRK_ERR_INVALID_ID", "65 characters"],
    ["project", { project: "a#b" }, "TRK_ERR_INVALID_PROJECT", '"#"'],
    ["entity", { entity: "no spaces" }, "TRK_ERR_INVALID_ENTITY", "no spaces"],
    ["mode", { mode: "fast" as never }, "TRK_ERR_INVALID_OPTION", "mode"],
    ["config", { config: { f: () => 1 } }, "TRK_ERR_UNLOGGABLE", '"f"'],
    ["batch size", { settings: { batchSize: 2.5 } }, "TRK_ERR_INVALID_OPTION", "settings.batchSize"],
    ["image pixel limit", { settings: { maxImagePixels: 0 } }, "TRK_ERR_INVALID_OPTION", "settings.maxImagePixels"],
  ])("refuses a bad %s with a coded error that names it", (_what, opts, code, fragment) => {
    const err = thrown(() => resolveSettings(opts, base));
    expect(isTracksideError(err, code as never)).toBe(true);
    expect((err as Error).message).toContain(fragment);
  });

  it("asks for an API key in online mode and not offline", () => {
    const noKey = { HOME: home } as NodeJS.ProcessEnv;
    const err = thrown(() => resolveSettings({}, noKey));
    expect(isTracksideError(err, "TRK_ERR_NO_CREDENTIALS")).toBe(true);
    expect((err as Error).message).toContain("trackside server");
    expect(resolveSettings({ mode: "offline" }, noKey).apiKey).toBeNull();
  });

  it("reads the stored key from the HOME of the environment it is given, not the process's", () => {
    const otherHome = mkdtempSync(join(tmpdir(), "trk-settings-other-"));
    mkdirSync(join(otherHome, ".trackside"));
    writeFileSync(
      join(otherHome, ".trackside", "credentials"),
      JSON.stringify({ "http://127.0.0.1:8421": { apiKey: "trk_other", user: "other" } }),
    );
    const processHome = process.env.HOME;
    process.env.HOME = otherHome;
    try {
      const err = thrown(() => resolveSettings({}, { HOME: home } as NodeJS.ProcessEnv));
      expect(isTracksideError(err, "TRK_ERR_NO_CREDENTIALS")).toBe(true);
      expect((err as Error).message).toContain(join(home, ".trackside", "credentials"));
      const fromOther = resolveSettings({}, { HOME: otherHome } as NodeJS.ProcessEnv);
      expect(fromOther.apiKey).toBe("trk_other");
      expect(fromOther.entity).toBe("other");
      expect(fromOther.entityUnnamed).toBe(false);
      // Another key than the stored one: its user is not known here (init() asks the server).
      const otherKey = resolveSettings({}, { HOME: otherHome, TRACKSIDE_API_KEY: "trk_elsewhere" } as NodeJS.ProcessEnv);
      expect(otherKey.entityUnnamed).toBe(true);
      expect(resolveSettings({ entity: "team-a" }, { HOME: otherHome, TRACKSIDE_API_KEY: "trk_elsewhere" } as NodeJS.ProcessEnv).entityUnnamed).toBe(false);
    } finally {
      process.env.HOME = processHome;
    }
  });

  it("fails with TRK_ERR_CORRUPT_FILE naming a credentials file it cannot parse, instead of running without it", () => {
    const corruptHome = mkdtempSync(join(tmpdir(), "trk-settings-corrupt-"));
    mkdirSync(join(corruptHome, ".trackside"));
    writeFileSync(join(corruptHome, ".trackside", "credentials"), "{ not json");
    const err = thrown(() => resolveSettings({}, { HOME: corruptHome } as NodeJS.ProcessEnv));
    expect(isTracksideError(err, "TRK_ERR_CORRUPT_FILE")).toBe(true);
    expect((err as Error).message).toContain(join(corruptHome, ".trackside", "credentials"));
  });
});
