import { describe, expect, it } from "vitest";
import { ClientWatch, TCP_SILENCE_MS } from "../../src/daemon/client-watch.js";

describe("client watch", () => {
  it("on ipc, reports a pid that no longer exists, once", () => {
    const gone: number[] = [];
    const w = new ClientWatch(1000, (pid) => gone.push(pid), () => {});
    w.add(process.pid);
    w.add(2 ** 22 + 12345); // above Linux's pid_max default: no such process
    w.tick();
    w.tick();
    expect(gone).toEqual([2 ** 22 + 12345]);
    expect(w.size).toBe(1);
  });

  it("on tcp, judges a client by its messages, not by a pid of another machine", () => {
    let now = 1_000_000;
    const gone: number[] = [];
    const w = new ClientWatch(1000, (pid) => gone.push(pid), () => {}, true, () => now);
    w.add(2 ** 22 + 1); // no such pid here, yet alive while it talks
    now += TCP_SILENCE_MS - 1;
    w.tick();
    expect(gone).toEqual([]);
    w.seen(2 ** 22 + 1);
    now += TCP_SILENCE_MS - 1;
    w.tick();
    expect(gone).toEqual([]);
    now += 2;
    w.tick();
    expect(gone).toEqual([2 ** 22 + 1]);
  });
});
