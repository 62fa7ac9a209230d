/**
 * Fuzz: mutated run directories (flipped bits, cut WALs, inserted garbage, repeated frames,
 * frames with a valid CRC that hold no records, spill files) against the real `trackside sync`
 * and a live server. Promises checked (point 5 of issue #13): no crash and no stack trace; exit
 * non-zero exactly when something was skipped, and the output names each skipped range by its
 * offset; every readable record stored once, compared with what the intact frames held; the
 * directory's files byte for byte as they were.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { crc32 } from "node:zlib";
import { afterAll, beforeAll, expect, it } from "vitest";
import { WAL_MAGIC, decode, encode, encodeRecords, frameHeader, type RunInfo, type RunRecord } from "../../src/protocol/index.js";
import { FuzzLedger, fuzzMs, fuzzSeed, inputRng, showBytes, showValue, type Rng } from "../helpers/fuzz.js";
import { cli, serverWithEnv, type TestEnv, type TestServer } from "../helpers/processes.js";

const SEED = fuzzSeed(0x5c4d1);
const BUDGET_MS = fuzzMs(10);
const MIN_INPUTS = 6;
const PARALLEL = 2;

let t: TestEnv;
let server: TestServer;
let entity: string;
let apiKey: string;
const ledger = new FuzzLedger("sync-dirs", SEED);

beforeAll(async () => {
  ({ t, server } = await serverWithEnv());
  const creds = JSON.parse(readFileSync(join(t.home, ".trackside", "credentials"), "utf8")) as Record<string, { user: string; apiKey: string }>;
  ({ user: entity, apiKey } = creds[server.url]);
});
afterAll(async () => {
  console.log(ledger.summary());
  await server?.stop();
});

const frame = (payload: Buffer): Buffer => Buffer.concat([frameHeader(payload), payload]);

/** A run's WAL as frames: the run record, batches of 5 steps {v: step}, and its exit (unless the spill holds the end). */
function runFrames(rng: Rng, id: string): { frames: Buffer[]; tail: Buffer[] } {
  const info: RunInfo = {
    id, entity, project: "fuzz-sync", name: `sync-${id}`, notes: null, tags: [], group: null, jobType: null, config: { lr: 0.1 }, createdAt: Date.now(),
    program: { executable: "node", args: [], cwd: "/", pid: 1, host: "h", nodeVersion: process.version, os: "linux", tracksideVersion: "0.1.0" },
  };
  const frames = [encodeRecords([{ k: "run", seq: 1, run: info }, { k: "config", seq: 2, config: { lr: 0.1 } }])];
  let seq = 3;
  let step = 0;
  const batches = rng.range(3, 7);
  const all: Buffer[] = [];
  for (let b = 0; b < batches + 2; b++) {
    const rows = Array.from({ length: 5 }, () => ({ _step: step, _timestamp: Date.now(), _runtime: step, v: step++ }));
    all.push(encodeRecords([{ k: "history", seq, rows }]));
    seq += rows.length;
  }
  all.push(encodeRecords([{ k: "exit", seq, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: Date.now() }]));
  // The WAL holds the first batches; the last two and the exit are "the spill's" (used only when a spill is made).
  return { frames: [...frames, ...all.slice(0, batches)].map(frame), tail: all.slice(batches).map(frame) };
}

interface Case {
  id: string;
  dir: string;
  what: string[];
  /** The WAL and spill files as written, for the failure message. */
  files: Record<string, Buffer>;
}

/** A run directory with one to three mutations. */
function makeCase(rng: Rng, i: number): Case {
  const id = `fz${SEED.toString(36).slice(0, 3)}${i.toString().padStart(5, "0")}`;
  const dir = join(t.runDir, "trackside", `run-20260101_000000-${id}`);
  mkdirSync(join(dir, "files"), { recursive: true });
  writeFileSync(join(dir, "files", "config.json"), JSON.stringify({ lr: 0.1 }));
  const { frames, tail } = runFrames(rng, id);
  const segments = [...frames];
  const what: string[] = [];
  const files: Record<string, Buffer> = {};
  let spillTail = false;
  const n = rng.range(1, 3);
  const ops: string[] = [];
  for (let k = 0; k < n; k++) ops.push(rng.weighted<string>([[3, "flip"], [2, "truncate"], [2, "garbage"], [2, "duplicate"], [2, "junk-frame"], [2, "spill"], [1, "none"]]));
  // Structural changes on the frame list first, then byte changes on the file.
  for (const op of ops) {
    const at = rng.range(1, segments.length); // never before the run record: index 0 stays first
    if (op === "garbage") {
      const g = rng.bytes(rng.range(1, 40));
      segments.splice(at, 0, g);
      what.push(`garbage ${g.toString("hex")} inserted before segment ${at}`);
    } else if (op === "duplicate") {
      const k2 = rng.int(segments.length);
      segments.splice(rng.range(k2 + 1, segments.length), 0, segments[k2]);
      what.push(`segment ${k2} repeated`);
    } else if (op === "junk-frame") {
      const payload = rng.pick<() => Buffer>([() => rng.bytes(rng.range(0, 30)), () => encode({ not: "records" }), () => encode("a string"), () => encode(42), () => encode([1, 2, 3]), () => Buffer.from("c1", "hex")])();
      segments.splice(at, 0, frame(payload));
      what.push(`a frame with a valid CRC holding ${payload.toString("hex") || "nothing"} inserted before segment ${at}`);
    } else if (op === "spill" && !spillTail) {
      spillTail = true;
      const kind = rng.pick(["rest", "rest", "overlap", "garbage", "corrupt"]);
      let spill: Buffer;
      if (kind === "rest") spill = Buffer.concat([WAL_MAGIC, ...tail]);
      else if (kind === "overlap") spill = Buffer.concat([WAL_MAGIC, frames[frames.length - 1], ...tail]);
      else if (kind === "garbage") spill = rng.bytes(rng.range(0, 60));
      else {
        spill = Buffer.concat([WAL_MAGIC, ...tail]);
        spill[WAL_MAGIC.length + 8 + rng.int(tail[0].length - 8)] ^= 0x10;
      }
      files[`spill-4242${i}.wal`] = spill;
      what.push(`spill file (${kind})`);
    }
  }
  let wal = Buffer.concat([WAL_MAGIC, ...segments]);
  for (const op of ops) {
    if (op === "flip") {
      const at = rng.range(WAL_MAGIC.length, wal.length - 1);
      wal[at] ^= 1 << rng.int(8);
      what.push(`bit flipped at byte ${at}`);
    } else if (op === "truncate") {
      const at = rng.range(WAL_MAGIC.length + frames[0].length, wal.length - 1);
      wal = wal.subarray(0, at);
      what.push(`cut at byte ${at}`);
    }
  }
  if (what.length === 0) what.push("intact");
  files[`run-${id}.wal`] = wal;
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  // Spill files older than a live process's: sync treats them as left behind.
  const old = new Date(Date.now() - 60_000);
  for (const name of Object.keys(files)) if (name.startsWith("spill-")) utimesSync(join(dir, name), old, old);
  return { id, dir, what, files };
}

interface Scan {
  /** Steps of the readable frames, and whether the run record was among them. */
  steps: number[];
  hasRun: boolean;
  /** Byte ranges no reader can use: [start, end). */
  skipped: Array<[number, number]>;
}

/** What a reader that resynchronises after damage finds: every frame whose CRC holds, and the ranges between. */
function oracle(buf: Buffer): Scan {
  const out: Scan = { steps: [], hasRun: false, skipped: [] };
  if (buf.length < WAL_MAGIC.length || !buf.subarray(0, WAL_MAGIC.length).equals(WAL_MAGIC)) {
    out.skipped.push([0, buf.length]);
    return out;
  }
  let p = WAL_MAGIC.length;
  let badFrom = -1;
  const bad = (from: number, to: number) => {
    const last = out.skipped[out.skipped.length - 1];
    if (last && last[1] === from) last[1] = to;
    else out.skipped.push([from, to]);
  };
  while (p < buf.length) {
    if (p + 8 <= buf.length) {
      const len = buf.readUInt32LE(p);
      if (p + 8 + len <= buf.length && crc32(buf.subarray(p + 8, p + 8 + len)) === buf.readUInt32LE(p + 4)) {
        if (badFrom >= 0) bad(badFrom, p);
        badFrom = -1;
        const records = readable(buf.subarray(p + 8, p + 8 + len));
        if (records) {
          for (const r of records) {
            if (r.k === "run") out.hasRun = true;
            if (r.k === "history" && "rows" in r) for (const row of r.rows) out.steps.push(row._step);
          }
        } else bad(p, p + 8 + len);
        p += 8 + len;
        continue;
      }
    }
    if (badFrom < 0) badFrom = p;
    p++;
  }
  if (badFrom >= 0) bad(badFrom, buf.length);
  return out;
}

function readable(payload: Buffer): RunRecord[] | null {
  try {
    const v = decode(payload);
    if (!Array.isArray(v) || v.length === 0 || !v.every((r) => typeof r === "object" && r !== null && typeof (r as { k?: unknown }).k === "string")) return null;
    return v as RunRecord[];
  } catch {
    return null;
  }
}

function hashes(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(relative(dir, p), `${statSync(p).size}:${createHash("sha256").update(readFileSync(p)).digest("hex").slice(0, 16)}`);
    }
  };
  walk(dir);
  return out;
}

async function history(id: string): Promise<{ status: number; rows: Array<{ _step: number; v?: unknown }> }> {
  const res = await fetch(`${server.url}/api/v1/runs/${entity}/fuzz-sync/${id}/history?limit=100000`, { headers: { authorization: `Bearer ${apiKey}` } });
  if (res.status !== 200) return { status: res.status, rows: [] };
  return { status: 200, rows: ((await res.json()) as { rows: Array<{ _step: number; v?: unknown }> }).rows };
}

async function tryCase(i: number): Promise<void> {
  const rng = inputRng(SEED, i);
  const c = makeCase(rng, i);
  const before = hashes(c.dir);
  const walName = `run-${c.id}.wal`;
  const wal = oracle(c.files[walName]);
  const spills = Object.entries(c.files).filter(([n]) => n.startsWith("spill-")).map(([n, b]) => ({ name: n, scan: oracle(b) }));
  const skippedAnything = wal.skipped.length > 0 || spills.some((s) => s.scan.skipped.length > 0);
  const input = `#${i} ${c.what.join(", ")}; files: ${Object.entries(c.files).map(([n, b]) => `${n}=${showBytes(b, 700)}`).join("; ")}`;

  const r = await cli(["sync", c.dir, "--timeout", "20"], t.env);
  ledger.tried++;
  const output = `${r.stdout}\n${r.stderr}`;
  const shownOut = `exit ${r.code}${r.signal ? ` (${r.signal})` : ""}; output: ${output.trim().slice(0, 1200)}`;

  if (r.signal !== null || /^\s+at .+:\d+:\d+\)?$/m.test(output) || /\n\s*at (async )?\S+ \(/.test(output)) {
    ledger.crashes++;
    ledger.breach("sync never crashes or prints a stack trace", input, shownOut);
  }
  if (skippedAnything && r.code === 0) ledger.breach("sync exits non-zero when anything was skipped", input, `skipped ranges: WAL ${showValue(wal.skipped)}${spills.map((s) => `, ${s.name} ${showValue(s.scan.skipped)}`).join("")}; ${shownOut}`);
  if (!skippedAnything && r.code !== 0) ledger.breach("sync exits 0 when nothing was skipped", input, shownOut);
  const unnamed = wal.skipped.filter(([from]) => !new RegExp(`(^|\\D)${from}(\\D|$)`).test(output));
  if (unnamed.length) ledger.breach("the output names every skipped range (by its byte offset)", input, `ranges not named: ${showValue(unnamed)}; ${shownOut}`);

  const after = hashes(c.dir);
  const changed = [...before].filter(([name, h]) => after.get(name) !== h).map(([name, h]) => `${name}: ${h} -> ${after.get(name) ?? "removed"}`);
  if (changed.length) ledger.breach("the directory's files stay byte for byte as they were", input, `${changed.join("; ")}; ${shownOut}`);

  // Every readable record stored once. Without a readable run record there is no run to store to.
  if (wal.hasRun) {
    const want = new Set([...wal.steps, ...spills.flatMap((s) => s.scan.steps)]);
    const h = await history(c.id);
    const got = h.rows.map((row) => row._step);
    const missing = [...want].filter((s) => !got.includes(s)).sort((a, b) => a - b);
    const twice = got.filter((s, k) => got.indexOf(s) !== k);
    const foreign = h.rows.filter((row) => !want.has(row._step) || row.v !== row._step);
    ledger.lost += missing.length;
    if (h.status !== 200 || missing.length || twice.length || foreign.length) {
      ledger.breach(
        "every readable record is stored once",
        input,
        `history ${h.status}: missing steps ${showValue(missing)}, stored twice ${showValue(twice)}, not from an intact frame ${showValue(foreign.slice(0, 5))}; ${shownOut}`,
      );
    }
  }
}

it(`trackside sync of mutated run directories (seed ${SEED}, ${BUDGET_MS / 1000} s)`, { timeout: BUDGET_MS + 120_000 }, async () => {
  const deadline = Date.now() + BUDGET_MS;
  let next = 0;
  const worker = async () => {
    while (Date.now() < deadline) await tryCase(next++);
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  console.log(ledger.summary());
  expect(ledger.tried, "too few inputs for the suite to mean anything").toBeGreaterThanOrEqual(MIN_INPUTS);
  expect(ledger.crashes, ledger.report()).toBe(0);
  expect(ledger.report()).toBe("");
});
