/**
 * What the fuzz suites (test/fuzz/) share: a seeded PRNG, the seed and the time budget from the
 * environment, byte mutators, and a ledger of broken promises that prints the seed and the input
 * that broke each one, so that any failure can be replayed.
 *
 * Every input i of a suite is drawn from its own generator, seeded with (seed, i): input i is the
 * same whatever the inputs before it did or however many fit in the time budget, so a failure
 * is replayed with `TRACKSIDE_FUZZ_SEED=<seed>`, reading input #i.
 *
 * Environment: TRACKSIDE_FUZZ_SEED (a number, 0x-hex, or "random"), TRACKSIDE_FUZZ_SECONDS (the
 * time budget of each suite; `npm run fuzz -- --seconds N` sets both).
 */
import { randomBytes } from "node:crypto";
import { ERROR_CODES } from "../../src/protocol/errors.js";

/** A small, fast, seeded generator (mulberry32): good enough to pick inputs, not for secrets. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** A uniform 32-bit word. */
  u32(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** A float in [0, 1). */
  float(): number {
    return this.u32() / 2 ** 32;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }
  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.float() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  /** Picks by weight: `[[3, a], [1, b]]` gives a three times out of four. */
  weighted<T>(choices: ReadonlyArray<readonly [number, T]>): T {
    let total = 0;
    for (const [w] of choices) total += w;
    let r = this.float() * total;
    for (const [w, v] of choices) if ((r -= w) < 0) return v;
    return choices[choices.length - 1][1];
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
  /** A short string of printable ASCII, sometimes with odd characters. */
  text(max = 12): string {
    const n = this.int(max + 1);
    let s = "";
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.chance(0.9) ? this.range(0x61, 0x7a) : this.pick([0, 0x1b, 0x2f, 0x2e, 0x5c, 0x2028, 0xd800, 0xfeff, 0x25, 0x22]));
    return s;
  }
}

/** The seed of a suite: TRACKSIDE_FUZZ_SEED, else the suite's fixed default (npm test is reproducible). */
export function fuzzSeed(fallback: number): number {
  const raw = process.env.TRACKSIDE_FUZZ_SEED;
  if (!raw) return fallback >>> 0;
  if (raw === "random") return randomBytes(4).readUInt32LE(0);
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`TRACKSIDE_FUZZ_SEED=${raw}: expected an integer from 0 to 2^32-1 (or "random")`);
  return n;
}

/** The time budget of a suite in ms: TRACKSIDE_FUZZ_SECONDS, else `fallbackS`. */
export function fuzzMs(fallbackS: number): number {
  const raw = process.env.TRACKSIDE_FUZZ_SECONDS;
  const s = raw ? Number(raw) : fallbackS;
  if (!Number.isFinite(s) || s <= 0) throw new Error(`TRACKSIDE_FUZZ_SECONDS=${raw}: expected a positive number of seconds`);
  return s * 1000;
}

/** The generator of input i of a run seeded with `seed`. */
export function inputRng(seed: number, i: number): Rng {
  // Two rounds of mixing so that neighbouring (seed, i) pairs give unrelated streams.
  const r = new Rng((seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
  return new Rng(r.u32() ^ r.u32());
}

export const hex = (s: number) => `0x${(s >>> 0).toString(16).padStart(8, "0")}`;

/** Bytes as hex, cut at `max` bytes (with the length said). */
export function showBytes(b: Uint8Array, max = 1024): string {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const shown = buf.subarray(0, max).toString("hex");
  return buf.length > max ? `${shown}... (${buf.length} bytes, first ${max} shown)` : `${shown} (${buf.length} bytes)`;
}

/** A value as JSON for a message: BigInt, typed arrays, Maps, NaN, cycles survive as descriptions. */
export function showValue(v: unknown, max = 2000): string {
  const seen = new WeakSet<object>();
  let s: string;
  try {
    s = JSON.stringify(v, (_k, x: unknown) => {
      if (typeof x === "bigint") return `${x}n`;
      if (typeof x === "number" && !Number.isFinite(x)) return String(x);
      if (typeof x === "undefined") return "<undefined>";
      if (x instanceof Map) return { "<Map>": [...x.entries()].slice(0, 20) };
      if (ArrayBuffer.isView(x)) return `<${x.constructor.name} ${showBytes(x as Uint8Array, 64)}>`;
      if (typeof x === "object" && x !== null) {
        if (seen.has(x)) return "<cycle>";
        seen.add(x);
      }
      if (typeof x === "string" && x.length > 200) return `${x.slice(0, 200)}...(${x.length} chars)`;
      return x;
    }) ?? "undefined";
  } catch (err) {
    s = `<not showable: ${(err as Error).message}>`;
  }
  return s.length > max ? `${s.slice(0, max)}... (${s.length} chars)` : s;
}

/** Mutations of a byte string: bit flips, cuts, inserted garbage, repeated slices. */
export function mutateBytes(rng: Rng, input: Uint8Array): Buffer {
  let b = Buffer.from(input);
  const rounds = rng.range(1, 4);
  for (let r = 0; r < rounds; r++) {
    const at = b.length === 0 ? 0 : rng.int(b.length);
    switch (rng.int(6)) {
      case 0: // flip one bit
        if (b.length) b[at] ^= 1 << rng.int(8);
        break;
      case 1: // a random byte
        if (b.length) b[at] = rng.u32() & 0xff;
        break;
      case 2: // cut the end off
        b = b.subarray(0, at);
        break;
      case 3: // insert garbage
        b = Buffer.concat([b.subarray(0, at), rng.bytes(rng.range(1, 16)), b.subarray(at)]);
        break;
      case 4: // repeat a slice
        b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + rng.range(1, 32)), b.subarray(at)]);
        break;
      case 5: // an interesting byte (msgpack type tags that grow lengths, nil, ext)
        if (b.length) b[at] = rng.pick([0x00, 0x7f, 0x80, 0xc0, 0xc1, 0xc7, 0xcf, 0xd3, 0xd4, 0xd9, 0xdc, 0xdd, 0xde, 0xdf, 0xff]);
        break;
    }
  }
  return b;
}

/** Whether an error code is one of the registry's (what every refusal must carry). */
export function isKnownCode(code: unknown): boolean {
  return typeof code === "string" && (ERROR_CODES as readonly string[]).includes(code);
}

export interface Breach {
  /** The promise broken, in words ("the daemon answered", "no 5xx"...). */
  promise: string;
  /** Which input (its number and generator) and what it was. */
  input: string;
  /** What happened instead. */
  got: string;
}

/**
 * The tally of one suite: inputs tried, crashes, lost records and every broken promise, with the
 * seed. `summary()` is the one line the suite prints (docs/guarantees.md says how to read it).
 */
export class FuzzLedger {
  tried = 0;
  crashes = 0;
  lost = 0;
  readonly breaches: Breach[] = [];
  private readonly counts = new Map<string, number>();
  private readonly started = Date.now();
  constructor(
    readonly suite: string,
    readonly seed: number,
  ) {}

  /** Records a broken promise; the first few of each kind keep their full input. */
  breach(promise: string, input: string, got: string): void {
    const n = (this.counts.get(promise) ?? 0) + 1;
    this.counts.set(promise, n);
    if (n <= 3) this.breaches.push({ promise, input, got });
  }

  get broken(): number {
    let n = 0;
    for (const c of this.counts.values()) n += c;
    return n;
  }

  summary(extra = ""): string {
    const s = ((Date.now() - this.started) / 1000).toFixed(1);
    return `fuzz ${this.suite}: seed=${hex(this.seed)} inputs=${this.tried} in ${s} s, crashes=${this.crashes}, lost=${this.lost}, broken promises=${this.broken}${extra ? `, ${extra}` : ""}`;
  }

  /** Every broken promise, grouped, with the inputs that broke them: the text of a failed assertion. */
  report(): string {
    if (this.broken === 0) return "";
    const lines = [`${this.summary()}`, `replay: TRACKSIDE_FUZZ_SEED=${this.seed} npx vitest run test/fuzz/${this.suite}.fuzz.test.ts (input #i is the same for a given seed)`];
    for (const [promise, n] of this.counts) {
      lines.push(`\n== ${promise}: ${n} input(s)`);
      for (const b of this.breaches.filter((x) => x.promise === promise)) lines.push(`  input: ${b.input}\n  got:   ${b.got}`);
    }
    return lines.join("\n");
  }
}
