/**
 * Signed upload URLs for run files (CreateRunFiles). W&B's client PUTs a run file to the URL the
 * server handed out, with no credentials (it would send them to a cloud bucket otherwise), so the
 * URL itself is the capability: which run and file it may write, until when, with an HMAC of the
 * server's secret. It is handed out only after the access rule allowed the asker to write to the
 * run's entity.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { errors } from "../../protocol/errors.js";

/** An hour: a run's files are uploaded right after CreateRunFiles, retries included. */
export const UPLOAD_URL_TTL_MS = 60 * 60 * 1000;

/** What an upload URL allows: one file of one run, until `expiresAt` (ms). */
export interface UploadGrant {
  entity: string;
  project: string;
  runId: string;
  file: string;
  expiresAt: number;
}

/** Signs and checks upload tokens with one secret (random per server process unless given). */
export class UploadSigner {
  private readonly secret: Buffer;

  constructor(secret: Buffer = randomBytes(32)) {
    this.secret = secret;
  }

  private mac(payload: string): Buffer {
    return createHmac("sha256", this.secret).update(payload).digest();
  }

  /** A token for the URL path: base64url JSON, a dot, base64url HMAC. */
  sign(grant: UploadGrant): string {
    const payload = Buffer.from(JSON.stringify([grant.entity, grant.project, grant.runId, grant.file, grant.expiresAt])).toString("base64url");
    return `${payload}.${this.mac(payload).toString("base64url")}`;
  }

  /**
   * The grant of a token.
   * @throws TRK_ERR_FORBIDDEN for a token this server did not sign, or one that expired.
   */
  verify(token: string, now: number): UploadGrant {
    const [payload, mac] = token.split(".");
    const given = Buffer.from(mac ?? "", "base64url");
    const want = this.mac(payload ?? "");
    if (!payload || given.length !== want.length || !timingSafeEqual(given, want)) {
      throw errors.forbidden("uploading with a URL this server did not sign", "Ask for a new upload URL (W&B's client does so at the next run).");
    }
    const [entity, project, runId, file, expiresAt] = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as [string, string, string, string, number];
    if (expiresAt < now) throw errors.forbidden(`uploading ${file} with an upload URL that expired`, "Ask for a new upload URL.");
    return { entity, project, runId, file, expiresAt };
  }
}
