import { describe, expect, it } from "vitest";
import { UploadSigner } from "../../src/server/wandb/upload-token.js";

const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const grant = { entity: "alice", project: "p", runId: "r1", file: "config.yaml", expiresAt: 2_000_000_000_000 };

/** Each other spelling of the token's last character that decodes to the same bytes. */
function sameBytesOtherText(token: string): string[] {
  const last = BASE64URL.indexOf(token.at(-1)!);
  // A 32-byte HMAC is 43 characters: 258 bits, so the last character's 2 low bits are unused.
  return [1, 2, 3].map((bits) => token.slice(0, -1) + BASE64URL[(last & ~3) | ((last & 3) ^ bits)]);
}

describe("upload URL tokens", () => {
  it("answers the grant of a token it signed", async () => {
    const signer = new UploadSigner(Buffer.alloc(32, 7));
    expect(await signer.verify(await signer.sign(grant), 0)).toEqual(grant);
  });

  it("refuses every altered token, even one whose signature decodes to the same bytes", async () => {
    const signer = new UploadSigner(Buffer.alloc(32, 7));
    const token = await signer.sign(grant);
    const altered = [...sameBytesOtherText(token), `${token}.extra`, `${token}=`, token.slice(0, -1), `x${token}`, "", "."];
    for (const bad of altered) {
      await expect(signer.verify(bad, 0), bad).rejects.toMatchObject({ code: "TRK_ERR_FORBIDDEN" });
    }
  });

  it("refuses a token another secret signed, and one that expired", async () => {
    const token = await new UploadSigner(Buffer.alloc(32, 7)).sign(grant);
    await expect(new UploadSigner(Buffer.alloc(32, 8)).verify(token, 0)).rejects.toMatchObject({ code: "TRK_ERR_FORBIDDEN" });
    await expect(new UploadSigner(Buffer.alloc(32, 7)).verify(token, grant.expiresAt + 1)).rejects.toMatchObject({ code: "TRK_ERR_FORBIDDEN" });
  });
});
