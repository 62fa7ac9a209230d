/** `--artifact-store` / TRACKSIDE_ARTIFACT_STORE as the server reads it (open-blob-store.ts): no network here. */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isTracksideError } from "../../src/protocol/errors.js";
import { describeArtifactStore, openBlobStore, parseArtifactStore } from "../../src/server/blobs/open-blob-store.js";

const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    if (isTracksideError(err)) return `${err.code}: ${err.message}`;
    throw err;
  }
  return "accepted";
};

describe("--artifact-store", () => {
  it("defaults to <dataDir>/artifacts, and takes an absolute directory or s3://bucket[/prefix]", () => {
    expect(parseArtifactStore(undefined, "/data")).toEqual({ kind: "filesystem", dir: join("/data", "artifacts") });
    expect(parseArtifactStore("", "/data")).toEqual({ kind: "filesystem", dir: join("/data", "artifacts") });
    expect(parseArtifactStore("/mnt/shared/artifacts/", "/data")).toEqual({ kind: "filesystem", dir: "/mnt/shared/artifacts" });
    expect(parseArtifactStore("s3://ml-artifacts", "/data")).toEqual({ kind: "s3", bucket: "ml-artifacts", prefix: "" });
    expect(parseArtifactStore("s3://ml-artifacts/", "/data")).toEqual({ kind: "s3", bucket: "ml-artifacts", prefix: "" });
    expect(parseArtifactStore("s3://ml-artifacts/team/trackside/", "/data")).toEqual({ kind: "s3", bucket: "ml-artifacts", prefix: "team/trackside" });
    expect(describeArtifactStore(parseArtifactStore("s3://ml-artifacts/team/", "/data"))).toBe("s3://ml-artifacts/team");
  });

  it("refuses anything else with TRK_ERR_INVALID_OPTION naming the option", () => {
    expect(refusal(() => parseArtifactStore("relative/dir", "/data"))).toMatch(/^TRK_ERR_INVALID_OPTION: .*--artifact-store/);
    expect(refusal(() => parseArtifactStore("s3://", "/data", "TRACKSIDE_ARTIFACT_STORE"))).toMatch(/^TRK_ERR_INVALID_OPTION: .*TRACKSIDE_ARTIFACT_STORE.*not a bucket name/);
    expect(refusal(() => parseArtifactStore("s3://Upper_Case", "/data"))).toMatch(/not a bucket name/);
    expect(refusal(() => parseArtifactStore("s3://bucket/a//b", "/data"))).toMatch(/empty, \. or \.\. segment/);
    expect(refusal(() => parseArtifactStore("gs://bucket", "/data"))).toMatch(/^TRK_ERR_INVALID_OPTION/);
  });

  it("opens an S3 store from the AWS variables, and refuses a bad endpoint or half a key pair", async () => {
    const store = await openBlobStore("s3://bkt/p", { dataDir: "/data", env: { AWS_ENDPOINT_URL: "http://127.0.0.1:9", AWS_ACCESS_KEY_ID: "k", AWS_SECRET_ACCESS_KEY: "s" } });
    expect([store.kind, store.bytes]).toEqual(["s3", null]);
    // Presigning is local: the URL is the endpoint's, path-style, with the prefix.
    const url = await store.downloadUrl({ entity: "alice", project: "data" }, "ab".repeat(32), "/api/v1");
    expect(url.startsWith(`http://127.0.0.1:9/bkt/p/alice/data/${"ab".repeat(32)}?`)).toBe(true);
    await store.close();
    await expect(openBlobStore("s3://bkt", { dataDir: "/data", env: { AWS_ENDPOINT_URL_S3: "127.0.0.1:9000" } })).rejects.toThrow(/AWS_ENDPOINT_URL_S3/);
    await expect(openBlobStore("s3://bkt", { dataDir: "/data", env: { AWS_ACCESS_KEY_ID: "k" } })).rejects.toThrow(/AWS_SECRET_ACCESS_KEY/);
  });
});
