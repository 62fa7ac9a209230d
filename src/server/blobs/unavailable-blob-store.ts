/**
 * The blob store of an app built without one (buildApp's `blobs` left out, as most route tests
 * do): every call is TRK_ERR_INTERNAL naming the missing option, never a silent success.
 */
import { ARTIFACT_PART_BYTES } from "../../protocol/artifacts.js";
import { errors } from "../../protocol/errors.js";
import type { BlobStore } from "./blob-store.js";

const refuse = async (): Promise<never> => {
  throw errors.internal("this server was built without a blob store for artifacts (buildApp's blobs option)");
};

export const unavailableBlobStore: BlobStore = Object.freeze({
  kind: "filesystem" as const,
  partBytes: ARTIFACT_PART_BYTES,
  bytes: { putBlob: refuse, putPart: refuse, openBlob: refuse },
  downloadOrigins: [],
  missing: refuse,
  planUpload: refuse,
  completeUpload: refuse,
  firstBytes: refuse,
  downloadUrl: refuse,
  close: async () => {},
});
