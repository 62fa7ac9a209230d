/**
 * The daemon's PUT of a byte range of a file (an artifact blob's part) against a real HTTP server
 * on loopback: the range is what arrives, read from disk, and a file cut short since it was staged
 * fails the PUT instead of leaving the server waiting for bytes that never come.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { putFileRange } from "../../src/daemon/http-put.js";

let server: Server;
let url: string;
const received: { method: string; length: string | undefined; auth: string | undefined; body: Buffer }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ method: req.method!, length: req.headers["content-length"], auth: req.headers.authorization, body: Buffer.concat(chunks) });
      res.writeHead(200, { etag: '"e1"' }).end();
    });
    req.on("error", () => undefined); // a client that gives up mid-body
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/part`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const file = (bytes: Buffer) => {
  const path = join(mkdtempSync(join(tmpdir(), "trk-put-")), "blob");
  writeFileSync(path, bytes);
  return path;
};

describe("putFileRange", () => {
  it("sends the byte range of the file with its headers, and answers the server's status and etag", async () => {
    const bytes = Buffer.from(Array.from({ length: 300_000 }, (_, i) => i % 251));
    const r = await putFileRange(url, { authorization: "Bearer k" }, file(bytes), 100_000, 150_000, 5000);
    expect([r.status, r.headers.etag]).toEqual([200, '"e1"']);
    const got = received.at(-1)!;
    expect([got.method, got.length, got.auth]).toEqual(["PUT", "150000", "Bearer k"]);
    expect(got.body.equals(bytes.subarray(100_000, 250_000))).toBe(true);
  });

  it("rejects when the file ends before the range does", async () => {
    await expect(putFileRange(url, {}, file(Buffer.from("short")), 2, 10, 5000)).rejects.toThrow(/ends at byte 5, before the 10 bytes from 2/);
  });
});
