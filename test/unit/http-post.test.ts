/**
 * The daemon's HTTP client against a real HTTPS server on loopback whose certificate a private
 * CA signed (test/fixtures/tls: self-signed for 127.0.0.1). The shared daemon starts without
 * NODE_EXTRA_CA_CERTS (it costs every Node.js start ~70 ms); each run's client sends its own
 * (RunOpenSettings.caFile): uploads must trust that CA for that run, and only with it.
 */
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { post } from "../../src/daemon/http-post.js";
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

const send = (caFile?: string) => post(url, { "content-type": "application/octet-stream" }, Buffer.from("frames"), 5000, caFile);

describe("daemon uploads over https", () => {
  it("trusts the run's extra CA certificates and sends the body as it is", async () => {
    const r = await send(join(TLS, "cert.pem"));
    expect([r.status, r.text]).toEqual([201, "stored"]);
    expect(bodies.at(-1)?.toString()).toBe("frames");
  });

  it("refuses the same server for a run without them", async () => {
    await expect(send()).rejects.toThrow(/self[- ]signed certificate/i);
  });
});
