import { describe, expect, it } from "vitest";
import { History, type StepSink } from "../../src/client/history.js";
import type { HistoryRow, Scalar } from "../../src/protocol/index.js";

function make(startMs = 1000) {
  const rows: HistoryRow[] = [];
  let current: Record<string, Scalar> = {};
  const sink: StepSink = {
    put: (key, value) => {
      // The step's own three come with endRow(), never as values (the column batch keeps them apart).
      if (key === "_step" || key === "_timestamp" || key === "_runtime") throw new Error(`${key} put as a value`);
      current[key] = value;
    },
    endRow: (step, timestamp, runtime) => {
      rows.push({ ...current, _step: step, _timestamp: timestamp, _runtime: runtime } as HistoryRow);
      current = {};
    },
  };
  let now = startMs;
  const h = new History(startMs, sink, () => (now += 500));
  return { h, rows };
}

describe("step semantics (W&B's)", () => {
  it("advances an implicit counter on each committed log", () => {
    const { h, rows } = make();
    h.log({ loss: 1 });
    h.log({ loss: 0.5 });
    expect(rows.map((r) => [r._step, r.loss])).toEqual([
      [0, 1],
      [1, 0.5],
    ]);
    expect(rows[0]._runtime).toBe(0.5);
    expect(h.step).toBe(2);
  });

  it("merges commit:false calls into one step", () => {
    const { h, rows } = make();
    h.log({ loss: 1 }, { commit: false });
    h.log({ acc: 0.9 }, { commit: false });
    expect(rows).toHaveLength(0);
    h.log({ lr: 0.1 });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ _step: 0, loss: 1, acc: 0.9, lr: 0.1 });
  });

  it("keeps an explicit step open until the step changes, then moves the counter", () => {
    const { h, rows } = make();
    h.log({ a: 1 }, { step: 5 });
    h.log({ b: 2 }, { step: 5 });
    expect(rows).toHaveLength(0);
    h.log({ c: 3 }, { step: 7 });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ _step: 5, a: 1, b: 2 });
    h.log({ d: 4 });
    expect(rows.map((r) => r._step)).toEqual([5, 7]);
    expect(rows[1]).toMatchObject({ c: 3, d: 4 });
    expect(h.step).toBe(8);
  });

  it("refuses a step lower than the current one and mixes nothing into another step", () => {
    const { h, rows } = make();
    h.log({ a: 1 });
    h.log({ a: 2 });
    const problems = h.log({ a: 99, b: 99 }, { step: 0 }) ?? [];
    expect(problems.map((p) => p.code)).toEqual(["TRK_ERR_STEP_BACKWARDS"]);
    expect(problems[0].message).toContain("Step 0 is lower than the run's current step 2");
    h.log({ a: 3 });
    expect(rows.map((r) => r.a)).toEqual([1, 2, 3]);
    expect(rows.some((r) => r.b !== undefined)).toBe(false);
  });

  it("logs the good keys of a call and names the bad ones", () => {
    const { h, rows } = make();
    const circular: Record<string, unknown> = { x: 1 };
    circular.self = circular;
    const problems = h.log({ ok: 1, f: () => 1, s: Symbol("s"), big: 10n, c: circular, nested: { deep: { v: 2 } } }) ?? [];
    expect(problems.map((p) => [p.code, p.details.key])).toEqual([
      ["TRK_ERR_UNLOGGABLE", "f"],
      ["TRK_ERR_UNLOGGABLE", "s"],
      ["TRK_ERR_UNLOGGABLE", "big"],
      ["TRK_ERR_UNLOGGABLE", "c/self"],
    ]);
    expect(rows[0]).toMatchObject({ ok: 1, "c/x": 1, "nested/deep/v": 2 });
  });

  it("keeps NaN, infinities, booleans, strings and null", () => {
    const { h, rows } = make();
    h.log({ n: NaN, p: Infinity, m: -Infinity, b: true, s: "x", z: null });
    expect(rows[0].n).toBeNaN();
    expect(rows[0]).toMatchObject({ p: Infinity, m: -Infinity, b: true, s: "x", z: null });
  });

  it("refuses the reserved keys trackside sets itself", () => {
    const { h, rows } = make();
    const problems = h.log({ _step: 100, loss: 1 }) ?? [];
    expect(problems[0].code).toBe("TRK_ERR_UNLOGGABLE");
    expect(rows[0]._step).toBe(0);
  });
});
