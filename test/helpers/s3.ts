/**
 * A real S3-compatible server for the tests: s3rver on 127.0.0.1 (a free port), keeping its
 * objects in a temp dir, with one bucket made. It checks request signatures (presigned URLs
 * included) with the keys in `env`; it does not enforce S3's 5 MiB smallest part, nor does it
 * support ListParts. Pass `env` to a server process (or to openBlobStore) with
 * `--artifact-store s3://<bucket>/<prefix>`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
// @ts-expect-error s3rver ships no types; its use here is the few lines below.
import S3rver from "s3rver";

export interface TestS3 {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  bucket: string;
  /** The AWS variables that point a server (open-blob-store.ts) at it. */
  env: Record<string, string>;
  /** Stops the server and removes its objects; idempotent. */
  stop(): Promise<void>;
}

/** s3rver's fixed credentials: it knows this one key pair. */
const KEY = "S3RVER";

/** Starts s3rver with the bucket `bucket` (default "trackside-test"). */
export async function startS3(bucket = "trackside-test"): Promise<TestS3> {
  const directory = mkdtempSync(join(tmpdir(), "trk-s3-"));
  const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
  const address = (await server.run()) as { port: number };
  const endpoint = `http://127.0.0.1:${address.port}`;
  let stopped: Promise<void> | null = null;
  return {
    endpoint,
    bucket,
    env: {
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_ACCESS_KEY_ID: KEY,
      AWS_SECRET_ACCESS_KEY: KEY,
      AWS_REGION: "us-east-1",
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    },
    stop: () =>
      (stopped ??= (async () => {
        await (server.close() as Promise<void>);
        rmSync(directory, { recursive: true, force: true });
      })()),
  };
}
