/**
 * Signed upload URLs for run files (CreateRunFiles). W&B's client PUTs a run file to the URL the
 * server handed out, with no credentials (it would send them to a cloud bucket otherwise), so the
 * URL itself is the capability: which run and file it may write, until when, with an HMAC of the
 * server's secret. It is handed out only after the access rule allowed the asker to write to the
 * run's entity.
 *
 * The secret is the database's (Store.serverSecret), not the process's: behind a load balancer
 * the PUT may reach another replica than the one that handed the URL out.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
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

/** The name of the upload URLs' secret in the database (Store.serverSecret). */
export const UPLOAD_SECRET_NAME = "wandb-upload-urls";

/**
 * Signs and checks upload tokens with one secret, fetched once on first use (a failed fetch, the
 * database away for a moment, is asked again next time).
 *
 * @example
 * const signer = new UploadSigner(() => store.serverSecret(UPLOAD_SECRET_NAME));
 * const token = await signer.sign({ entity: "alice", project: "p", runId: "r1", file: "config.yaml", expiresAt });
 */
export class UploadSigner {
  private readonly loadSecret: () => Promise<Buffer>;
  private secret: Promise<Buffer> | null = null;

  constructor(secret: Buffer | (() => Promise<Buffer>)) {
    this.loadSecret = Buffer.isBuffer(secret) ? () => Promise.resolve(secret) : secret;
  }

  private async mac(payload: string): Promise<Buffer> {
    this.secret ??= this.loadSecret().catch((err: unknown) => {
      this.secret = null;
      throw err;
    });
    return createHmac("sha256", await this.secret).update(payload).digest();
  }

  /** A token for the URL path: base64url JSON, a dot, base64url HMAC. */
  async sign(grant: UploadGrant): Promise<string> {
    const payload = Buffer.from(JSON.stringify([grant.entity, grant.project, grant.runId, grant.file, grant.expiresAt])).toString("base64url");
    return `${payload}.${(await this.mac(payload)).toString("base64url")}`;
  }

  /**
   * The grant of a token.
   * @throws TRK_ERR_FORBIDDEN for a token no server of this database signed, or one that expired.
   */
  async verify(token: string, now: number): Promise<UploadGrant> {
    // The token is compared as text, whole: base64url decoding forgives the unused low bits of
    // the last character and would stop at a second dot, so decoding then comparing bytes let a
    // few altered tokens through.
    const payload = token.slice(0, Math.max(0, token.indexOf(".")));
    const given = Buffer.from(token);
    const want = Buffer.from(`${payload}.${(await this.mac(payload)).toString("base64url")}`);
    if (!payload || given.length !== want.length || !timingSafeEqual(given, want)) {
      throw errors.forbidden("uploading with a URL this server did not sign", "Ask for a new upload URL (W&B's client does so at the next run).");
    }
    const [entity, project, runId, file, expiresAt] = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as [string, string, string, string, number];
    if (expiresAt < now) throw errors.forbidden(`uploading ${file} with an upload URL that expired`, "Ask for a new upload URL.");
    return { entity, project, runId, file, expiresAt };
  }
}
