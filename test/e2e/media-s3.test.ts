/**
 * Images on a server whose blobs are in S3 (s3rver): the media route's URLs are presigned to the
 * bucket, which must answer them as images (the objects were uploaded as bytes), so that "open
 * at full size" in the web app shows the image instead of downloading a file.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MediaValuesView } from "../../src/protocol/media.js";
import { makeEnv, runFixture, startServer, stopDaemons, type TestEnv, type TestServer } from "../helpers/processes.js";
import { localUser } from "../helpers/run-dir.js";
import { startS3, type TestS3 } from "../helpers/s3.js";

let t: TestEnv;
let server: TestServer;
let s3: TestS3;
let key: string;

beforeAll(async () => {
  t = makeEnv();
  s3 = await startS3();
  server = await startServer({ ...t.env, ...s3.env }, { args: ["--artifact-store", `s3://${s3.bucket}/media`] });
  t.env.TRACKSIDE_BASE_URL = server.url;
  key = localUser(t.home, server.url).apiKey;
  t.env.TRACKSIDE_API_KEY = key;
});
afterAll(async () => {
  await stopDaemons(t.socketDir);
  await server?.stop();
  await s3?.stop();
});

describe("images in an S3 store", () => {
  it("are answered by the bucket as image/png, inline", async () => {
    const r = await runFixture("media-run", t.env, [JSON.stringify({ steps: 1, offset: 5000 })]);
    expect(r.code, r.stderr).toBe(0);
    const { path } = JSON.parse(r.stdout.split("\n")[0]) as { path: string };
    const res = await fetch(`${server.url}/api/v1/runs/${path}/media/values?key=samples%2Finput`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    const view = (await res.json()) as MediaValuesView;
    const image = view.entries[0].value as { type: string; url: string };
    expect(image.type).toBe("image");
    expect(image.url.startsWith(s3.endpoint)).toBe(true);
    const bytes = await fetch(image.url);
    expect(bytes.status).toBe(200);
    expect(bytes.headers.get("content-type")).toBe("image/png");
    expect(bytes.headers.get("content-disposition")).toMatch(/^inline/);
  });
});
