/** W&B's JSON lines: bare NaN and ±Infinity are numbers; the same words inside strings stay text. */
import { describe, expect, it } from "vitest";
import { parseWandbJson } from "../../src/protocol/wandb-mapping.js";
import { splitConfig, wrapConfig } from "../../src/server/wandb/config-shape.js";

describe("parseWandbJson", () => {
  it("reads bare NaN, Infinity and -Infinity as numbers, and leaves them alone inside strings", () => {
    expect(parseWandbJson('{"a":NaN,"b":Infinity,"c":-Infinity,"d":[NaN,1],"e":1e+09}')).toEqual({ a: NaN, b: Infinity, c: -Infinity, d: [NaN, 1], e: 1e9 });
    expect(parseWandbJson('{"NaN":"Infinity and \\"NaN\\"","x":-1}')).toEqual({ NaN: 'Infinity and "NaN"', x: -1 });
  });

  it("still refuses what is not JSON", () => {
    expect(() => parseWandbJson('{"a":nan}')).toThrow(SyntaxError);
    expect(() => parseWandbJson('{"a":NaNx}')).toThrow(SyntaxError);
  });
});

describe("splitConfig", () => {
  it("unwraps {value} entries only when every entry is one, and keeps _wandb apart", () => {
    expect(splitConfig({ lr: { value: 0.1, desc: null }, _wandb: { value: { t: { 1: [1] } } } })).toEqual({ config: { lr: 0.1 }, wandb: { t: { 1: [1] } } });
    expect(splitConfig({ a: 1, b: { value: 2 } })).toEqual({ config: { a: 1, b: { value: 2 } }, wandb: null });
    expect(wrapConfig({ lr: 0.1 }, null)).toEqual({ lr: { value: 0.1 } });
  });
});
