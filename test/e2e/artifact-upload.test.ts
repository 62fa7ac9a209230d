/**
 * The daemon's artifact uploads with a real daemon (`trackside daemon`), a real server and the
 * real CLI. A raw ZeroMQ connection plays the client (trackside's own logArtifact is tested on
 * top of this by the client's tests): it writes the queue entry and the staged blobs by hand, as
 * docs/protocol.md ("The artifact queue") says, and sends `artifact`. The promises: an artifact
 * the daemon took is uploaded although the user's process is SIGKILLed at once; a successor
 * daemon uploads what its predecessor left in the queue; finish() waits for the queue and says
 * what is pending; an offline run's queue is uploaded by `trackside sync`, which writes nothing.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeRecords, type ArtifactVersionDetail, type DaemonMessage, type RunOpenSettings, type RunView } from "../../src/protocol/index.js";
import { CLI, ROOT, cli, eventually, serverWithEnv, start, type Running, type TestEnv, type TestServer } from "../helpers/processes.js";
import { RawClient, openSettings, outcome } from "../helpers/raw-daemon.js";
import { fingerprint, localUser } from "../helpers/run-dir.js";
import { writeLogEntry } from "../helpers/artifact-queue.js";

let server: TestServer;
let t: TestEnv;
let user: { user: string; apiKey: string };
const running: Running[] = [];
const clients: RawClient[] = [];
const sleepers: ChildProcess[] = [];

beforeAll(async () => {
  ({ t, server } = await serverWithEnv());
  user = localUser(t.home, server.url);
});

afterAll(async () => {
  for (const c of clients) c.close();
  for (const s of sleepers) s.kill("SIGKILL");
  for (const p of running) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGTERM");
    await p.exited;
  }
  await server?.stop();
});

const DAEMON_MAIN = join(ROOT, "dist/daemon/main.cjs");

/**
 * An HTTP proxy in front of `target` that holds every request under `prefix` until release():
 * the server is slow for artifacts only.
 */
async function holdingProxy(target: string, prefix: string): Promise<{ url: string; release(): void; close(): Promise<void> }> {
  let released = false;
  const held: (() => void)[] = [];
  const proxy = createServer((req, res) => {
    const forward = (): void => {
      const out = httpRequest(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      out.on("error", () => res.destroy());
      req.pipe(out);
    };
    if (!released && req.url?.startsWith(prefix)) held.push(forward);
    else forward();
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    release() {
      released = true;
      for (const f of held.splice(0)) f();
    },
    close: () => new Promise<void>((resolve) => proxy.close(() => resolve())),
  };
}

/** A standalone daemon on a fresh ipc socket. */
async function daemon(): Promise<{ address: string; proc: Running }> {
  const proc = start([CLI, "daemon", "--listen", `ipc://${join(mkdtempSync(join(tmpdir(), "trk-art-")), "d.sock")}`], t.env);
  running.push(proc);
  return { address: (await proc.waitFor(/listening on (\S+)/))[1], proc };
}

/** A process that stands for the user's: the daemon watches its pid. */
function userProcess(): ChildProcess {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  sleepers.push(child);
  return child;
}

/** Settings of an online run of the local user in project `artifacts`, its directory under the test's run dir. */
function settings(id: string, pid: number, over: Partial<RunOpenSettings> = {}): RunOpenSettings {
  const s = openSettings(t.runDir, id, { mode: "online", baseUrl: server.url, apiKey: user.apiKey, pid, ...over });
  s.run = { ...s.run, entity: user.user, project: "artifacts" };
  return s;
}

/** Connects, greets as `pid`, opens the run and sends its run record; returns the client and the run's path. */
async function openRun(address: string, s: RunOpenSettings): Promise<{ c: RawClient; runPath: string }> {
  const c = new RawClient(address);
  clients.push(c);
  expect(outcome(await c.hello(s.pid))).toBe("ok");
  const opened = await c.request({ t: "open", settings: s });
  expect(outcome(opened)).toBe("opened");
  const runPath = `${s.run.entity}/${s.run.project}/${s.run.id}`;
  const ack = await c.request({ t: "records", runPath, first: 1, last: 1 }, encodeRecords([{ k: "run", seq: 1, run: s.run }]));
  expect(outcome(ack)).toBe("ack");
  return { c, runPath };
}

/** GET /api/v1/artifacts/<entity>/artifacts/<name>/<alias>, or undefined while it is not there. */
async function version(name: string, alias: string): Promise<ArtifactVersionDetail | undefined> {
  const res = await fetch(`${server.url}/api/v1/artifacts/${user.user}/artifacts/${name}/${alias}`, { headers: { authorization: `Bearer ${user.apiKey}` } });
  if (res.status === 404) return undefined;
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  return (await res.json()) as ArtifactVersionDetail;
}

/** GET /api/v1/runs/<path>: the run's view. */
async function runView(path: string): Promise<RunView> {
  const res = await fetch(`${server.url}/api/v1/runs/${path}`, { headers: { authorization: `Bearer ${user.apiKey}` } });
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  return (await res.json()) as RunView;
}

/** A file of a version, downloaded from the URL the server gave. */
async function download(url: string): Promise<Buffer> {
  const absolute = /^https?:/.test(url);
  const res = await fetch(absolute ? url : `${server.url}${url}`, { headers: absolute ? {} : { authorization: `Bearer ${user.apiKey}` } });
  if (!res.ok) throw new Error(`HTTP ${res.status} for ${url}`);
  return Buffer.from(await res.arrayBuffer());
}

const files = { "train.csv": Buffer.from("x,y\n1,2\n3,4\n"), "labels/names.txt": Buffer.from("cat\ndog\n") };

describe("the daemon uploads artifacts", () => {
  it("uploads an artifact it took although the user's process is SIGKILLed right after: the spawned daemon keeps the run open until it is done, then leaves", async () => {
    // The artifact routes are held back (a proxy in front of the server) until the run has ended
    // and its WAL is uploaded: the one moment a daemon that forgot its queue would close the run
    // and leave with the artifact not uploaded.
    const proxy = await holdingProxy(server.url, "/api/v1/artifacts/");
    const dir = mkdtempSync(join(tmpdir(), "trk-art-"));
    const address = `ipc://${join(dir, "d.sock")}`;
    const spawned = start([DAEMON_MAIN, "--listen", address, "--ready-file", join(dir, "d.json"), "--spawned", "--log-file", join(dir, "d.log")], t.env);
    running.push(spawned);
    await eventually("the daemon is ready", () => (existsSync(join(dir, "d.json")) ? true : undefined));
    const victim = userProcess();
    const s = settings("artkill1", victim.pid!, { baseUrl: proxy.url });
    const { c, runPath } = await openRun(address, s);
    const { entry, digest } = writeLogEntry(s.runDir, "killed-set", files, ["first"]);
    expect(outcome(await c.request({ t: "artifact", runPath, entry }))).toBe("ok");
    victim.kill("SIGKILL"); // the moment logArtifact() resolved
    await eventually("the run is crashed on the server", async () => ((await runView(runPath)).state === "crashed" ? true : undefined));
    await eventually("the daemon keeps the run open for its artifact", () => (readFileSync(join(s.runDir, "logs", "daemon.log"), "utf8").includes("kept open for its artifact queue") ? true : undefined));
    expect(spawned.child.exitCode).toBeNull();
    proxy.release();
    const v = await eventually("the version is on the server", () => version("killed-set", "v0"), 20_000);
    expect(v).toMatchObject({ version: 0, digest, fileCount: 2, aliases: ["first", "latest"] });
    for (const f of v.files) expect(await download(f.url)).toEqual(files[f.path as keyof typeof files]);
    expect((await runView(runPath)).artifactOutputs).toEqual([expect.objectContaining({ name: "killed-set", version: 0, digest })]);
    // Its work done, the spawned daemon leaves by itself, having noted the version beside the
    // entry (written after the server's answer: read once it has left, not as the version shows).
    expect((await spawned.exited).code).toBe(0);
    expect(JSON.parse(readFileSync(join(s.runDir, "artifacts", "queue", `${entry}.done.json`), "utf8"))).toEqual({ version: 0, error: null });
    await proxy.close();
  });

  it("a successor daemon uploads the entries its predecessor left in the queue", async () => {
    const first = await daemon();
    const user1 = userProcess();
    // The first daemon's server is away: the entry stays queued.
    const away = settings("artsucc1", user1.pid!, { baseUrl: "http://127.0.0.1:9" });
    const { c, runPath } = await openRun(first.address, away);
    const { entry, digest } = writeLogEntry(away.runDir, "left-set", files);
    expect(outcome(await c.request({ t: "artifact", runPath, entry }))).toBe("ok");
    const status = (await c.request({ t: "status", runPath })) as Extract<DaemonMessage, { t: "progress" }>;
    expect(status).toMatchObject({ pendingArtifacts: 1, pendingBytes: expect.any(Number) as number });
    expect(status.pendingBytes).toBeGreaterThanOrEqual(files["train.csv"].length + files["labels/names.txt"].length);
    first.proc.child.kill("SIGKILL");
    await first.proc.exited;
    // The client reconnects to a new daemon and opens its run again, now with the server there.
    const second = await daemon();
    const c2 = new RawClient(second.address);
    clients.push(c2);
    expect(outcome(await c2.hello(user1.pid!))).toBe("ok");
    expect(outcome(await c2.request({ t: "open", settings: { ...away, baseUrl: server.url } }))).toBe("opened");
    const done = await c2.request({ t: "artifact-wait", runPath, entry, timeoutMs: 9_000 });
    expect(done).toMatchObject({ t: "artifact-done", entry, version: 0, error: null });
    expect(await version("left-set", "latest")).toMatchObject({ version: 0, digest });
  });

  it("finish() waits for the queue and says nothing is pending; the same files again are the same version, a changed one a new version", async () => {
    const { address } = await daemon();
    const proc = userProcess();
    const s = settings("artfin01", proc.pid!);
    const { c, runPath } = await openRun(address, s);
    const a = writeLogEntry(s.runDir, "fin-set", files).entry;
    const b = writeLogEntry(s.runDir, "fin-set", files).entry;
    const changed = writeLogEntry(s.runDir, "fin-set", { ...files, "train.csv": Buffer.from("x,y\n5,6\n") }).entry;
    for (const entry of [a, b, changed]) expect(outcome(await c.request({ t: "artifact", runPath, entry }))).toBe("ok");
    const exit = await c.request({ t: "records", runPath, first: 2, last: 2 }, encodeRecords([{ k: "exit", seq: 2, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: Date.now() }]));
    expect(outcome(exit)).toBe("ack");
    const finished = await c.request({ t: "finish", runPath, timeoutMs: 9_000 });
    expect(finished).toMatchObject({ t: "finished", synced: true, pendingArtifacts: 0, pendingBytes: 0 });
    const versions = [];
    for (const entry of [a, b, changed]) versions.push(await c.request({ t: "artifact-wait", runPath, entry, timeoutMs: 0 }));
    expect(versions.map((v) => (v as { version: number }).version)).toEqual([0, 0, 1]);
  });

  it("an offline run uploads nothing; trackside sync uploads its queue after the WAL and writes nothing in the directory", async () => {
    const { address } = await daemon();
    const proc = userProcess();
    const s = settings("artoffl1", proc.pid!, { mode: "offline", apiKey: null });
    const { c, runPath } = await openRun(address, s);
    const { entry, digest } = writeLogEntry(s.runDir, "offline-set", files);
    expect(outcome(await c.request({ t: "artifact", runPath, entry }))).toBe("ok");
    const exit = await c.request({ t: "records", runPath, first: 2, last: 2 }, encodeRecords([{ k: "exit", seq: 2, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: Date.now() }]));
    expect(outcome(exit)).toBe("ack");
    expect(await c.request({ t: "finish", runPath, timeoutMs: 100 })).toMatchObject({ t: "finished", synced: false, pendingArtifacts: 1 });
    expect(await c.request({ t: "artifact-wait", runPath, entry, timeoutMs: 10_000 })).toMatchObject({ t: "artifact-done", version: null, error: null });
    expect(await version("offline-set", "v0")).toBeUndefined();
    // What sync could write is in artifacts/ (results, upload state); the WAL's part is sync.test.ts's.
    const artifacts = (f: Record<string, string>) => Object.fromEntries(Object.entries(f).filter(([k]) => k.startsWith("artifacts/")));
    const before = artifacts(fingerprint(s.runDir));
    const r = await cli(["sync", s.runDir], t.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("artifact offline-set:v0");
    expect(await version("offline-set", "v0")).toMatchObject({ digest, fileCount: 2 });
    expect(artifacts(fingerprint(s.runDir))).toEqual(before);
    expect(Object.keys(before)).toHaveLength(3); // the entry and its two blobs: nothing more came
  });
});
