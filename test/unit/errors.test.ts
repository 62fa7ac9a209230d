import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ERROR_CODES, errors, isTracksideError } from "../../src/protocol/index.js";

describe("error registry", () => {
  it("documents every code in docs/errors.md, and nothing else", () => {
    const doc = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
    const documented = [...doc.matchAll(/^\| `(TRK_ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented).toEqual([...ERROR_CODES]);
  });

  it("has a factory for every code whose message is not empty", () => {
    const produced = new Set<string>();
    for (const factory of Object.values(errors)) {
      const err = (factory as (...a: unknown[]) => Error)("x", "y", "z");
      expect(isTracksideError(err)).toBe(true);
      expect(err.message.length).toBeGreaterThan(20);
      produced.add((err as unknown as { code: string }).code);
    }
    expect([...produced].sort()).toEqual([...ERROR_CODES].sort());
  });
});
