import { existsSync } from "node:fs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RUN_ID_LENGTH, RUN_NAME_PATTERN, generateRunId, generateRunName } from "../../src/protocol/index.js";

describe("run ids and names", () => {
  afterEach(() => vi.restoreAllMocks());

  it("stay distinct when the program has seeded Math.random (reproducible experiments)", () => {
    vi.spyOn(Math, "random").mockReturnValue(0.42); // what seedrandom({ global: true }) amounts to
    const ids = new Set(Array.from({ length: 200 }, () => generateRunId()));
    expect(ids.size).toBe(200);
    for (const id of ids) expect(id).toMatch(new RegExp(`^[a-z0-9]{${RUN_ID_LENGTH}}$`));
    const names = new Set(Array.from({ length: 50 }, () => generateRunName()));
    expect(names.size).toBeGreaterThan(1);
    for (const n of names) expect(n).toMatch(RUN_NAME_PATTERN);
  });

  it.runIf(existsSync("/dev/urandom"))("come from /dev/urandom where there is one, without loading Web Crypto", () => {
    const getRandomValues = vi.spyOn(globalThis.crypto, "getRandomValues");
    const ids = new Set(Array.from({ length: 100 }, () => generateRunId()));
    expect(ids.size).toBe(100);
    expect(generateRunName()).toMatch(RUN_NAME_PATTERN);
    expect(getRandomValues).not.toHaveBeenCalled();
  });
});
