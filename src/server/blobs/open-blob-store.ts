/**
 * The blob store a server runs with, from `--artifact-store` (TRACKSIDE_ARTIFACT_STORE):
 * - left out: the data directory, `<dataDir>/artifacts`;
 * - an absolute directory: that directory (one that several replicas share, docs/deploy.md);
 * - `s3://bucket[/prefix]`: an S3-compatible bucket, configured by the standard AWS variables:
 *   AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL (an S3-compatible server; path-style addressing),
 *   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION (or AWS_DEFAULT_REGION;
 *   default us-east-1). Without keys, the SDK's default chain (profiles, instance roles) applies.
 *
 * The S3 SDK is loaded only for an s3:// store: every `trackside` command loads the server's
 * modules, and the SDK is the largest of them.
 */
import { isAbsolute, join, resolve } from "node:path";
import { errors } from "../../protocol/errors.js";
import type { BlobStore } from "./blob-store.js";
import { FilesystemBlobStore } from "./filesystem-blob-store.js";

export interface OpenBlobStoreOptions {
  /** The server's data directory: the default store is `<dataDir>/artifacts`. */
  dataDir: string;
  /** Where the AWS variables are read; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Part size of multipart uploads; default ARTIFACT_PART_BYTES (tests use less). */
  partBytes?: number;
  /** The option's name in errors; default "--artifact-store". */
  option?: string;
}

/** What `--artifact-store` names, parsed. */
export type ArtifactStoreSpec = { kind: "filesystem"; dir: string } | { kind: "s3"; bucket: string; prefix: string };

/** S3's bucket names: 3 to 63 of [a-z0-9.-], starting and ending with a letter or digit. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Parses `--artifact-store` (undefined or "": the data directory).
 * @throws TRK_ERR_INVALID_OPTION for anything but an absolute directory or `s3://bucket[/prefix]`.
 * @example
 * parseArtifactStore("s3://ml-artifacts/trackside/", "/data") // { kind: "s3", bucket: "ml-artifacts", prefix: "trackside" }
 */
export function parseArtifactStore(value: string | undefined, dataDir: string, option = "--artifact-store"): ArtifactStoreSpec {
  if (value === undefined || value === "") return { kind: "filesystem", dir: join(dataDir, "artifacts") };
  const want = "s3://bucket or s3://bucket/prefix (an S3-compatible bucket), or an absolute directory";
  if (value.startsWith("s3://")) {
    const [bucket, ...rest] = value.slice("s3://".length).split("/");
    const prefix = rest.join("/").replace(/^\/+|\/+$/g, "");
    if (!BUCKET.test(bucket)) throw errors.invalidOption(option, value, `${want}; ${JSON.stringify(bucket)} is not a bucket name`);
    if (prefix !== "" && prefix.split("/").some((s) => s === "" || s === "." || s === "..")) throw errors.invalidOption(option, value, `${want}; the prefix has an empty, . or .. segment`);
    return { kind: "s3", bucket, prefix };
  }
  if (isAbsolute(value)) return { kind: "filesystem", dir: resolve(value) };
  throw errors.invalidOption(option, value, want);
}

/** The spec as the server's start line and log show it. */
export function describeArtifactStore(spec: ArtifactStoreSpec): string {
  return spec.kind === "s3" ? `s3://${spec.bucket}${spec.prefix ? `/${spec.prefix}` : ""}` : spec.dir;
}

/**
 * Opens the blob store `--artifact-store` names. Nothing is touched yet: the filesystem store
 * makes its directories on first write, and an S3 bucket is first asked on first use.
 */
export async function openBlobStore(value: string | undefined, options: OpenBlobStoreOptions): Promise<BlobStore> {
  const spec = parseArtifactStore(value, options.dataDir, options.option);
  if (spec.kind === "filesystem") return new FilesystemBlobStore(spec.dir, { partBytes: options.partBytes });
  const env = options.env ?? process.env;
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  if (endpoint !== undefined && !/^https?:\/\/[^/]/.test(endpoint)) {
    throw errors.invalidOption(env.AWS_ENDPOINT_URL_S3 ? "AWS_ENDPOINT_URL_S3" : "AWS_ENDPOINT_URL", endpoint, "an http:// or https:// URL of an S3-compatible server");
  }
  const keyId = env.AWS_ACCESS_KEY_ID;
  const secret = env.AWS_SECRET_ACCESS_KEY;
  if (Boolean(keyId) !== Boolean(secret)) {
    throw errors.invalidOption(keyId ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID", "(unset)", "set with its pair (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or neither");
  }
  const { S3BlobStore } = await import("./s3-blob-store.js");
  return new S3BlobStore({
    bucket: spec.bucket,
    prefix: spec.prefix,
    endpoint,
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || "us-east-1",
    ...(keyId && secret ? { credentials: { accessKeyId: keyId, secretAccessKey: secret, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) } } : {}),
    partBytes: options.partBytes,
  });
}
