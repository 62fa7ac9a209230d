/**
 * `trackside server --artifact-store` and TRACKSIDE_ARTIFACT_STORE, through the built command: an
 * S3 bucket (s3rver on loopback) named by the variable, with the AWS variables pointing at it,
 * and a bad value refused at start, naming where it came from.
 */
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readCredential } from "../../src/protocol/local-config.js";
import { cli, makeEnv, startServer, type TestServer } from "../helpers/processes.js";
import { startS3, type TestS3 } from "../helpers/s3.js";

let s3: TestS3;
let server: TestServer | null = null;
beforeAll(async () => {
  s3 = await startS3();
});
afterAll(async () => {
  await server?.stop();
  await s3?.stop();
});

describe("trackside server --artifact-store", () => {
  it("keeps artifacts in the S3 bucket TRACKSIDE_ARTIFACT_STORE names, planning uploads to it", async () => {
    const t = makeEnv({ ...s3.env, TRACKSIDE_ARTIFACT_STORE: `s3://${s3.bucket}/cli` });
    server = await startServer(t.env);
    await server.running.waitFor(new RegExp(`listening on \\S+ \\(data: .*, artifacts: s3://${s3.bucket}/cli\\)`));
    const { apiKey, user } = readCredential(server.url, t.env)!;
    const digest = createHash("sha256").update("abc").digest("hex");
    const res = await fetch(`${server.url}/api/v1/artifacts/${user}/p/blobs/${digest}/uploads`, {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ size: 3 }),
    });
    expect(res.status).toBe(200);
    const plan = (await res.json()) as { parts: { url: string }[] };
    expect(plan.parts[0].url.startsWith(`${s3.endpoint}/${s3.bucket}/cli/${user}/p/${digest}?`)).toBe(true);
    expect((await fetch(plan.parts[0].url, { method: "PUT", body: "abc" })).status).toBe(200);
  });

  it("refuses a value that is neither s3://bucket/prefix nor an absolute directory, naming the flag or the variable", async () => {
    const flag = await cli(["server", "--port", "0", "--artifact-store", "artifacts"], makeEnv().env);
    expect([flag.code, flag.stderr]).toEqual([1, expect.stringMatching(/TRK_ERR_INVALID_OPTION.*--artifact-store/s)]);
    const variable = await cli(["server", "--port", "0"], makeEnv({ TRACKSIDE_ARTIFACT_STORE: "s3://" }).env);
    expect([variable.code, variable.stderr]).toEqual([1, expect.stringMatching(/TRK_ERR_INVALID_OPTION.*TRACKSIDE_ARTIFACT_STORE/s)]);
  });
});
