import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { requireZeromq } from "../../src/protocol/zeromq.js";
import { ROOT, makeEnv } from "../helpers/processes.js";

const VENDOR = join(ROOT, "dist/vendor/zeromq.cjs");
const require = createRequire(import.meta.url);
const g = globalThis as { __TRACKSIDE_ZEROMQ__?: { path: string; version: string } };

describe("loading zeromq", () => {
  afterEach(() => {
    delete g.__TRACKSIDE_ZEROMQ__;
  });

  it("takes the vendor bundle where it was built from the installed zeromq and is there, and the package otherwise", () => {
    const { version } = require("zeromq/package.json") as { version: string };
    g.__TRACKSIDE_ZEROMQ__ = { path: VENDOR, version };
    const bundled = requireZeromq();
    expect(typeof bundled.Dealer).toBe("function");
    expect(bundled).toBe(require(VENDOR));
    g.__TRACKSIDE_ZEROMQ__ = { path: join(ROOT, "no/such/file.cjs"), version: "0.0.1" };
    expect(requireZeromq()).toBe(require("zeromq")); // another release: the package, not the path
    g.__TRACKSIDE_ZEROMQ__ = { path: join(ROOT, "no/such/file.cjs"), version };
    expect(requireZeromq()).toBe(require("zeromq")); // no vendor file (trackside bundled by an app)
  });

  it("is loaded by the client bundle from dist/vendor, not from the zeromq package", () => {
    const t = makeEnv();
    const script = `
      const trackside = await import("trackside");
      const run = await trackside.init({ project: "p", mode: "offline", settings: { silent: true } });
      await run.finish();
      const { createRequire } = await import("node:module");
      console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));`;
    const p = spawnSync(process.execPath, ["--input-type=module", "-e", script], { env: t.env, cwd: ROOT, encoding: "utf8" });
    expect(p.status, p.stderr).toBe(0);
    const loaded = JSON.parse(p.stdout.trim().split("\n").pop()!) as string[];
    expect(loaded).toContain(VENDOR);
    expect(loaded.filter((f) => f.includes(`${join("node_modules", "zeromq", "lib")}`))).toEqual([]);
  });
});
