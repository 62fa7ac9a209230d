/**
 * Values that broke reads or writes when issue #13 was filed, and their neighbours: 64-bit
 * integers, maps with non-string keys, rows of more than 65,535 keys, deep nesting, cycles, huge
 * strings, non-finite numbers, typed arrays of every kind. Each comes with the encoder that can
 * carry it (msgpackr with structured cloning for cycles, BigInt extensions beyond 64 bits).
 */
import { Packr } from "msgpackr";
import type { Rng } from "../helpers/fuzz.js";

/** The protocol's own settings (protocol/codec.ts), and encoders an attacker could use instead. */
export const PACKERS = {
  protocol: new Packr({ useRecords: true, moreTypes: true }),
  plainMaps: new Packr({ useRecords: false, moreTypes: true, mapsAsObjects: false }),
  structuredClone: new Packr({ structuredClone: true, moreTypes: true }),
  bigIntExtension: new Packr({ useRecords: true, moreTypes: true, useBigIntExtension: true }),
} as const;
export type PackerName = keyof typeof PACKERS;

/** A leaf that JSON can carry. */
export function jsonLeaf(rng: Rng): unknown {
  return rng.pick<() => unknown>([
    () => rng.range(-1000, 1000),
    () => rng.float(),
    () => 2 ** 53,
    () => -(2 ** 53) - 2,
    () => 1e15,
    () => -1,
    () => 1e308,
    () => 5e-324,
    () => -0,
    () => rng.text(),
    () => "",
    () => "__proto__",
    () => "x".repeat(rng.pick([1000, 70_000, 1_100_000])),
    () => "\u001b]0;pwned\u0007\u001b[2J",
    () => true,
    () => null,
  ])();
}

/** A leaf only msgpack (and msgpackr's extensions) can carry. */
export function msgpackLeaf(rng: Rng): { value: unknown; packer: PackerName } {
  return rng.pick<() => { value: unknown; packer: PackerName }>([
    () => ({ value: 2n ** 63n - 1n, packer: "protocol" }),
    () => ({ value: -(2n ** 63n), packer: "protocol" }),
    () => ({ value: 2n ** 64n - 1n, packer: "protocol" }),
    () => ({ value: BigInt(rng.range(0, 1000)), packer: "protocol" }),
    () => ({ value: 2n ** 200n + 7n, packer: "bigIntExtension" }),
    () => ({ value: NaN, packer: "protocol" }),
    () => ({ value: Infinity, packer: "protocol" }),
    () => ({ value: -Infinity, packer: "protocol" }),
    () => ({ value: undefined, packer: "protocol" }),
    () => ({ value: new Date(rng.range(0, 2 ** 31) * 1000), packer: "protocol" }),
    () => ({ value: new Map<unknown, unknown>([[1, "one"], [true, 2], [null, 3]]), packer: "plainMaps" }),
    () => ({ value: new Map<unknown, unknown>([[{ a: 1 }, "obj key"], [[1, 2], "array key"]]), packer: "plainMaps" }),
    () => ({ value: new Set([1, "a", null]), packer: "protocol" }),
    () => ({ value: new Error("boom"), packer: "protocol" }),
    () => ({ value: /re(g)ex/gi, packer: "protocol" }),
    () => ({ value: typedArray(rng), packer: "protocol" }),
    () => ({ value: cyclic(rng), packer: "structuredClone" }),
    () => ({ value: sharedTwice(), packer: "structuredClone" }),
    () => ({ value: deep(rng, rng.pick([100, 1000, 20_000])), packer: "protocol" }),
    () => ({ value: wide(rng.pick([1000, 65_536, 70_000])), packer: "protocol" }),
  ])();
}

export function typedArray(rng: Rng): ArrayBufferView {
  const n = rng.range(0, 8);
  const kinds: Array<() => ArrayBufferView> = [
    () => Int8Array.from({ length: n }, () => rng.range(-128, 127)),
    () => Uint8Array.from({ length: n }, () => rng.range(0, 255)),
    () => Uint8ClampedArray.from({ length: n }, () => rng.range(0, 255)),
    () => Int16Array.from({ length: n }, () => rng.range(-100, 100)),
    () => Uint16Array.from({ length: n }, () => rng.range(0, 100)),
    () => Int32Array.from({ length: n }, () => rng.range(-100, 100)),
    () => Uint32Array.from({ length: n }, () => rng.range(0, 100)),
    () => Float32Array.from({ length: n }, () => rng.float()),
    () => Float64Array.from({ length: n }, () => rng.pick([rng.float(), NaN, Infinity])),
    () => BigInt64Array.from({ length: n }, () => BigInt(rng.range(-5, 5)) * 2n ** 60n),
    () => BigUint64Array.from({ length: n }, () => 2n ** 64n - 1n),
    () => new DataView(new ArrayBuffer(n)),
  ];
  return rng.pick(kinds)();
}

export function cyclic(rng: Rng): unknown {
  const a: Record<string, unknown> = { name: rng.text() };
  a.self = a;
  return rng.chance(0.5) ? a : [a, { back: a }];
}

/** One object referenced twice: not a cycle, but a structured-clone reference all the same. */
function sharedTwice(): unknown {
  const o = { v: 1 };
  return { a: o, b: o };
}

/** Nested `depth` levels deep, alternating arrays and maps. */
export function deep(rng: Rng, depth: number): unknown {
  let v: unknown = rng.range(0, 9);
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { d: v };
  return v;
}

/** An object of `n` keys. */
export function wide(n: number): Record<string, number> {
  const o: Record<string, number> = {};
  for (let i = 0; i < n; i++) o[`k${i}`] = i;
  return o;
}

/** Any value for a field of a record: a JSON leaf, an msgpack-only leaf, or a structure of them. */
export function anyValue(rng: Rng, used: Set<PackerName>, depth = 0): unknown {
  const r = rng.int(10);
  if (r < 4) return jsonLeaf(rng);
  if (r < 8 || depth > 2) {
    const { value, packer } = msgpackLeaf(rng);
    used.add(packer);
    return value;
  }
  if (r === 8) return Array.from({ length: rng.range(0, 3) }, () => anyValue(rng, used, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = rng.range(0, 3); i > 0; i--) o[rng.chance(0.8) ? rng.text(6) : "__proto__"] = anyValue(rng, used, depth + 1);
  return o;
}

/** The packer that can encode everything `used` needs (cycles win: structured cloning carries the rest). */
export function packerFor(used: Set<PackerName>): Packr {
  if (used.has("structuredClone")) return PACKERS.structuredClone;
  if (used.has("plainMaps")) return PACKERS.plainMaps;
  if (used.has("bigIntExtension")) return PACKERS.bigIntExtension;
  return PACKERS.protocol;
}
