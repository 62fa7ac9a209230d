/**
 * The server's HTTP edge on a real socket: who may send a body, how long a request may take,
 * how many connections and live streams one client may hold, and which Host names it answers.
 * Raw sockets where the point is what the server does before a request is complete.
 */
import { request as httpRequest } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RECORDS_CONTENT_TYPE } from "../../src/protocol/api.js";
import { readCredential } from "../../src/protocol/local-config.js";
import { startServer, type RunningServer, type StartServerOptions } from "../../src/server/index.js";
import { CLI, cli, makeEnv, start as startProcess } from "../helpers/processes.js";
import { runInfo } from "./helpers.js";

let home: string;
let savedHome: string | undefined;
const servers: RunningServer[] = [];
const cleanups: (() => void)[] = [];

beforeEach(() => {
  savedHome = process.env.HOME;
  home = mkdtempSync(join(tmpdir(), "trackside-edge-"));
  process.env.HOME = home;
});
afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  for (const s of servers.splice(0)) await s.close();
  process.env.HOME = savedHome;
  rmSync(home, { recursive: true, force: true });
});

async function start(options: Partial<StartServerOptions> = {}): Promise<{ server: RunningServer; key: string; user: string }> {
  const server = await startServer({ port: 0, dataDir: join(home, "server"), ...options });
  servers.push(server);
  const { apiKey, user } = readCredential(server.url)!;
  return { server, key: apiKey, user };
}

interface RawAnswer {
  status: number;
  headers: string;
  body: string;
  /** Whether the server closed the connection by the time the answer was read. */
  closed: boolean;
}

/**
 * Writes `data` on a fresh connection and resolves with the server's first complete answer (by
 * its Content-Length) once it is in and, with `untilClosed`, the server has also closed the
 * connection. Rejects, saying what arrived, when that has not happened within `deadlineMs`.
 */
function raw(url: string, data: string | Buffer, deadlineMs: number, untilClosed = false): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    cleanups.push(() => socket.destroy());
    let received = Buffer.alloc(0);
    let closed = false;
    const parse = (): RawAnswer | null => {
      const text = received.toString("latin1");
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) return null;
      const headers = text.slice(0, end);
      const length = Number(/content-length:\s*(\d+)/i.exec(headers)?.[1] ?? 0);
      const body = received.subarray(end + 4);
      if (body.length < length) return null;
      return { status: Number(headers.split(" ")[1]), headers, body: body.subarray(0, length).toString("utf8"), closed };
    };
    const check = () => {
      const answer = parse();
      if (answer && (!untilClosed || closed)) {
        clearTimeout(timer);
        resolve(answer);
        socket.destroy();
      }
    };
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no ${untilClosed ? "answer and close" : "answer"} within ${deadlineMs} ms; got ${JSON.stringify(received.toString("latin1").slice(0, 300))}, closed: ${closed}`));
    }, deadlineMs);
    socket.on("data", (chunk) => {
      received = Buffer.concat([received, chunk]);
      check();
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      closed = true;
      check();
    });
    socket.write(data);
  });
}

/** A GET with a chosen Host header (fetch does not let a page or program set it). */
function getWithHost(url: string, path: string, host: string): Promise<{ status: number; body: string; setCookie: string[] }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path, headers: { host } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, setCookie: res.headers["set-cookie"] ?? [] }));
    });
    req.on("error", reject);
    req.end();
  });
}

const code = (answer: { body: string }) => (JSON.parse(answer.body) as { error: { code: string } }).error.code;

describe("bodies are read only after the key is checked", () => {
  it("answers an anonymous 60 MiB upload with 401 after its first KiB, without waiting for the rest", async () => {
    const { server } = await start();
    const host = new URL(server.url).host;
    const head =
      `POST /api/v1/runs/alice/demo/big00001/records HTTP/1.1\r\nHost: ${host}\r\n` +
      `Content-Type: ${RECORDS_CONTENT_TYPE}\r\nContent-Length: ${60 * 1024 * 1024}\r\n\r\n`;
    const answer = await raw(server.url, Buffer.concat([Buffer.from(head), Buffer.alloc(1024, 0x90)]), 5_000, true);
    expect(answer.status).toBe(401);
    expect(code(answer)).toBe("TRK_ERR_UNAUTHORIZED");
    // Closed after the answer: the server will not read (even to throw away) the other 60 MiB.
    expect(answer.headers).toMatch(/^connection: close$/im);
    expect(answer.closed).toBe(true);
  });

  it("refuses a bad key the same way, and still reads a keyed upload", async () => {
    const { server, key, user } = await start();
    const host = new URL(server.url).host;
    const head = (auth: string) =>
      `POST /api/v1/runs/${user}/demo/big00002/records HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${auth}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${60 * 1024 * 1024}\r\n\r\n[`;
    const bad = await raw(server.url, head("trk_not-a-key"), 5_000);
    expect(bad.status).toBe(401);
    const body = JSON.stringify([{ k: "run", seq: 0, run: runInfo("big00002", { entity: user, project: "demo" }) }]);
    const ok = await fetch(`${server.url}/api/v1/runs/${user}/demo/big00002/records`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body,
    });
    expect(ok.status).toBe(200);
  });
});

describe("timeouts", () => {
  it("cuts off a body sent too slowly with 408 TRK_ERR_REQUEST_TIMEOUT and closes the connection", async () => {
    const { server, key, user } = await start({ limits: { requestTimeoutMs: 400, headersTimeoutMs: 400 } });
    const host = new URL(server.url).host;
    const head =
      `POST /api/v1/runs/${user}/demo/slow0001/records HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${key}\r\n` +
      `Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n[`;
    const began = Date.now();
    const answer = await raw(server.url, head, 5_000, true);
    expect(answer.status).toBe(408);
    expect(code(answer)).toBe("TRK_ERR_REQUEST_TIMEOUT");
    expect(answer.closed).toBe(true);
    expect(Date.now() - began).toBeGreaterThanOrEqual(350);
  });

  it("cuts off headers that do not finish", async () => {
    const { server } = await start({ limits: { requestTimeoutMs: 400, headersTimeoutMs: 400 } });
    const answer = await raw(server.url, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", 5_000, true);
    expect(answer.status).toBe(408);
    expect(code(answer)).toBe("TRK_ERR_REQUEST_TIMEOUT");
  });
});

describe("closing", () => {
  it("waits for a request in flight only for the grace period, then cuts it (Ctrl-C does not wait for a stalled upload)", async () => {
    // The request timeout stays at its default (120 s): without the grace period, close() waits for it.
    const { server, key, user } = await start({ limits: { closeGraceMs: 300 } });
    const host = new URL(server.url).host;
    const arrived = new Promise<void>((resolve) => server.app.server.once("request", () => resolve()));
    const socket = connect(Number(new URL(server.url).port), "127.0.0.1");
    cleanups.push(() => socket.destroy());
    const cut = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    socket.write(
      `POST /api/v1/runs/${user}/demo/stall001/records HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${key}\r\n` +
        `Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n[`,
    );
    await arrived;
    servers.splice(servers.indexOf(server), 1);
    await server.close();
    await cut;
  });
});

describe("caps", () => {
  it("answers a connection over the cap with 429 TRK_ERR_TOO_MANY and closes it", async () => {
    const { server } = await start({ limits: { maxConnections: 3 } });
    const host = new URL(server.url).host;
    const get = `GET /healthz HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
    // Three keep-alive connections, each answered (so each is surely counted), held open.
    const held = await Promise.all([0, 1, 2].map(() => openConnection(server.url, get)));
    cleanups.push(() => held.forEach((s) => s.destroy()));
    const over = await raw(server.url, get, 5_000, true);
    expect(over.status).toBe(429);
    expect(code(over)).toBe("TRK_ERR_TOO_MANY");
    expect(over.closed).toBe(true);
  });

  it("refuses the third live stream of one client and the fourth in all", async () => {
    const { server, key, user } = await start({ limits: { maxStreamsPerClient: 2, maxStreams: 3 } });
    const auth = { authorization: `Bearer ${key}` };
    const created = await fetch(`${server.url}/api/v1/runs/${user}/demo/live0001/records`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify([{ k: "run", seq: 0, run: runInfo("live0001", { entity: user, project: "demo" }) }]),
    });
    expect(created.status).toBe(200);
    const made = await fetch(`${server.url}/api/v1/runs/${user}/demo/live0001`, {
      method: "PATCH",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ privacy: "public" }),
    });
    expect(made.status).toBe(200);
    const ac = new AbortController();
    cleanups.push(() => ac.abort());
    const open = (headers: Record<string, string> = {}) => fetch(`${server.url}/api/v1/runs/${user}/demo/live0001/events`, { headers, signal: ac.signal });
    // Two anonymous streams from this address: the second is the client's last.
    for (let i = 0; i < 2; i++) expect((await open()).status).toBe(200);
    const third = await open();
    expect(third.status).toBe(429);
    expect((await third.json()).error.code).toBe("TRK_ERR_TOO_MANY");
    // The user is another client: one more stream fits, then the server's cap is reached.
    expect((await open(auth)).status).toBe(200);
    const fourth = await open(auth);
    expect(fourth.status).toBe(429);
    expect((await fourth.json()).error.message).toContain("on this server");
  });
});

/** A connection that has had one answer and is held open (keep-alive). */
function openConnection(url: string, request: string): Promise<import("node:net").Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    socket.once("data", () => resolve(socket));
    socket.once("error", reject);
    socket.write(request);
  });
}

describe("Host and --public-url", () => {
  it("answers the loopback names a local server is reached by, and refuses other Host names (DNS rebinding)", async () => {
    const { server } = await start();
    const port = new URL(server.url).port;
    // A loopback name with another port is a proxy on this machine, not a rebinding page.
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, "127.0.0.1:1"]) {
      expect((await getWithHost(server.url, "/healthz", host)).status).toBe(200);
    }
    for (const host of [`evil.example:${port}`, `evil.example@127.0.0.1:${port}`, `localhost.evil.example:${port}`]) {
      const res = await getWithHost(server.url, "/healthz", host);
      expect(res.status).toBe(403);
      expect(code(res)).toBe("TRK_ERR_BAD_ORIGIN");
    }
  });

  it("with a public URL: answers its Host, builds links from it, and marks cookies Secure when it is https", async () => {
    const { server, key } = await start({ publicBaseUrl: "https://trackside.example.com/" });
    expect(server.publicUrl).toBe("https://trackside.example.com");
    const form = await getWithHost(server.url, "/login", "trackside.example.com");
    expect(form.status).toBe(200);
    expect(form.setCookie.join("\n")).toMatch(/^__Host-trackside_csrf=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Secure$/m);
    expect((await getWithHost(server.url, "/healthz", "other.example.com")).status).toBe(403);
    // The CLI and daemon on this machine still reach it by loopback.
    const minted = await fetch(`${server.url}/api/v1/auth/login-links`, { method: "POST", headers: { authorization: `Bearer ${key}` } });
    const link = new URL((await minted.json()).url as string);
    expect(link.origin).toBe("https://trackside.example.com");
    const opened = await fetch(`${server.url}${link.pathname}${link.search}`, { headers: { "sec-fetch-site": "none" }, redirect: "manual" });
    expect(opened.status).toBe(303);
    expect(opened.headers.get("set-cookie")).toMatch(/trackside_session=.*; Secure/);
  });

  it("refuses a public URL with a path or of another scheme", async () => {
    await expect(start({ publicBaseUrl: "https://trackside.example.com/tracking" })).rejects.toThrow(/TRK_ERR_INVALID_OPTION|no path/);
    await expect(start({ publicBaseUrl: "ftp://trackside.example.com" })).rejects.toThrow(/http:\/\/ or https:\/\//);
  });
});

describe("trackside server --public-url", () => {
  it("says the public URL it serves, and refuses one with a path before it listens", async () => {
    const t = makeEnv();
    const bad = await cli(["server", "--port", "0", "--data-dir", join(t.home, "data"), "--public-url", "https://trackside.example.com/x"], t.env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("TRK_ERR_INVALID_OPTION");
    expect(bad.stderr).toContain("--public-url");
    const running = startProcess([CLI, "server", "--port", "0", "--data-dir", join(t.home, "data"), "--public-url", "https://trackside.example.com"], t.env);
    cleanups.push(() => running.child.kill("SIGTERM"));
    const m = await running.waitFor(/listening on (http:\/\/\S+), public URL (\S+) /);
    expect(m[2]).toBe("https://trackside.example.com");
    expect((await getWithHost(m[1], "/healthz", "trackside.example.com")).status).toBe(200);
    expect((await getWithHost(m[1], "/healthz", "evil.example")).status).toBe(403);
    running.child.kill("SIGTERM");
    expect((await running.exited).code).toBe(0);
  });

  it("takes the per-client caps on the command line (behind a reverse proxy every connection is the proxy's)", async () => {
    const t = makeEnv();
    const bad = await cli(["server", "--port", "0", "--data-dir", join(t.home, "data"), "--max-connections-per-client", "0"], t.env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("TRK_ERR_INVALID_OPTION: Invalid option --max-connections-per-client=\"0\"");
    const running = startProcess([CLI, "server", "--port", "0", "--data-dir", join(t.home, "data"), "--max-connections-per-client", "1"], t.env);
    cleanups.push(() => running.child.kill("SIGTERM"));
    const url = (await running.waitFor(/listening on (http:\/\/\S+)/))[1];
    const get = `GET /healthz HTTP/1.1\r\nHost: ${new URL(url).host}\r\n\r\n`;
    const held = await openConnection(url, get);
    cleanups.push(() => held.destroy());
    const over = await raw(url, get, 5_000, true);
    expect(over.status).toBe(429);
    expect(code(over)).toBe("TRK_ERR_TOO_MANY");
    running.child.kill("SIGTERM");
    expect((await running.exited).code).toBe(0);
  });
});
