/**
 * The daemon's HTTP client against a real HTTPS server on loopback whose certificate a private
 * CA signed (test/fixtures/tls: self-signed for 127.0.0.1). The daemon is spawned without
 * NODE_EXTRA_CA_CERTS (it costs every Node.js start ~70 ms) and gets the path as
 * TRACKSIDE_EXTRA_CA_CERTS instead: uploads must trust that CA all the same, and only with it.
 * Each case runs in a child process, as the daemon would, with its own environment.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../helpers/processes.js";

const TLS = join(ROOT, "test/fixtures/tls");
let server: Server;
let url: string;
const bodies: Buffer[] = [];

beforeAll(async () => {
  server = createServer({ key: readFileSync(join(TLS, "key.pem")), cert: readFileSync(join(TLS, "cert.pem")) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      bodies.push(Buffer.concat(chunks));
      res.writeHead(201, { "content-type": "text/plain" }).end("stored");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/records`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** Runs post() in a fresh Node.js process with `env`; its result or its error message. */
function postFromChild(env: NodeJS.ProcessEnv): Promise<{ status?: number; text?: string; error?: string }> {
  const script = `
    const { post } = await import(${JSON.stringify(join(ROOT, "dist/src/daemon/http-post.js"))});
    try {
      const r = await post(${JSON.stringify(url)}, { "content-type": "application/octet-stream" }, Buffer.from("frames"), 5000);
      console.log(JSON.stringify({ status: r.status, text: r.text }));
    } catch (err) {
      console.log(JSON.stringify({ error: err.message }));
    }
    process.exit(0);`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { env: { PATH: process.env.PATH, ...env }, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d));
    child.on("close", () => {
      try {
        resolve(JSON.parse(out.trim()) as { status?: number; text?: string; error?: string });
      } catch (err) {
        reject(new Error(`no result from the child: ${out} (${(err as Error).message})`));
      }
    });
  });
}

describe("daemon uploads over https", () => {
  it("trusts the CA named by TRACKSIDE_EXTRA_CA_CERTS and sends the body as it is", async () => {
    const r = await postFromChild({ TRACKSIDE_EXTRA_CA_CERTS: join(TLS, "cert.pem") });
    expect(r).toEqual({ status: 201, text: "stored" });
    expect(bodies.at(-1)?.toString()).toBe("frames");
  });

  it("refuses the same server without it", async () => {
    const r = await postFromChild({});
    expect(r.error).toMatch(/self[- ]signed certificate/i);
  });
});
