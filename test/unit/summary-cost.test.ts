/**
 * The summary's running cost (run-state.ts, createSummary): the daemon refuses a batch whose
 * summary is over MAX_OBJECT_BYTES, with every step in it, and the summary travels with every
 * batch that carries steps, so one that grows past the limit cost every later step (review of
 * issue #13). The client keeps what the summary costs, key by key, and leaves out a value that
 * would take it over, set or logged alike, with one TRK_ERR_TOO_LARGE problem.
 */
import { describe, expect, it } from "vitest";
import { createSummary } from "../../src/client/run-state.js";
import { MAX_OBJECT_BYTES, objectCost, type JsonObject, type TracksideError } from "../../src/protocol/index.js";

/** A summary whose logged values the test hands in, as the queue would at a catch-up. */
function summaryWith(initial: JsonObject = {}) {
  const problems: TracksideError[] = [];
  const leftOut: TracksideError[] = [];
  let logged: JsonObject = {};
  const { summary, values } = createSummary(
    () => {},
    (e) => problems.push(e),
    (into) => {
      Object.assign(into, logged);
      logged = {};
    },
    initial,
    (e) => leftOut.push(e),
  );
  return { summary, values, problems, leftOut, log: (v: JsonObject) => (logged = { ...logged, ...v }) };
}

/** A little under MAX_OBJECT_BYTES / 8 (strings are at most 64 Ki characters each): eight fit, a ninth does not. */
const EIGHTH = Array<string>(41).fill("s".repeat(50_000));

describe("the summary's cost", () => {
  it("set(): a value that would take the summary over the limit is left out with TRK_ERR_TOO_LARGE; the rest stays", () => {
    const s = summaryWith();
    for (let i = 0; i < 8; i++) s.summary.set(`k${i}`, EIGHTH);
    expect(s.problems).toEqual([]);
    s.summary.set("k8", EIGHTH);
    expect(s.problems.map((e) => e.code)).toEqual(["TRK_ERR_TOO_LARGE"]);
    expect(s.problems[0].message).toContain('"k8"');
    expect(Object.keys(s.values())).toEqual(["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"]);
    expect(objectCost(s.values())).toBeLessThanOrEqual(MAX_OBJECT_BYTES);
  });

  it("set(): many values under 64 KiB add up; those that would cross the limit are left out (the client checked only larger ones)", () => {
    const s = summaryWith();
    const v = "s".repeat(60_000);
    for (let i = 0; i < 300; i++) s.summary.set(`big${i}`, v);
    const kept = Object.keys(s.values()).length;
    expect(kept).toBeGreaterThan(270);
    expect(kept).toBeLessThan(300);
    expect(s.problems).toHaveLength(300 - kept);
    expect(objectCost(s.values())).toBeLessThanOrEqual(MAX_OBJECT_BYTES);
  });

  it("overwrites: a smaller value frees room, a larger one is charged the difference", () => {
    const s = summaryWith();
    for (let i = 0; i < 8; i++) s.summary.set(`k${i}`, EIGHTH);
    s.summary.set("k0", [...EIGHTH, "x".repeat(64)]); // larger, still within: charged 64 more
    expect(s.problems).toEqual([]);
    s.summary.set("k1", [...EIGHTH, ...EIGHTH]); // larger by an eighth: over
    expect(s.problems).toHaveLength(1);
    expect(s.values().k1).toEqual(EIGHTH); // the earlier value stays
    s.summary.set("k2", 1); // smaller: frees an eighth
    s.summary.set("k8", EIGHTH);
    expect(s.problems).toHaveLength(1);
    expect(s.values().k8).toEqual(EIGHTH);
    expect(objectCost(s.values())).toBeLessThanOrEqual(MAX_OBJECT_BYTES);
  });

  it("catch-up from logged values: keys that would take it over are left out, reported once, and taken once they fit", () => {
    const s = summaryWith();
    const v = "s".repeat(60_000);
    const big: JsonObject = {};
    for (let i = 0; i < 300; i++) big[`big${i}`] = v;
    s.log({ ...big, loss: 0.5 });
    const kept = Object.keys(s.values()).filter((k) => k.startsWith("big")).length;
    expect(kept).toBeGreaterThan(270);
    expect(kept).toBeLessThan(300);
    expect(s.leftOut).toHaveLength(1);
    expect(s.leftOut[0].code).toBe("TRK_ERR_TOO_LARGE");
    expect(s.leftOut[0].message).toContain(`"big${kept}" and ${300 - kept - 1} other logged keys`);
    expect(s.values().loss).toBe(0.5);
    expect(s.problems).toEqual([]);
    // The same keys logged again: not reported again; the small ones still come in.
    s.log({ [`big${kept}`]: v, [`big${kept + 1}`]: v, loss: 0.25 });
    expect(s.values().loss).toBe(0.25);
    expect(s.leftOut).toHaveLength(1);
    // A left-out key logged small fits, and is taken.
    s.log({ [`big${kept}`]: 7 });
    expect(s.values()[`big${kept}`]).toBe(7);
    expect(objectCost(s.values())).toBeLessThanOrEqual(MAX_OBJECT_BYTES);
  });

  it("counts a resumed run's summary from the start", () => {
    const initial: JsonObject = {};
    for (let i = 0; i < 8; i++) initial[`k${i}`] = EIGHTH;
    const s = summaryWith(initial);
    s.summary.set("k8", EIGHTH);
    expect(s.problems).toHaveLength(1);
    expect(Object.keys(s.values())).toHaveLength(8);
  });
});
