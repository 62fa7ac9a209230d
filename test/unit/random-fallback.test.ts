import { describe, expect, it, vi } from "vitest";

// A system without /dev/urandom (Windows): the words come from Web Crypto.
vi.mock("node:fs", async (importOriginal) => ({
  ...(await importOriginal<typeof import("node:fs")>()),
  openSync: (path: string) => {
    throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: "ENOENT" });
  },
}));

describe("random words without /dev/urandom", () => {
  it("come from Web Crypto, and run ids stay random", async () => {
    vi.resetModules(); // the setup file loaded protocol/ before the mock: load it again, with it
    const getRandomValues = vi.spyOn(globalThis.crypto, "getRandomValues");
    const { generateRunId } = await import("../../src/protocol/ids.js");
    const ids = new Set(Array.from({ length: 100 }, () => generateRunId()));
    expect(ids.size).toBe(100);
    expect(getRandomValues).toHaveBeenCalledTimes(100);
  });
});
