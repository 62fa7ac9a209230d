/**
 * A live-event stream (GET .../events) read as a browser would: `next()` resolves with the next
 * run event, `close()` hangs up.
 */
import { expect } from "vitest";
import type { RunEvent } from "../../src/protocol/api.js";

export async function listen(url: string, key: string): Promise<{ next(): Promise<RunEvent>; close(): void }> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { authorization: `Bearer ${key}` }, signal: abort.signal });
  expect(res.status).toBe(200);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  return {
    async next() {
      for (;;) {
        const m = /event: run\ndata: (.*)\n\n/.exec(buffer);
        if (m) {
          buffer = buffer.slice(m.index + m[0].length);
          return JSON.parse(m[1]) as RunEvent;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error("the stream ended");
        buffer += value;
      }
    },
    close: () => abort.abort(),
  };
}
