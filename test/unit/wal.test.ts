import { appendFileSync, mkdtempSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { WalWriter } from "../../src/daemon/wal-writer.js";
import { WAL_MAGIC, decode, encodeRecords, frameHeader, scanAllFrames, scanFrames, type RunRecord } from "../../src/protocol/index.js";

const rec = (seq: number): RunRecord[] => [{ k: "history", seq, rows: [{ _step: seq, _timestamp: 1, _runtime: 0, loss: seq / 10 }] }];

function read(path: string) {
  const buf = readFileSync(path);
  return scanFrames(buf.subarray(WAL_MAGIC.length), WAL_MAGIC.length);
}

describe("WAL", () => {
  it("round-trips framed msgpack records with a CRC each", () => {
    const path = join(mkdtempSync(join(tmpdir(), "trk-wal-")), "run.wal");
    const w = new WalWriter(path);
    w.append(encodeRecords(rec(1)));
    w.append(encodeRecords(rec(2)));
    w.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const scan = read(path);
    expect(scan.stoppedAt).toBeNull();
    expect(scan.frames.map((f) => decode<RunRecord[]>(f.payload)[0].seq)).toEqual([1, 2]);
  });

  it("stops reading at a corrupted frame", () => {
    const path = join(mkdtempSync(join(tmpdir(), "trk-wal-")), "run.wal");
    const w = new WalWriter(path);
    w.append(encodeRecords(rec(1)));
    const end = w.end;
    w.append(encodeRecords(rec(2)));
    w.close();
    const buf = readFileSync(path);
    buf[end + 10] ^= 0xff; // flip a byte inside the second payload
    const scan = scanFrames(buf.subarray(WAL_MAGIC.length), WAL_MAGIC.length);
    expect(scan.stoppedAt).toBe("crc");
    expect(scan.frames).toHaveLength(1);
  });

  it("cuts a torn tail on reopen, so appends follow the last whole frame", () => {
    const path = join(mkdtempSync(join(tmpdir(), "trk-wal-")), "run.wal");
    const w = new WalWriter(path);
    w.append(encodeRecords(rec(1)));
    w.append(encodeRecords(rec(2)));
    w.close();
    truncateSync(path, statSync(path).size - 3); // a crash mid-write
    appendFileSync(path, Buffer.alloc(0));
    const again = new WalWriter(path);
    again.append(encodeRecords(rec(3)));
    again.close();
    const scan = read(path);
    expect(scan.stoppedAt).toBeNull();
    expect(scan.frames.map((f) => decode<RunRecord[]>(f.payload)[0].seq)).toEqual([1, 3]);
  });

  it("takes a WAL whose header never reached the disk (cut short, or zeros) as empty", () => {
    for (const left of [WAL_MAGIC.subarray(0, 0), WAL_MAGIC.subarray(0, 3), Buffer.alloc(WAL_MAGIC.length)]) {
      const path = join(mkdtempSync(join(tmpdir(), "trk-wal-")), "run.wal");
      writeFileSync(path, left);
      const w = new WalWriter(path);
      w.append(encodeRecords(rec(1)));
      w.close();
      expect(read(path).frames.map((f) => decode<RunRecord[]>(f.payload)[0].seq)).toEqual([1]);
    }
  });

  it("refuses a file that is not a WAL rather than overwrite it", () => {
    const path = join(mkdtempSync(join(tmpdir(), "trk-wal-")), "run.wal");
    writeFileSync(path, "hello");
    expect(() => new WalWriter(path)).toThrow(/not a trackside WAL/);
    expect(readFileSync(path, "utf8")).toBe("hello");
  });
});

describe("WAL durability schedule", () => {
  it("syncInPool() settles while a background fsync runs and after an append made meanwhile, and at once when nothing is left", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "trk-wal-")), "run.wal");
    let fire: (() => void) | null = null;
    const w = new WalWriter(path, { setTimer: (fn) => ((fire = fn), setTimeout(() => {}, 0)) });
    w.append(encodeRecords(rec(1)));
    fire!(); // the periodic fsync starts on the thread pool
    w.append(encodeRecords(rec(2))); // appended while it runs: it needs one more
    await w.syncInPool();
    await w.syncInPool(); // nothing left: resolves at once
    w.close();
    expect(read(path).frames).toHaveLength(2);
  });

  it("schedules an fsync within 100 ms of an append, and syncs at close", () => {
    const path = join(mkdtempSync(join(tmpdir(), "trk-wal-")), "run.wal");
    const timers: number[] = [];
    let fire: (() => void) | null = null;
    const w = new WalWriter(path, { setTimer: (fn, ms) => ((fire = fn), timers.push(ms), setTimeout(() => {}, 0)) });
    w.append(encodeRecords(rec(1)));
    w.append(encodeRecords(rec(2)));
    expect(timers).toEqual([100]); // one pending fsync for both appends
    fire!();
    w.append(encodeRecords(rec(3)));
    expect(timers).toEqual([100, 100]);
    w.close();
    expect(read(path).frames).toHaveLength(3);
  });
});

describe("scanAllFrames (trackside sync's reader)", () => {
  /** MAGIC and six frames; returns the file and each frame's [offset, end). */
  function sixFrames(): { buf: Buffer; at: Array<[number, number]> } {
    const parts: Buffer[] = [WAL_MAGIC];
    const at: Array<[number, number]> = [];
    let off = WAL_MAGIC.length;
    for (let s = 1; s <= 6; s++) {
      const p = encodeRecords(rec(s));
      parts.push(frameHeader(p), p);
      at.push([off, off + 8 + p.length]);
      off += 8 + p.length;
    }
    return { buf: Buffer.concat(parts), at };
  }
  const seqs = (buf: Buffer) => scanAllFrames(buf.subarray(WAL_MAGIC.length), WAL_MAGIC.length).frames.map((f) => decode<RunRecord[]>(f.payload)[0].seq);
  const bad = (buf: Buffer) => scanAllFrames(buf.subarray(WAL_MAGIC.length), WAL_MAGIC.length).bad;

  it("reads past a flipped bit in frame 3 of 6, naming exactly that frame's bytes", () => {
    const { buf, at } = sixFrames();
    buf[at[2][0] + 12] ^= 0x01;
    expect(scanFrames(buf.subarray(WAL_MAGIC.length), WAL_MAGIC.length).frames).toHaveLength(2); // the daemon's reader stops there
    expect(seqs(buf)).toEqual([1, 2, 4, 5, 6]);
    expect(bad(buf)).toEqual([{ offset: at[2][0], bytes: at[2][1] - at[2][0], why: "crc" }]);
  });

  it("names a damaged length field, and a tail cut short", () => {
    const { buf, at } = sixFrames();
    buf.writeUInt32LE(0x00ffffff, at[1][0]); // frame 2 now claims 16 MB
    expect(seqs(buf)).toEqual([1, 3, 4, 5, 6]);
    expect(bad(buf)).toEqual([{ offset: at[1][0], bytes: at[1][1] - at[1][0], why: "length" }]);
    const cut = buf.subarray(0, at[5][1] - 3);
    expect(seqs(cut)).toEqual([1, 3, 4, 5]);
    expect(bad(cut)).toEqual([
      { offset: at[1][0], bytes: at[1][1] - at[1][0], why: "length" },
      { offset: at[5][0], bytes: at[5][1] - 3 - at[5][0], why: "truncated" },
    ]);
  });

  it("finds frames after garbage, and takes a run of zeros for nothing (no empty frames)", () => {
    const { buf, at } = sixFrames();
    const junk = Buffer.concat([buf.subarray(0, at[3][0]), Buffer.alloc(100), Buffer.from("not a frame at all"), buf.subarray(at[3][0])]);
    expect(seqs(junk)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(bad(junk)).toEqual([{ offset: at[3][0], bytes: 118, why: "crc" }]);
  });
});
