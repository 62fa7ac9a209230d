/**
 * The pieces of `trackside import wandb` without Python: W&B's record log (LevelDB's block
 * format with plain CRC-32), W&B's JSON with bare NaN, and what a W&B run becomes in trackside's
 * records. The files here are written the way wandb-core writes them (core/pkg/leveldb/record.go).
 */
import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { WANDB_HEADER, gatherWandbRun, readWandbLog, wandbRecordType, wandbRunRecords, type WandbRecord } from "../../src/cli/wandb-import/index.js";
import { parseWandbJson } from "../../src/protocol/wandb-mapping.js";

const BLOCK = 32 * 1024;

/** A `.wandb` file holding `records`, each split into chunks at block boundaries as wandb-core does. */
function wandbFile(records: Uint8Array[]): Buffer {
  const out: Buffer[] = [WANDB_HEADER];
  let pos = WANDB_HEADER.length;
  for (const record of records) {
    let data = Buffer.from(record);
    let first = true;
    do {
      const left = BLOCK - (pos % BLOCK);
      if (left < 7) {
        out.push(Buffer.alloc(left));
        pos += left;
        continue;
      }
      const piece = data.subarray(0, left - 7);
      data = data.subarray(piece.length);
      const last = data.length === 0;
      const type = first && last ? 1 : first ? 2 : last ? 4 : 3;
      const header = Buffer.alloc(7);
      header.writeUInt16LE(piece.length, 4);
      header[6] = type;
      header.writeUInt32LE(crc32(Buffer.concat([header.subarray(6), piece])), 0);
      out.push(header, piece);
      pos += 7 + piece.length;
      first = false;
    } while (data.length > 0);
  }
  return Buffer.concat(out);
}

const encode = (r: object) => wandbRecordType().encode(wandbRecordType().fromObject(r)).finish();

describe("W&B's record log", () => {
  it("reads records that span blocks, and those after them, in order", () => {
    const big = "x".repeat(3 * BLOCK); // a first, two middles and a last chunk
    const records = [
      encode({ num: 1, run: { run_id: "abc12345", project: "p" } }),
      encode({ num: 2, output_raw: { output_type: 1, line: big } }),
      encode({ num: 3, exit: { exit_code: 3 } }),
    ];
    const file = wandbFile(records);
    const { records: read, damage } = readWandbLog(file);
    expect(damage).toBeNull();
    expect(read.map((r) => Buffer.compare(r.bytes, Buffer.from(records[read.indexOf(r)])))).toEqual([0, 0, 0]);
  });

  it("skips a block's tail of fewer than 7 bytes, as padding", () => {
    // The first record ends 3 bytes before the block's end: the second starts in the next block.
    const fill = BLOCK - WANDB_HEADER.length - 7 - 3;
    const line = (n: number) => encode({ num: 1, output_raw: { line: "y".repeat(n) } });
    const overhead = line(30_000).length - 30_000;
    const sized = line(fill - overhead);
    expect(sized.length).toBe(fill);
    const file = wandbFile([sized, encode({ num: 2, exit: { exit_code: 1 } })]);
    const { records, damage } = readWandbLog(file);
    expect(damage).toBeNull();
    expect(records).toHaveLength(2);
    expect(records[1].offset).toBe(BLOCK);
  });

  it("stops at a CRC mismatch, a cut, or a continuation without a start, naming the offset", () => {
    const records = [encode({ num: 1, run: { run_id: "abc12345" } }), encode({ num: 2, output_raw: { line: "z".repeat(BLOCK) } }), encode({ num: 3, exit: {} })];
    const file = wandbFile(records);
    const second = WANDB_HEADER.length + 7 + records[0].length;

    const flipped = Buffer.from(file);
    flipped[second + 100] ^= 1;
    expect(readWandbLog(flipped)).toMatchObject({ records: [{ offset: WANDB_HEADER.length }], damage: { offset: second, why: expect.stringContaining("CRC-32 mismatch") } });

    const cut = file.subarray(0, file.length - 2);
    expect(readWandbLog(cut).damage).toMatchObject({ why: expect.stringContaining("cut short") });
    expect(readWandbLog(cut).records).toHaveLength(2);

    const midRecord = file.subarray(0, BLOCK + 20); // the second record's first chunk only, then part of its last
    expect(readWandbLog(midRecord)).toMatchObject({ records: [{}], damage: { offset: second, why: expect.stringContaining("cut short") } });

    // The second record's "last" chunk moved to the front: it comes without its "first".
    const lastChunk = file.subarray(BLOCK, BLOCK + 7 + file.readUInt16LE(BLOCK + 4));
    expect(lastChunk[6]).toBe(4);
    expect(readWandbLog(Buffer.concat([WANDB_HEADER, lastChunk]))).toMatchObject({ records: [], damage: { offset: 7, why: expect.stringContaining("beginning is missing") } });

    // Zeros where the first block was: lost bytes, not padding to skip.
    const zeroed = readWandbLog(Buffer.concat([WANDB_HEADER, Buffer.alloc(BLOCK - WANDB_HEADER.length), file.subarray(BLOCK)]));
    expect(zeroed).toMatchObject({ records: [], damage: { offset: 7, why: expect.stringContaining("zeros where a chunk should be") } });
  });
});

describe("W&B's values", () => {
  it("reads bare NaN and infinities as numbers, and leaves strings that spell them alone", () => {
    expect(parseWandbJson('{"a": NaN, "b": [Infinity, -Infinity], "s": "NaN \\" Infinity"}')).toEqual({ a: NaN, b: [Infinity, -Infinity], s: 'NaN " Infinity' });
  });
});

describe("a W&B run as trackside's records", () => {
  const run = (extra: WandbRecord[]) =>
    gatherWandbRun([
      {
        record_type: "run",
        run: {
          run_id: "abc12345",
          display_name: "n",
          config: {
            update: [
              { key: "_wandb", value_json: '{"t": {"1": [1]}}' },
              { key: "lr", value_json: "0.1" },
              { nested_key: ["model", "depth"], value_json: "4" },
            ],
          },
          start_time: { seconds: 1000 },
        },
      },
      ...extra,
    ]);

  it("keeps _wandb apart from the config, applies summary removes, collapses \\r redraws and joins fragments", () => {
    const r = run([
      { record_type: "config", config: { update: [{ key: "lr", value_json: "0.2" }], remove: [{ nested_key: ["model", "depth"] }] } },
      { record_type: "summary", summary: { update: [{ key: "a", value_json: "1" }, { nested_key: ["_wandb", "runtime"], value_json: "3" }] } },
      { record_type: "summary", summary: { update: [{ key: "b", value_json: "NaN" }], remove: [{ key: "a" }] } },
      { record_type: "output_raw", output_raw: { output_type: 1, line: "10%\r50%", timestamp: { seconds: 1001 } } },
      { record_type: "output_raw", output_raw: { line: "err\n", timestamp: { seconds: 1001 } } },
      { record_type: "output_raw", output_raw: { output_type: 1, line: "\r100%\n", timestamp: { seconds: 1002 } } },
      { record_type: "history", history: { item: [{ key: "_step", value_json: "5" }, { key: "_timestamp", value_json: "1001.5" }, { key: "img", value_json: '{"_type":"image-file"}' }, { nested_key: ["m", "x"], value_json: "[1,2]" }] } },
    ]);
    expect(r.config).toEqual({ lr: 0.2, model: {} });
    expect(r.wandbConfig).toEqual({ t: { 1: [1] } });
    expect(r.summary).toEqual({ b: NaN });
    expect(r.console.map((l) => [l.stream, l.text, l.at])).toEqual([
      ["stderr", "err", 1001000],
      ["stdout", "100%", 1001000],
    ]);
    expect(r.history).toEqual([{ _step: 5, _timestamp: 1001500, _runtime: 0, "m.x": "[1,2]" }]);
    expect(r.leftOut.get("media:image-file")).toBe(1);
  });

  it("maps exit codes to states: 0 finished, 255 killed, others failed; no exit record: crashed with the reason", () => {
    const last = (records: WandbRecord[]) => wandbRunRecords(run(records), "e", "p", { noExit: "why" }).at(-1)!.at(-1);
    expect(last([{ record_type: "exit", exit: {} }])).toMatchObject({ k: "exit", state: "finished", exitCode: 0 });
    expect(last([{ record_type: "exit", exit: { exit_code: 255 } }])).toMatchObject({ state: "killed", exitCode: 255 });
    expect(last([{ record_type: "exit", exit: { exit_code: 3 } }])).toMatchObject({ state: "failed", exitCode: 3 });
    expect(last([])).toMatchObject({ state: "crashed", exitCode: null, error: "why" });
  });
});
