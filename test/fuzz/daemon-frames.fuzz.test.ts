/**
 * Fuzz: random and mutated frames against a live standalone daemon (real ZeroMQ), while an honest
 * client run goes on beside them on the same daemon and uploads to a real server. Promises
 * checked: the daemon never crashes (same process, still answers ping); every request gets a
 * reply, and the reply to a bad input is `error` with a registry TRK_ERR_* code (a valid input
 * gets its proper answer); the beside-run ends `finished`, with every one of its steps once and
 * its own name, although the fuzzer sends records, finish and status for its path as an
 * attacker would (point 1 of issue #13).
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Dealer } from "zeromq";
import { afterAll, beforeAll, expect, it } from "vitest";
import { PROTOCOL_VERSION, decode, encode, encodeRecords, lastClientSeq, type RunInfo, type RunOpenSettings, type RunRecord } from "../../src/protocol/index.js";
import { newRoutingId } from "../../src/protocol/random.js";
import { validateRecords } from "../../src/protocol/record-check.js";
import { FuzzLedger, fuzzMs, fuzzSeed, inputRng, isKnownCode, mutateBytes, showBytes, showValue, type Rng } from "../helpers/fuzz.js";
import { CLI, makeEnv, start, startServer, type Running, type TestEnv, type TestServer } from "../helpers/processes.js";
import { runInfo as handMadeRunInfo } from "../helpers/run-dir.js";

const SEED = fuzzSeed(0xda3e0);
const BUDGET_MS = fuzzMs(8);
const MIN_INPUTS = 100;
const BESIDE_STEPS = 80;
/** A reply later than this is a request the daemon dropped. */
const REPLY_MS = 3000;

let t: TestEnv;
let server: TestServer;
let daemon: Running;
let address: string;
let exported: string;
let entity: string;
let apiKey: string;
let daemonPid: number;
let workDir: string;
const ledger = new FuzzLedger("daemon-frames", SEED);

/** A Dealer with its replies queued, so that a late answer (finish) never passes for the next one. */
class Conn {
  readonly sock = new Dealer({ linger: 0, sendTimeout: REPLY_MS, routingId: newRoutingId() });
  private readonly queue: Buffer[][] = [];
  private waiter: (() => void) | null = null;
  closed = false;
  greeted = false;
  /** The run this connection opened, and the last seq the daemon acknowledged for it. */
  run: { path: string; info: RunInfo; acked: number } | null = null;
  /** Ids of finish requests whose answer may still come. */
  readonly lateIds = new Set<unknown>();

  constructor() {
    this.sock.connect(address);
    void (async () => {
      try {
        for await (const frames of this.sock) {
          this.queue.push(frames);
          this.waiter?.();
        }
      } catch {
        // closed
      }
    })();
  }

  async send(frames: Buffer[]): Promise<void> {
    await this.sock.send(frames);
  }

  /** The next reply that is not a late answer to an earlier finish; null at the deadline. */
  async reply(ms = REPLY_MS): Promise<Buffer[] | null> {
    const deadline = Date.now() + ms;
    for (;;) {
      while (this.queue.length) {
        const frames = this.queue.shift()!;
        const id = tryDecode(frames[0])?.id;
        if (this.lateIds.has(id)) {
          this.lateIds.delete(id);
          checkLate(frames);
          continue;
        }
        return frames;
      }
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = null;
    }
  }

  async request(header: unknown, payload?: Buffer): Promise<Record<string, unknown> | null> {
    await this.send(payload ? [encode(header), payload] : [encode(header)]);
    const r = await this.reply();
    return r ? tryDecode(r[0]) : null;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.close();
  }
}

function tryDecode(b: Buffer | undefined): Record<string, unknown> | null {
  if (!b) return null;
  try {
    const v = decode(b);
    return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const REPLY_TYPES = ["ok", "opened", "ack", "finished", "progress", "error"];

/** A late answer to a finish is still an answer: well formed, coded if an error. */
function checkLate(frames: Buffer[]): void {
  const m = tryDecode(frames[0]);
  if (!m || !REPLY_TYPES.includes(m.t as string)) ledger.breach("every reply is a well-formed daemon message", "(a late reply to an earlier finish)", showBytes(frames[0] ?? Buffer.alloc(0)));
}

const conns: Conn[] = [];
const newConn = (): Conn => {
  const c = new Conn();
  conns.push(c);
  return c;
};

async function greet(c: Conn, pid = process.pid): Promise<void> {
  const r = await c.request({ t: "hello", id: 1, protocol: PROTOCOL_VERSION, version: "0.1.0", pid });
  if (r?.t !== "ok") throw new Error(`hello refused: ${showValue(r)}`);
  c.greeted = true;
}

let runCounter = 0;
function runInfo(id: string): RunInfo {
  return handMadeRunInfo(entity, id, workDir, { project: "fuzz", name: `attacker-${id}` });
}

function openSettings(info: RunInfo): RunOpenSettings {
  const runDir = join(workDir, "runs", `run-20260101_000000-${info.id}`);
  mkdirSync(runDir, { recursive: true });
  const secret = randomBytes(32).toString("base64url");
  return { run: info, mode: "online", runDir, baseUrl: server.url, apiKey, pid: process.pid, firstSeq: 1, statsIntervalS: 0, env: {}, secret };
}

/** A greeted connection with a run of its own, its run record acknowledged: the attacker's base. */
async function attacker(): Promise<Conn> {
  const c = newConn();
  await greet(c);
  const info = runInfo(`atk${(runCounter++).toString().padStart(5, "0")}`);
  const r = await c.request({ t: "open", id: 2, settings: openSettings(info) });
  if (r?.t !== "opened") throw new Error(`open refused: ${showValue(r)}`);
  const path = `${info.entity}/${info.project}/${info.id}`;
  const ack = await c.request({ t: "records", id: 3, runPath: path, first: 1, last: 1 }, encodeRecords([{ k: "run", seq: 1, run: info }]));
  if (ack?.t !== "ack") throw new Error(`run record refused: ${showValue(ack)}`);
  c.run = { path, info, acked: 1 };
  return c;
}

// ---- inputs -------------------------------------------------------------------------------

/**
 * `refused`: the owner's batch whose header continues the run but whose content is refused: an
 * error (a header the message check refuses) or an ack that says `refused`, never a plain ack.
 */
type Expect = "error" | "answer" | "either" | "refused";
interface Input {
  what: string;
  /** Which connection: the attacker's main one (greeted, own run), a fresh greeted one, or a fresh one that said nothing yet. */
  on: "main" | "greeted" | "fresh";
  frames: Buffer[];
  header: unknown;
  expect: Expect;
  /** Why the expectation (the promise in words). */
  why: string;
  /** A valid records batch: the seq the ack must carry. */
  ackSeq?: number;
  /** A finish: its answer may come late. */
  slow?: boolean;
}

const WEIRD: Array<() => unknown> = [
  () => 1e15,
  () => -1,
  () => NaN,
  () => Infinity,
  () => 2 ** 53 + 2,
  () => 2.5,
  () => "1",
  () => "",
  () => null,
  () => true,
  () => [1, 2],
  () => ({ nested: { map: [1, { deeper: "x" }] } }),
  () => new Map<unknown, unknown>([[1, 2]]),
  () => 2n ** 63n - 1n,
  () => "x".repeat(100_000),
  () => Buffer.from("bytes"),
];
const weird = (rng: Rng): unknown => rng.pick(WEIRD)();

/** Swaps one field (or a nested one) of a message for a value of a wrong type. */
function mutateField(rng: Rng, msg: Record<string, unknown>, fields: string[]): string {
  const f = rng.pick(fields);
  if (rng.chance(0.1)) {
    delete msg[f];
    return `${f} removed`;
  }
  msg[f] = weird(rng);
  return `${f}=${showValue(msg[f], 80)}`;
}

function historyBatch(first: number, n: number): RunRecord[] {
  return [{ k: "history", seq: first, rows: Array.from({ length: n }, (_, j) => ({ _step: first + j, _timestamp: Date.now(), _runtime: 0, v: first + j })) }];
}

/**
 * Whether a payload is a batch the daemon can take as records first..last of run `runId`:
 * msgpack, records that pass the server's checks, and seqs that are first..last.
 */
function batchIsValid(payload: Buffer, runId: string, first: unknown, last: unknown): boolean {
  try {
    const recs = validateRecords(decode(payload), runId);
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last)) return false;
    const lo = Math.min(...recs.map((r) => r.seq));
    return recs.length > 0 && lo === first && lastClientSeq(recs) === last;
  } catch {
    return false;
  }
}

function makeInput(rng: Rng, main: Conn, victimPath: string, otherPath: string): Input {
  const own = main.run!;
  const kind = rng.weighted<string>([
    [3, "random-header"],
    [6, "records-own"],
    [4, "records-victim"],
    [1, "records-other"],
    [2, "hello"],
    [2, "open"],
    [1, "finish"],
    [1, "status"],
    [1, "ping"],
    [1, "bye"],
    [2, "shape"],
  ]);
  const id = 100 + rng.int(1e6);
  switch (kind) {
    case "random-header": {
      const header = rng.bytes(rng.range(0, 64));
      const frames = rng.chance(0.3) ? [header, rng.bytes(rng.range(0, 64))] : [header];
      return { what: "random bytes", on: rng.pick(["main", "fresh"]), frames, header: null, expect: "error", why: "random bytes are refused with a coded error" };
    }
    case "records-own": {
      const next = own.acked + 1;
      const n = rng.range(1, 4);
      const header: Record<string, unknown> = { t: "records", id, runPath: own.path, first: next, last: next + n - 1 };
      let payload: Buffer | undefined = encodeRecords(historyBatch(next, n));
      const how = rng.weighted<string>([
        [3, "valid"],
        [2, "header"],
        [2, "payload-bytes"],
        [1, "payload-random"],
        [2, "wrong-seqs"],
        [1, "no-payload"],
        [1, "gap"],
      ]);
      let what = `records for its own run: ${how}`;
      if (how === "header") what += ` (${mutateField(rng, header, ["first", "last", "runPath", "exit", "id"])})`;
      else if (how === "payload-bytes") payload = mutateBytes(rng, payload);
      else if (how === "payload-random") payload = rng.bytes(rng.range(0, 200));
      else if (how === "wrong-seqs") payload = encodeRecords(historyBatch(rng.pick([1e15, next + 7, next - 1, 0, -5]), n));
      else if (how === "no-payload") payload = undefined;
      else if (how === "gap") {
        header.first = rng.pick([next + 10, 1e15, 2 ** 53 - 1]);
        header.last = (header.first as number) + n - 1;
        payload = encodeRecords(historyBatch(header.first as number, n));
      }
      const frames = payload ? [encode(header), payload] : [encode(header)];
      if (how === "valid") return { what, on: "main", frames, header, expect: "answer", why: "a valid batch that continues the run is acknowledged", ackSeq: next + n - 1 };
      const continues = header.runPath === own.path && payload !== undefined && header.first === next && Number.isSafeInteger(header.last) && (header.last as number) >= next && typeof header.id === "number";
      const valid = continues && payload !== undefined && batchIsValid(payload, own.info.id, header.first, header.last);
      if (continues && !valid) {
        return { what, on: "main", frames, header, expect: "refused", why: "the owner's batch that continues the run but whose records are refused is set aside and acknowledged as refused", ackSeq: header.last as number };
      }
      return { what, on: "main", frames, header, expect: valid ? "either" : "error", why: "a batch whose header or records are malformed, or whose seqs do not continue the run, is refused" };
    }
    case "records-victim":
    case "records-other": {
      // An attacker's records for a run another process opened: a rename, 1e15 seqs, garbage.
      const path = kind === "records-victim" ? victimPath : otherPath;
      const first = rng.pick([1e15, 2, 50, 1]);
      const batch = rng.pick<() => Buffer>([
        () => encodeRecords([{ k: "update", seq: first, name: "pwned" }]),
        () => encodeRecords(historyBatch(first, 3)),
        () => encodeRecords([{ k: "exit", seq: first, state: "failed", exitCode: 9, signal: null, error: "fuzz", finishedAt: Date.now() }]),
        () => rng.bytes(rng.range(1, 100)),
        () => mutateBytes(rng, encodeRecords(historyBatch(first, 2))),
      ])();
      const header = { t: "records", id, runPath: path, first, last: first + rng.int(3) };
      return { what: `records for ${kind === "records-victim" ? "the beside-run's" : "another connection's"} run ${path}`, on: rng.pick(["main", "greeted"]), frames: [encode(header), batch], header, expect: "error", why: "a connection that did not open a run cannot write to it" };
    }
    case "hello": {
      const header: Record<string, unknown> = { t: "hello", id, protocol: PROTOCOL_VERSION, version: "0.1.0", pid: process.pid };
      const change = mutateField(rng, header, ["protocol", "version", "pid", "pid", "token", "id"]);
      const p = header.pid;
      const bad = header.protocol !== PROTOCOL_VERSION || typeof header.id !== "number" || !(Number.isSafeInteger(p) && (p as number) > 0);
      return { what: `hello (${change})`, on: "fresh", frames: [encode(header)], header, expect: bad ? "error" : "either", why: "a hello with a wrong protocol, or a pid that is not a positive integer, is refused" };
    }
    case "open": {
      const info = runInfo(`opn${(runCounter++).toString().padStart(5, "0")}`);
      const settings = openSettings(info) as unknown as Record<string, unknown>;
      const header: Record<string, unknown> = { t: "open", id, settings };
      let change = "valid";
      const target = rng.weighted<string>([
        [4, "settings"],
        [3, "run"],
        [1, "victim"],
        [1, "whole"],
      ]);
      if (target === "settings") change = mutateField(rng, settings, ["runDir", "mode", "baseUrl", "apiKey", "pid", "firstSeq", "statsIntervalS", "env", "caFile"]);
      else if (target === "run") change = `run.${mutateField(rng, settings.run as Record<string, unknown>, ["id", "entity", "project", "name", "tags", "config", "createdAt", "program"])}`;
      else if (target === "victim") {
        const [e, p, i] = victimPath.split("/");
        Object.assign(settings.run as object, { entity: e, project: p, id: i });
        change = "the beside-run's path, another pid";
        settings.pid = 1; // not the beside-run's process
      } else {
        header.settings = weird(rng);
        change = `settings=${showValue(header.settings, 80)}`;
      }
      // baseUrl stays on loopback or is no URL at all: the fuzzer must not reach out anywhere.
      if (typeof settings.baseUrl === "string" && settings.baseUrl !== server.url) settings.baseUrl = "not a url";
      // A mutated field may still be valid (entity "1", a run without tags the daemon does not
      // read): those may be opened. The beside-run's path and settings that are no map may not.
      const expect: Expect = target === "victim" || target === "whole" ? "error" : "either";
      return { what: `open (${change})`, on: "greeted", frames: [encode(header)], header, expect, why: "open refuses settings of the wrong type or shape, and another process's run" };
    }
    case "finish": {
      const path = rng.pick([victimPath, otherPath, "no/such/run", own.path]);
      const header: Record<string, unknown> = { t: "finish", id, runPath: path, timeoutMs: rng.pick([0, 10, 1e15, -1, NaN, "5"]) };
      const bad = path !== own.path || !(typeof header.timeoutMs === "number" && Number.isFinite(header.timeoutMs) && header.timeoutMs >= 0 && header.timeoutMs <= 1e9);
      return { what: `finish of ${path === own.path ? "its own run" : path} (timeoutMs=${showValue(header.timeoutMs)})`, on: "main", frames: [encode(header)], header, expect: bad ? "error" : "either", why: "finish of a run the connection did not open, or with a bad timeout, is refused", slow: true };
    }
    case "status": {
      const path = rng.pick([victimPath, "no/such/run", own.path, "", "../../etc"]);
      const header = { t: "status", id, runPath: path };
      const expect: Expect = path === own.path ? "answer" : path === victimPath ? "either" : "error";
      return { what: `status of ${JSON.stringify(path)}`, on: "main", frames: [encode(header)], header, expect, why: "status of an unknown run is refused" };
    }
    case "ping": {
      const header: Record<string, unknown> = { t: "ping", id };
      if (rng.chance(0.5)) header.id = weird(rng);
      return { what: `ping (id=${showValue(header.id, 40)})`, on: rng.pick(["main", "fresh"]), frames: [encode(header)], header, expect: typeof header.id === "number" ? "either" : "error", why: "a request without a numeric id is refused" };
    }
    case "bye": {
      const header = { t: "bye", id };
      return { what: "bye", on: "greeted", frames: [encode(header)], header, expect: "answer", why: "bye is answered ok" };
    }
    default: {
      const header = rng.pick<() => unknown>([
        () => ({ t: "launch-missiles", id }),
        () => ({ t: weird(rng), id }),
        () => ({ id }),
        () => [1, 2, 3],
        () => "records",
        () => 42,
        () => null,
        () => ({ t: "records", id, runPath: own.path, first: own.acked + 1, last: own.acked + 1, extra: weird(rng) }),
        () => ({ t: "records", id, runPath: weird(rng), first: 1, last: 1 }),
      ])();
      const frames = [encode(header)];
      if (rng.chance(0.3)) frames.push(Buffer.alloc(0), rng.bytes(8));
      const on = rng.pick<Input["on"]>(["main", "fresh"]);
      // A field too many is no fault of the header (the daemon reads the ones it knows): the
      // owner's batch that continues its run then has its content refused, as an ack that says so.
      const ownBatch = on === "main" && frames.length > 1 && (header as { extra?: unknown } | null)?.extra !== undefined;
      if (ownBatch) return { what: `records for its own run with a field too many and no batch: ${showValue(header, 120)}`, on, frames, header, expect: "refused", why: "the owner's batch that continues the run but holds no records is set aside and acknowledged as refused", ackSeq: own.acked + 1 };
      return { what: `a header of the wrong shape: ${showValue(header, 120)}`, on, frames, header, expect: "error", why: "a header of the wrong shape is refused with a coded error" };
    }
  }
}

function describe(i: number, input: Input): string {
  return `#${i} ${input.what} on a ${input.on} connection; header=${showValue(input.header, 600)}; frames(hex)=[${input.frames.map((f) => showBytes(f, 200)).join(", ")}]`;
}

// ---- the run ------------------------------------------------------------------------------

beforeAll(async () => {
  t = makeEnv();
  server = await startServer(t.env);
  t.env.TRACKSIDE_BASE_URL = server.url;
  const creds = JSON.parse(readFileSync(join(t.home, ".trackside", "credentials"), "utf8")) as Record<string, { user: string; apiKey: string }>;
  ({ user: entity, apiKey } = creds[server.url]);
  // The daemon works in a directory of its own: a fuzzed relative runDir lands there, not in the repository.
  workDir = mkdtempSync(join(tmpdir(), "trk-fuzz-daemon-"));
  daemon = start([CLI, "daemon", "--listen", `ipc://${join(workDir, "sock", "d.sock")}`, "--log-file", join(workDir, "daemon.log")], t.env, { cwd: workDir });
  const m = await daemon.waitFor(/listening on (\S+)\nuse it with: export TRACKSIDE_DAEMON='([^']+)'/);
  [, address, exported] = m;
});

afterAll(async () => {
  console.log(ledger.summary());
  for (const c of conns) c.close();
  if (daemon && daemon.child.exitCode === null) daemon.child.kill("SIGTERM");
  await daemon?.exited;
  await server?.stop();
});

async function getJson(path: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${apiKey}` } });
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

it(`daemon frames beside a real run (seed ${SEED}, ${BUDGET_MS / 1000} s)`, { timeout: BUDGET_MS + 90_000 }, async () => {
  const control = newConn();
  const hi = await control.request({ t: "hello", id: 1, protocol: PROTOCOL_VERSION, version: "0.1.0", pid: process.pid });
  expect(hi, "the daemon answers hello before the fuzzing starts").toMatchObject({ t: "ok" });
  daemonPid = hi!.pid as number;

  const beside = start([join(import.meta.dirname, "fixtures", "beside-run.mjs"), String(BESIDE_STEPS), String(Math.ceil(BUDGET_MS / BESIDE_STEPS))], { ...t.env, TRACKSIDE_DAEMON: exported });
  const ready = JSON.parse((await beside.waitFor(/\{"ready":true[^\n]*\}/))[0]) as { path: string; id: string; pid: number };

  let main = await attacker();
  const other = await attacker(); // another connection's run, for records-other

  const deadline = Date.now() + BUDGET_MS;
  const recent: string[] = [];
  let i = 0;
  let crashed = false;
  for (; Date.now() < deadline && !crashed; i++) {
    const rng = inputRng(SEED, i);
    const input = makeInput(rng, main, ready.path, other.run!.path);
    const shown = describe(i, input);
    recent.push(shown);
    if (recent.length > 5) recent.shift();
    let conn: Conn;
    if (input.on === "main") conn = main;
    else {
      conn = newConn();
      if (input.on === "greeted") await greet(conn);
    }
    await conn.send(input.frames);
    const frames = await conn.reply(input.slow ? 1500 : REPLY_MS);
    ledger.tried++;
    if (frames === null) {
      if (input.slow) conn.lateIds.add((input.header as { id?: unknown }).id);
      else ledger.breach("every request gets a reply", shown, `no reply within ${REPLY_MS} ms`);
    } else {
      const m = tryDecode(frames[0]);
      if (!m || !REPLY_TYPES.includes(m.t as string)) ledger.breach("every reply is a well-formed daemon message", shown, showBytes(frames[0] ?? Buffer.alloc(0)));
      else if (m.t === "error") {
        const code = (m.error as { code?: unknown } | undefined)?.code;
        if (!isKnownCode(code)) ledger.breach("an error reply carries a registry TRK_ERR_* code", shown, showValue(m));
        else if (code === "TRK_ERR_INTERNAL") ledger.breach("a bad input is refused on purpose, not by an exception (TRK_ERR_INTERNAL)", shown, showValue(m));
        if (input.expect === "answer") ledger.breach(`a valid input gets its answer (${input.why})`, shown, showValue(m));
      } else {
        if (input.expect === "error") ledger.breach(`a bad input gets an error (${input.why})`, shown, showValue(m, 400));
        if (input.expect === "refused" && (m.t !== "ack" || typeof m.refused !== "object" || m.refused === null)) ledger.breach(`a refused batch is acknowledged as refused (${input.why})`, shown, showValue(m, 400));
        if (input.expect !== "refused" && m.t === "ack" && m.refused !== undefined) ledger.breach(`only a refused batch is acknowledged as refused`, shown, showValue(m, 400));
        if (input.ackSeq !== undefined) {
          if (m.t !== "ack" || m.seq !== input.ackSeq) ledger.breach("a valid batch is acknowledged up to its last seq", shown, showValue(m));
        }
      }
      // Keep the attacker's own sequence in step with what the daemon acknowledged.
      // (A seq beyond 1e9, or not a safe integer, means a gap was taken: a fresh attacker below.)
      if (input.on === "main" && m?.t === "ack" && m.runPath === main.run!.path && typeof m.seq === "number") main.run!.acked = Number.isSafeInteger(m.seq) ? Math.max(main.run!.acked, m.seq) : Infinity;
    }
    if (input.on !== "main" && !input.slow) conn.close();
    // The main connection said bye, or its sequence went off the rails: a new attacker.
    if (input.on === "main" && (main.run!.acked > 1e9 || (input.header as { t?: unknown })?.t === "bye")) main = await attacker();

    // The daemon is alive: same process, answers ping.
    const pong = await control.request({ t: "ping", id: 7 });
    if (daemon.child.exitCode !== null || pong?.t !== "ok") {
      crashed = true;
      ledger.crashes++;
      ledger.breach("the daemon never crashes (still answers ping, same pid)", recent.join("\n         "), `ping -> ${showValue(pong)}; daemon exit ${daemon.child.exitCode} signal ${daemon.child.signalCode}\n         daemon stderr: ${daemon.stderr().slice(-1500)}`);
    }
  }
  const inputs = i;

  // The same daemon, still answering a fresh hello.
  if (!crashed) {
    const last = newConn();
    const r = await last.request({ t: "hello", id: 9, protocol: PROTOCOL_VERSION, version: "0.1.0", pid: process.pid });
    if (r?.t !== "ok" || r.pid !== daemonPid) {
      ledger.crashes++;
      ledger.breach("the daemon never crashes (still answers ping, same pid)", "(after all inputs)", `hello -> ${showValue(r)} (daemon pid before: ${daemonPid})`);
    }
  }

  // The beside-run: finished, all its steps once, its own name.
  const done = await beside.exited;
  const outcome = (() => {
    try {
      return JSON.parse(done.stdout.trim().split("\n").pop()!) as { logged: number; state: string; synced: boolean };
    } catch {
      return null;
    }
  })();
  const besideProblems: string[] = [];
  if (done.code !== 0 || !outcome) besideProblems.push(`the beside-run exited ${done.code} (${done.signal}); stdout: ${done.stdout.slice(-500)} stderr: ${done.stderr.slice(-1500)}`);
  expect(outcome?.logged, `the beside-run logged its ${BESIDE_STEPS} steps (else the suite proves nothing)`).toBe(BESIDE_STEPS);
  if (outcome && (outcome.state !== "finished" || !outcome.synced)) besideProblems.push(`finish() said ${showValue(outcome)}`);
  const stored = await getJson(`/api/v1/runs/${ready.path}`);
  if (stored.state !== "finished") besideProblems.push(`the server has the run ${stored.state}, not finished (exitCode ${showValue(stored.exitCode)}, error ${showValue(stored.error)})`);
  if (stored.name !== "beside-run") besideProblems.push(`the server has the run named ${showValue(stored.name)}, not "beside-run"`);
  const history = await getJson(`/api/v1/runs/${ready.path}/history?limit=100000`);
  const steps = (history.rows as Array<{ _step: number; v?: unknown }>).map((r) => r._step);
  const want = Array.from({ length: BESIDE_STEPS }, (_, s) => s);
  const missing = want.filter((s) => !steps.includes(s));
  const extra = steps.filter((s, k) => !(s >= 0 && s < BESIDE_STEPS) || steps.indexOf(s) !== k);
  const wrong = (history.rows as Array<{ _step: number; v?: unknown }>).filter((r) => r._step >= 0 && r._step < BESIDE_STEPS && r.v !== r._step);
  if (missing.length || extra.length || wrong.length) {
    ledger.lost += missing.length;
    besideProblems.push(`history: missing steps ${showValue(missing, 300)}, foreign or repeated steps ${showValue(extra, 300)}, steps with a value not their own ${showValue(wrong.slice(0, 5), 300)}`);
  }
  if (besideProblems.length) ledger.breach("the beside-run ends finished, with every one of its steps once and its own name", `seed ${SEED}: the ${inputs} inputs above (records-victim ones target ${ready.path})`, besideProblems.join("\n         "));

  console.log(ledger.summary(`beside-run ${BESIDE_STEPS} steps`));
  expect(inputs, "too few inputs for the suite to mean anything").toBeGreaterThanOrEqual(MIN_INPUTS);
  expect(ledger.crashes, ledger.report()).toBe(0);
  expect(ledger.report()).toBe("");
});
