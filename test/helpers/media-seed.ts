/**
 * Seeds media on a real server as the daemon uploads it: PNG bytes encoded here (pngjs) and put
 * in the project's blob store through the blob routes (missing, upload plan, PUT), and the
 * ImageRef that a media record names them by. Fails the test with the server's answer on any
 * refusal.
 */
import { PNG } from "pngjs";
import { expect } from "vitest";
import type { BlobUploadPlan, MissingBlobsAnswer } from "../../src/protocol/artifacts.js";
import type { ImageRef } from "../../src/protocol/media.js";
import { sha256 } from "./artifact-seed.js";

/** An RGB image's pixels, row by row, 3 bytes each. */
export function rgbPixels(width: number, height: number, at: (x: number, y: number) => [number, number, number]): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out.set(at(x, y), (y * width + x) * 3);
  return out;
}

/** PNG bytes of RGB pixels (opaque). */
export function pngOf(width: number, height: number, rgb: Uint8Array): Buffer {
  const png = new PNG({ width, height, colorType: 2 });
  for (let i = 0; i < width * height; i++) {
    png.data[i * 4] = rgb[i * 3];
    png.data[i * 4 + 1] = rgb[i * 3 + 1];
    png.data[i * 4 + 2] = rgb[i * 3 + 2];
    png.data[i * 4 + 3] = 255;
  }
  return PNG.sync.write(png, { colorType: 2 });
}

async function send(url: string, apiKey: string, method: string, body: unknown, raw = false): Promise<Response> {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${apiKey}`, "content-type": raw ? "application/octet-stream" : "application/json" },
    body: raw ? Buffer.from(body as Uint8Array) : JSON.stringify(body),
  });
  expect(res.status, `${method} ${url}: ${await res.clone().text()}`).toBeLessThan(300);
  return res;
}

/** Puts `bytes` in the blob store of `entity/project` (once: a digest the store holds is skipped); its digest. */
export async function putBlob(baseUrl: string, apiKey: string, entity: string, project: string, bytes: Uint8Array): Promise<string> {
  const api = `${baseUrl}/api/v1/artifacts/${encodeURIComponent(entity)}/${encodeURIComponent(project)}`;
  const digest = sha256(bytes);
  const missing = (await (await send(`${api}/blobs/missing`, apiKey, "POST", { digests: [digest] })).json()) as MissingBlobsAnswer;
  if (missing.missing.length === 0) return digest;
  const plan = (await (await send(`${api}/blobs/${digest}/uploads`, apiKey, "POST", { size: bytes.length })).json()) as BlobUploadPlan;
  if (plan.exists) return digest;
  const url = plan.parts[0].url;
  await send(url.startsWith("http") ? url : `${baseUrl}${url}`, apiKey, "PUT", bytes, true);
  return digest;
}

/** Puts an RGB image's PNG in the store; the reference a media record holds. */
export async function seedImage(baseUrl: string, apiKey: string, entity: string, project: string, width: number, height: number, rgb: Uint8Array, caption: string | null = null): Promise<ImageRef> {
  const png = pngOf(width, height, rgb);
  const digest = await putBlob(baseUrl, apiKey, entity, project, png);
  return { type: "image", digest, size: png.length, format: "png", width, height, caption };
}
