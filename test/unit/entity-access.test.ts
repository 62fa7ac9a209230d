/**
 * init()'s check of a named entity (src/client/entity-access.ts) in the cases the end-to-end
 * test (test/e2e/accounts-cli.test.ts) does not reach with today's server: a server from before
 * teams, which has no /entities route and answers 404 there, must not refuse a user their own
 * entity; and the check is skipped for the user stored with the very key.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkEntityWrite, entityNeedsCheck } from "../../src/client/entity-access.js";
import { writeCredential } from "../../src/protocol/local-config.js";

let oldServer: Server;
let url: string;

beforeAll(async () => {
  // The routes of a server before accounts: /viewer, and a coded 404 for every path it lacks.
  oldServer = createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    if (req.url === "/api/v1/viewer" && req.headers.authorization === "Bearer trk_bob") {
      res.end(JSON.stringify({ user: "bob", entity: "bob" }));
      return;
    }
    res.writeHead(404).end(JSON.stringify({ error: { code: "TRK_ERR_NOT_FOUND", message: `${req.method} ${req.url} was not found.` } }));
  });
  await new Promise<void>((resolve) => oldServer.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(oldServer.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => oldServer.close(resolve)));

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error("expected a rejection");
}

describe("checkEntityWrite", () => {
  it("a server without /entities: the key's own entity goes on; another is TRK_ERR_FORBIDDEN naming both", async () => {
    await expect(checkEntityWrite(url, "trk_bob", "bob")).resolves.toBeUndefined();
    const err = await rejection(checkEntityWrite(url, "trk_bob", "vision"));
    expect(err.code).toBe("TRK_ERR_FORBIDDEN");
    expect(err.message).toContain('user "bob"');
    expect(err.message).toContain('"vision"');
  });

  it("a server that does not answer: TRK_ERR_SERVER_UNREACHABLE, for init() to warn about", async () => {
    expect((await rejection(checkEntityWrite("http://127.0.0.1:1", "trk_bob", "vision"))).code).toBe("TRK_ERR_SERVER_UNREACHABLE");
  });
});

describe("entityNeedsCheck", () => {
  it("is false only for the user stored with this very key for this URL", () => {
    const env = { HOME: mkdtempSync(join(tmpdir(), "trk-ea-")) };
    expect(entityNeedsCheck(url, "trk_bob", "bob", env)).toBe(true); // no credentials file
    writeCredential(url, { apiKey: "trk_bob", user: "bob" }, env);
    expect(entityNeedsCheck(`${url}/`, "trk_bob", "bob", env)).toBe(false);
    expect(entityNeedsCheck(url, "trk_bob", "vision", env)).toBe(true);
    expect(entityNeedsCheck(url, "trk_other", "bob", env)).toBe(true);
  });
});
