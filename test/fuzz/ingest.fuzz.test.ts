/**
 * Fuzz: random and mutated upload bodies (msgpack, JSON, WAL frames) and query strings against
 * the server, sent as the run's owner so that they get past authentication. Promises checked:
 * never a 5xx; every 4xx carries {error: {code: "TRK_ERR_..."}}; after every accepted body, every
 * read of that run (the run, its history in full and by keys, system, console, the project's
 * runs table sorted and filtered, the run page) still answers 200. Through app.inject() for
 * throughput, every 8th request over a real socket.
 */
import type { LightMyRequestResponse } from "fastify";
import { afterAll, beforeAll, expect, it } from "vitest";
import { RECORDS_CONTENT_TYPE, WAL_FRAMES_CONTENT_TYPE } from "../../src/protocol/api.js";
import { frameHeader } from "../../src/protocol/wal-format.js";
import { FuzzLedger, fuzzMs, fuzzSeed, inputRng, isKnownCode, mutateBytes, showBytes, showValue, type Rng } from "../helpers/fuzz.js";
import { makeEnv, runInfo, T0, type TestEnv } from "../server/helpers.js";
import { PACKERS, anyValue, deep, packerFor, wide, type PackerName } from "./nasty-values.js";

const SEED = fuzzSeed(0x1e57);
const BUDGET_MS = fuzzMs(8);
const MIN_INPUTS = 50;

let env: TestEnv;
let base: string;
const ledger = new FuzzLedger("ingest", SEED);

/** The last error the server handled, to say what a 5xx was (the app logs nothing in tests). */
let lastServerError = "";

beforeAll(async () => {
  env = await makeEnv();
  env.app.addHook("onError", async (_req, _reply, err) => {
    lastServerError = `${err.name}: ${err.message.slice(0, 200)}${err.stack ? ` at ${err.stack.split("\n").slice(1, 3).map((l) => l.trim()).join(" < ")}` : ""}`;
  });
  base = await env.app.listen({ port: 0, host: "127.0.0.1" });
});
afterAll(async () => {
  console.log(ledger.summary());
  await env?.close();
});

interface Request {
  method: "GET" | "POST";
  url: string;
  contentType?: string;
  body?: Buffer;
  /** The records before encoding, when there were some: easier to read than the bytes. */
  source?: unknown;
  /** How the input was made, for the failure message. */
  what: string;
}

interface Reply {
  status: number;
  body: string;
}

/** Sends over inject(), or over a real socket with fetch(). */
async function send(req: Request, overSocket: boolean): Promise<Reply> {
  const headers: Record<string, string> = { authorization: `Bearer ${env.aliceKey}` };
  if (req.contentType !== undefined) headers["content-type"] = req.contentType;
  if (overSocket) {
    const res = await fetch(base + req.url, { method: req.method, headers, body: req.body ? new Uint8Array(req.body) : undefined });
    return { status: res.status, body: await res.text() };
  }
  const res: LightMyRequestResponse = await env.app.inject({ method: req.method, url: req.url, headers, payload: req.body });
  return { status: res.statusCode, body: res.body };
}

function describeRequest(i: number, req: Request, overSocket: boolean): string {
  const body = req.body === undefined ? "" : req.contentType?.includes("json") ? ` body(json)=${showValue(req.body.toString("utf8").slice(0, 1500))}` : ` body(hex)=${showBytes(req.body, 600)}`;
  const source = req.source === undefined ? "" : `\n         records=${showValue(req.source, 1500)}`;
  return `#${i} [${req.what}] ${req.method} ${req.url}${req.contentType ? ` content-type=${req.contentType}` : ""}${overSocket ? " (socket)" : ""}${body}${source}`;
}

/** The project that runs go to: a new one after a run broke a read, so one broken run is reported once. */
let project = "fuzz0";
let projectGen = 0;
const runIds = ["fz000001", "fz000002", "fz000003", "fz000004"];

// ---- bodies -------------------------------------------------------------------------------

/** A record of a random kind, most fields sane, one or two of them nasty. */
function record(rng: Rng, runId: string, used: Set<PackerName>, seq: number): Record<string, unknown> {
  const nasty = (): unknown => anyValue(rng, used);
  const maybe = <T>(sane: T): unknown => (rng.chance(0.3) ? nasty() : sane);
  const kind = rng.weighted<string>([
    [4, "history"],
    [2, "historyCols"],
    [2, "run"],
    [1, "config"],
    [1, "summary"],
    [1, "update"],
    [1, "console"],
    [1, "system"],
    [1, "meta"],
    [1, "exit"],
    [1, "future"],
  ]);
  const s = rng.chance(0.9) ? seq : rng.pick([2 ** 53 - 1, 2 ** 53, -1, 1e15, 0.5, NaN, "1"]);
  switch (kind) {
    case "history": {
      const rows = Array.from({ length: rng.range(1, 4) }, (_, j) => {
        const row: Record<string, unknown> = { _step: maybe(j), _timestamp: T0 + j, _runtime: j, loss: 1 / (j + 1) };
        for (let n = rng.range(1, 3); n > 0; n--) row[rng.chance(0.7) ? `m${rng.int(5)}` : rng.text(8)] = nasty();
        if (rng.chance(0.05)) Object.assign(row, wide(rng.pick([1000, 70_000])));
        return row;
      });
      return { k: "history", seq: s, rows };
    }
    case "historyCols": {
      const n = rng.range(1, 4);
      const cols: Record<string, unknown> = {
        _step: Float64Array.from({ length: n }, (_, j) => j),
        _timestamp: Float64Array.from({ length: n }, (_, j) => T0 + j),
        _runtime: Float64Array.from({ length: n }, (_, j) => j),
      };
      cols[`c${rng.int(3)}`] = rng.chance(0.5) ? Array.from({ length: n }, () => nasty()) : nasty();
      return { k: "history", seq: s, n: maybe(n), cols };
    }
    case "run": {
      const over: Record<string, unknown> = {};
      for (const f of ["name", "notes", "tags", "group", "jobType", "config", "createdAt", "program"]) if (rng.chance(0.15)) over[f] = nasty();
      if (rng.chance(0.1)) over.name = "n".repeat(1_100_000);
      if (rng.chance(0.1)) over.tags = Array.from({ length: 10_000 }, (_, t) => `t${t}`);
      return { k: "run", seq: s, run: { ...runInfo(runId), ...over } };
    }
    case "config":
    case "summary":
      return { k: kind, seq: s, [kind]: rng.chance(0.8) ? { [rng.text(6) || "x"]: nasty(), lr: 0.1 } : nasty() };
    case "update":
      return { k: "update", seq: s, name: maybe(rng.text(10) || "n"), tags: maybe(["a", "b"]), notes: maybe(null) };
    case "console":
      return { k: "console", seq: s, lines: [{ at: maybe(T0), stream: maybe("stdout"), text: maybe("hello") }] };
    case "system":
      return { k: "system", seq: 0, at: maybe(T0 + rng.int(1000)), values: { "system/cpu": maybe(12.5), [rng.text(6)]: nasty() } };
    case "meta":
      return { k: "meta", seq: 0, metadata: rng.chance(0.8) ? { host: nasty(), os: nasty() } : nasty() };
    case "exit":
      return { k: "exit", seq: s, state: maybe("finished"), exitCode: maybe(0), signal: maybe(null), error: maybe(null), finishedAt: maybe(T0 + 1000) };
    default:
      // a newer daemon's record kind (point 4: kept, not refused)
      return { k: rng.pick(["artifact", "alert", "table", "__proto__"]), seq: s, payload: nasty() };
  }
}

/** Records for a run: most start with a sane run record so that the rest is about the values. */
function records(rng: Rng, runId: string, used: Set<PackerName>): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  let seq = 1;
  if (rng.chance(0.7)) out.push({ k: "run", seq: 0, run: runInfo(runId) });
  for (let n = rng.range(1, 4); n > 0; n--) {
    const r = record(rng, runId, used, seq);
    out.push(r);
    seq += Array.isArray(r.rows) ? r.rows.length : typeof r.n === "number" && Number.isSafeInteger(r.n) ? r.n : 1;
  }
  return out;
}

function msgpackOf(rng: Rng, recs: unknown[], used: Set<PackerName>): Buffer {
  const packer = packerFor(used);
  // A body of several batches, as the daemon sends it, or one.
  if (recs.length > 1 && rng.chance(0.4)) {
    const cut = rng.range(1, recs.length - 1);
    return Buffer.concat([packer.pack(recs.slice(0, cut)), packer.pack(recs.slice(cut))]);
  }
  return packer.pack(recs);
}

/** JSON text, with raw pieces JSON.stringify cannot make: 20,000-deep nesting, huge integer literals, 1e400, duplicate keys. */
function jsonOf(rng: Rng, recs: unknown[]): Buffer {
  const raws: string[] = [];
  const raw = (text: string) => `\u0000RAW${raws.push(text) - 1}\u0000`;
  const inject = (r: Record<string, unknown>) => {
    const piece = rng.pick([
      () => "[".repeat(20_000) + "]".repeat(20_000),
      () => `{"a":`.repeat(5000) + "1" + "}".repeat(5000),
      () => "18446744073709551617",
      () => "-9223372036854775809",
      () => "123456789012345678901234567890",
      () => "1e400",
      () => "-1e400",
      () => `{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}}}`,
      () => `{"k":1,"k":2}`,
      () => `"\\ud800"`,
    ])();
    if (r.k === "history" && Array.isArray(r.rows) && r.rows.length) (r.rows[0] as Record<string, unknown>)[`j${rng.int(3)}`] = raw(piece);
    else if (r.k === "config") r.config = { deep: raw(piece) };
    else if (r.k === "summary") r.summary = { deep: raw(piece) };
    else if (r.k === "run") (r.run as Record<string, unknown>).config = { deep: raw(piece) };
    else r.extra = raw(piece);
  };
  const plain = JSON.parse(JSON.stringify(recs, (_k, v: unknown) => (typeof v === "bigint" ? Number(v) : ArrayBuffer.isView(v) ? Array.from(v as Uint8Array) : v instanceof Map ? Object.fromEntries(v) : v))) as Array<Record<string, unknown>>;
  for (const r of plain) if (rng.chance(0.5)) inject(r);
  let text = JSON.stringify(plain);
  text = text.replace(/"\\u0000RAW(\d+)\\u0000"/g, (_m, n: string) => raws[Number(n)]);
  return Buffer.from(text, "utf8");
}

function walFramesOf(rng: Rng, recs: unknown[], used: Set<PackerName>): Buffer {
  const packer = packerFor(used);
  const payloads = recs.length > 1 && rng.chance(0.5) ? [packer.pack(recs.slice(0, 1)), packer.pack(recs.slice(1))] : [packer.pack(recs)];
  if (rng.chance(0.15)) payloads.push(rng.bytes(rng.range(0, 40))); // a frame with a valid CRC that is not msgpack
  return Buffer.concat(payloads.flatMap((p) => [frameHeader(p), p]));
}

/** A fresh input: a body for the records route, or a read with a random query string. */
function makeInput(rng: Rng): { req: Request; runId: string } {
  const runId = rng.chance(0.9) ? rng.pick(runIds) : rng.pick(["fz000005", ".", "..", "a".repeat(64), "%2e%2e", "x%00y"]);
  const path = `/api/v1/runs/alice/${project}/${runId}`;
  const kind = rng.weighted<string>([
    [5, "msgpack"],
    [3, "json"],
    [2, "wal-frames"],
    [2, "mutated"],
    [1, "random"],
    [3, "query"],
  ]);
  if (kind === "query") return { req: queryRequest(rng, path), runId };
  const used = new Set<PackerName>();
  const recs = records(rng, runId, used);
  let body: Buffer;
  let contentType: string;
  try {
    if (kind === "json") {
      body = jsonOf(rng, recs);
      contentType = "application/json";
    } else if (kind === "wal-frames") {
      body = walFramesOf(rng, recs, used);
      contentType = WAL_FRAMES_CONTENT_TYPE;
    } else if (kind === "random") {
      body = rng.bytes(rng.range(0, 300));
      contentType = rng.pick([RECORDS_CONTENT_TYPE, WAL_FRAMES_CONTENT_TYPE, "application/json", "text/plain", "application/x-www-form-urlencoded"]);
    } else {
      body = msgpackOf(rng, recs, used);
      contentType = RECORDS_CONTENT_TYPE;
      if (kind === "mutated") {
        if (rng.chance(0.5)) contentType = rng.pick([RECORDS_CONTENT_TYPE, WAL_FRAMES_CONTENT_TYPE]);
        body = mutateBytes(rng, rng.chance(0.5) ? body : PACKERS.protocol.pack([{ k: "run", seq: 0, run: runInfo(runId) }, { k: "history", seq: 1, rows: [{ _step: 0, _timestamp: T0, _runtime: 0, loss: 1 }] }]));
      }
    }
  } catch (err) {
    // The encoder itself refused (a stack overflow on a 20,000-deep value): send what msgpack can.
    body = PACKERS.protocol.pack([{ k: "history", seq: 1, rows: [{ _step: 0, _timestamp: T0, _runtime: 0, deep: deep(rng, 500) }] }]);
    contentType = RECORDS_CONTENT_TYPE;
    return { req: { method: "POST", url: `${path}/records`, contentType, body, what: `msgpack (encoder refused ${kind}: ${(err as Error).message.slice(0, 60)})` }, runId };
  }
  return { req: { method: "POST", url: `${path}/records`, contentType, body, source: kind === "random" ? undefined : recs, what: `${kind} via ${[...used].join("+") || "protocol"} packer` }, runId };
}

const QUERY_VALUES = ["", "0", "1", "-1", "1e15", "9007199254740993", "NaN", "Infinity", "0x10", "1.5", " 1", "abc", "%00", "%E2%80%A8", "%ZZ", "a,b,,c", "loss", "_step", "__proto__", "x".repeat(5000)];

function queryRequest(rng: Rng, path: string): Request {
  const routes: Array<[string, string[]]> = [
    [path, []],
    [`${path}/history`, ["keys", "minStep", "maxStep", "limit"]],
    [`${path}/history/buckets`, ["key", "x", "buckets", "from", "to"]],
    [`${path}/system`, ["keys", "from", "to", "limit"]],
    [`${path}/console`, ["after", "limit", "q", "tail"]],
    [`/api/v1/runs/alice/${project}`, ["limit", "offset", "state", "tag", "q", "sort", "order"]],
    [`/api/v1/entities/alice/projects`, []],
  ];
  const [url, params] = rng.pick(routes);
  const parts: string[] = [];
  for (let n = rng.range(0, 4); n > 0; n--) {
    const name = rng.chance(0.9) && params.length ? rng.pick(params) : rng.text(5);
    let value = rng.pick(QUERY_VALUES);
    if (name === "sort" && rng.chance(0.6)) value = rng.pick(["config.lr", "summary.loss", "-config.a.b", "config.", "summary..x", "config.%22", "-name", "tags", "config.__proto__", `config.${"a.".repeat(300)}b`]);
    if (name === "x") value = rng.pick(["step", "time", "runtime", "wall", ""]);
    if (name === "state") value = rng.pick(["finished", "running", "bogus", ""]);
    parts.push(`${name}=${value}`);
    if (rng.chance(0.1)) parts.push(`${name}=${value}`); // a repeated parameter arrives as an array
  }
  return { method: "GET", url: parts.length ? `${url}?${parts.join("&")}` : url, what: "query" };
}

// ---- the promises -------------------------------------------------------------------------

/** No 5xx; a 4xx is JSON {error: {code}} with a registry code. Returns whether the request was accepted. */
function checkReply(i: number, req: Request, overSocket: boolean, reply: Reply, what: string): boolean {
  const input = describeRequest(i, req, overSocket);
  if (reply.status >= 500) {
    ledger.breach(`${what}: never a 5xx (${lastServerError.split(" at ")[0].slice(0, 90)})`, input, `${reply.status} ${reply.body.slice(0, 300)}\n         server: ${lastServerError}`);
    return false;
  }
  if (reply.status >= 400) {
    let code: unknown;
    try {
      code = (JSON.parse(reply.body) as { error?: { code?: unknown } }).error?.code;
    } catch {
      code = undefined;
    }
    if (!isKnownCode(code)) ledger.breach(`${what}: every 4xx carries {error:{code:"TRK_ERR_..."}}`, input, `${reply.status} ${reply.body.slice(0, 500)}`);
    return false;
  }
  return reply.status === 200;
}

/** Every read of the run (and its project) answers 200 after an accepted body. */
async function checkReads(i: number, req: Request, runId: string): Promise<void> {
  const path = `/api/v1/runs/alice/${project}/${runId}`;
  const reads = [
    path,
    `${path}/history`,
    `${path}/history?keys=loss,m0,m1,c0,j0`,
    `${path}/history?keys=_step&limit=1`,
    `${path}/system`,
    `${path}/console`,
    `${path}/console?tail=5`,
    `/api/v1/runs/alice/${project}`,
    `/api/v1/runs/alice/${project}?sort=-config.lr&state=running`,
    `/api/v1/runs/alice/${project}?sort=summary.loss&order=desc&q=a`,
    `/api/v1/runs/alice/${project}?sort=config.deep`,
    `/api/v1/entities/alice/projects`,
    `/alice/${project}/runs/${runId}`,
    `/alice/${project}`,
  ];
  const broken: string[] = [];
  for (const url of reads) {
    lastServerError = "";
    const r = await send({ method: "GET", url, what: "read" }, false);
    if (r.status !== 200) broken.push(`GET ${url} -> ${r.status} ${r.body.slice(0, 200)}${lastServerError ? ` server: ${lastServerError}` : ""}`);
  }
  if (broken.length) {
    ledger.lost++;
    ledger.breach("nothing stored may make a read fail (every read route answers 200 after an accepted body)", describeRequest(i, req, false), broken.join("\n         "));
    project = `fuzz${++projectGen}`; // a fresh project: the broken run would fail every later read too
  }
}

it(`ingest bodies and query strings (seed ${SEED}, ${BUDGET_MS / 1000} s)`, { timeout: BUDGET_MS + 60_000 }, async () => {
  const deadline = Date.now() + BUDGET_MS;
  let accepted = 0;
  for (let i = 0; Date.now() < deadline; i++) {
    const rng = inputRng(SEED, i);
    const { req, runId } = makeInput(rng);
    const overSocket = i % 8 === 7;
    let reply: Reply;
    lastServerError = "";
    try {
      reply = await send(req, overSocket);
    } catch (err) {
      ledger.crashes++;
      ledger.breach("the server answers every request", describeRequest(i, req, overSocket), String(err));
      ledger.tried++;
      continue;
    }
    ledger.tried++;
    const ok = checkReply(i, req, overSocket, reply, req.method === "POST" ? "upload" : "read with a fuzzed query");
    if (ok && req.method === "POST") {
      accepted++;
      await checkReads(i, req, runId);
    }
  }
  // The server is still up and the key still works: nothing above took it down.
  const health = await send({ method: "GET", url: "/api/v1/viewer", what: "health" }, true);
  if (health.status !== 200) ledger.crashes++;
  console.log(ledger.summary(`accepted bodies=${accepted}`));
  expect(ledger.tried, "too few inputs for the suite to mean anything").toBeGreaterThanOrEqual(MIN_INPUTS);
  expect(accepted, "no body was accepted: the generator no longer makes uploads the server takes").toBeGreaterThan(0);
  expect(ledger.crashes, ledger.report()).toBe(0);
  expect(ledger.report()).toBe("");
});
