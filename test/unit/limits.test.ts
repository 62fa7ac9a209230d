/**
 * The client checks the limits of protocol/limits.ts (issue #13, point 3): a value over one is
 * TRK_ERR_TOO_LARGE at init() or at the setter, and left out with a warning from log() and
 * config.update(), instead of travelling to the daemon, which would refuse the whole batch.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import * as trackside from "../../src/client/index.js";
import { resolveSettings } from "../../src/client/settings.js";
import { checkConfigObject, flattenInto } from "../../src/client/values.js";
import {
  isTracksideError,
  MAX_DEPTH,
  MAX_GROUP,
  MAX_JOB_TYPE,
  MAX_KEY,
  MAX_NAME,
  MAX_NOTES,
  MAX_PROJECT,
  MAX_ROW_KEYS,
  MAX_STRING_VALUE,
  MAX_TAG,
  MAX_TAGS,
  validateProject,
  validateRunId,
  type Scalar,
} from "../../src/protocol/index.js";

const home = mkdtempSync(join(tmpdir(), "trk-limits-"));
const base = { HOME: home, TRACKSIDE_API_KEY: "trk_test" } as NodeJS.ProcessEnv;

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isTracksideError(err)) return err.code;
    throw err;
  }
  return "no error";
}

const x = (n: number) => "x".repeat(n);
const tags = (n: number) => Array.from({ length: n }, (_, i) => `t${i}`);

describe("init() options at their limits", () => {
  const cases: [string, object, object][] = [
    ["name", { name: x(MAX_NAME) }, { name: x(MAX_NAME + 1) }],
    ["notes", { notes: x(MAX_NOTES) }, { notes: x(MAX_NOTES + 1) }],
    ["tags (count)", { tags: tags(MAX_TAGS) }, { tags: tags(MAX_TAGS + 1) }],
    ["tags (length)", { tags: [x(MAX_TAG)] }, { tags: [x(MAX_TAG + 1)] }],
    ["group", { group: x(MAX_GROUP) }, { group: x(MAX_GROUP + 1) }],
    ["jobType", { jobType: x(MAX_JOB_TYPE) }, { jobType: x(MAX_JOB_TYPE + 1) }],
    ["config string", { config: { prompt: x(MAX_STRING_VALUE) } }, { config: { prompt: x(MAX_STRING_VALUE + 1) } }],
    ["config key", { config: { [x(MAX_KEY)]: 1 } }, { config: { [x(MAX_KEY + 1)]: 1 } }],
  ];
  for (const [what, ok, over] of cases) {
    it(`takes ${what} at the limit and refuses one over it with TRK_ERR_TOO_LARGE`, () => {
      expect(codeOf(() => resolveSettings(ok, base))).toBe("no error");
      expect(codeOf(() => resolveSettings(over, base))).toBe("TRK_ERR_TOO_LARGE");
    });
  }

  it("refuses config nested deeper than the daemon and server accept", () => {
    const nest = (depth: number): Record<string, unknown> => {
      let v: Record<string, unknown> = { v: 1 };
      for (let i = 0; i < depth; i++) v = { a: v };
      return v;
    };
    expect(() => checkConfigObject(nest(MAX_DEPTH - 2), "config")).not.toThrow();
    expect(codeOf(() => checkConfigObject(nest(MAX_DEPTH + 1), "config"))).toBe("TRK_ERR_TOO_LARGE");
    expect(codeOf(() => checkConfigObject(nest(20_000), "config"))).toBe("TRK_ERR_TOO_LARGE");
  });

  it("agrees with the server on project names (128 characters) and refuses the run ids . and ..", () => {
    expect(validateProject(x(MAX_PROJECT))).toHaveLength(128);
    expect(codeOf(() => validateProject(x(MAX_PROJECT + 1)))).toBe("TRK_ERR_INVALID_PROJECT");
    for (const id of [".", ".."]) {
      expect(codeOf(() => validateRunId(id))).toBe("TRK_ERR_INVALID_ID");
      expect(codeOf(() => validateProject(id))).toBe("TRK_ERR_INVALID_PROJECT");
    }
    expect(validateRunId("...")).toBe("...");
  });
});

describe("the run's setters", () => {
  afterEach(async () => {
    await trackside.finish();
  });

  it("refuse a name, notes or tags over the limits with TRK_ERR_TOO_LARGE and keep the old value", async () => {
    const run = await trackside.init({ mode: "disabled", settings: { silent: true } });
    run.name = x(MAX_NAME);
    expect(codeOf(() => (run.name = x(MAX_NAME + 1)))).toBe("TRK_ERR_TOO_LARGE");
    expect(run.name).toBe(x(MAX_NAME));
    expect(codeOf(() => (run.notes = x(MAX_NOTES + 1)))).toBe("TRK_ERR_TOO_LARGE");
    expect(codeOf(() => (run.tags = tags(MAX_TAGS + 1)))).toBe("TRK_ERR_TOO_LARGE");
    expect(codeOf(() => (run.tags = [x(MAX_TAG + 1)]))).toBe("TRK_ERR_TOO_LARGE");
    expect(codeOf(() => (run.tags = [" "]))).toBe("TRK_ERR_INVALID_OPTION");
    expect(run.tags).toEqual([]);
  });
});

describe("log() values at their limits", () => {
  const sink = () => {
    const put: Record<string, Scalar> = {};
    return { put, sink: { put: (k: string, v: Scalar) => void (put[k] = v) } };
  };

  it("leaves out a key, a string or a nesting over the limit, logs the rest, and says why", () => {
    const { put, sink: s } = sink();
    const problems = flattenInto(s, { ok: 1, [x(MAX_KEY + 1)]: 2, text: x(MAX_STRING_VALUE + 1), fine: x(MAX_STRING_VALUE) });
    expect(Object.keys(put)).toEqual(["ok", "fine"]);
    expect(problems?.map((p) => p.code)).toEqual(["TRK_ERR_TOO_LARGE", "TRK_ERR_TOO_LARGE"]);

    let deep: Record<string, unknown> = { v: 1 };
    for (let i = 0; i < 20_000; i++) deep = { a: deep };
    const nested = sink();
    const deepProblems = flattenInto(nested.sink, { deep, ok: 1 });
    expect(Object.keys(nested.put)).toEqual(["ok"]);
    expect(deepProblems?.map((p) => p.code)).toEqual(["TRK_ERR_TOO_LARGE"]);
  });

  it("logs at most the step's key limit from one call (less the three trackside adds)", () => {
    const wide: Record<string, number> = {};
    for (let i = 0; i < MAX_ROW_KEYS + 10; i++) wide[`m${i}`] = i;
    const { put, sink: s } = sink();
    const problems = flattenInto(s, wide);
    expect(Object.keys(put)).toHaveLength(MAX_ROW_KEYS - 3);
    expect(problems?.map((p) => p.code)).toEqual(["TRK_ERR_TOO_LARGE"]);
    // The next call starts its own count.
    expect(flattenInto(s, { after: 1 })).toBeNull();
  });
});
