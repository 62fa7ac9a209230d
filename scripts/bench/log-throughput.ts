/**
 * log() throughput: N rows of 10 scalars through run.log() until the daemon holds them all in
 * its WAL, beside (a) a bare loop that builds the same objects and (b) the raw transport: the same
 * rows packed by msgpackr in 4,096-row batches, DEALER -> ROUTER over ipc://, each batch acked.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Dealer } from "zeromq";
import * as trackside from "trackside";
import { encode } from "../../src/protocol/index.js";
import { benchRoot, reapDaemons, startRawSink } from "./procs.js";
import { makeRow, median, type Figure } from "./stats.js";

const BATCH = 4096;

function bareLoop(n: number): number {
  // The objects must really exist, as they do when handed to log(): keep them in a ring, or V8
  // optimises the allocation away.
  const ring: object[] = new Array(BATCH);
  const t0 = performance.now();
  for (let s = 0; s < n; s++) ring[s & (BATCH - 1)] = makeRow(s);
  return performance.now() - t0;
}

async function rawTransport(n: number, address: string): Promise<number> {
  const sock = new Dealer({ linger: 0 });
  sock.connect(address);
  const t0 = performance.now();
  let acks = 0;
  const batches = Math.ceil(n / BATCH);
  const receiving = (async () => {
    while (acks < batches) {
      await sock.receive();
      acks++;
    }
  })();
  let seq = 0;
  for (let start = 0; start < n; start += BATCH) {
    const rows = [];
    for (let s = start; s < Math.min(n, start + BATCH); s++) rows.push(makeRow(s));
    await sock.send([encode({ t: "records", seq: seq++, n: rows.length }), encode([{ k: "history", seq: start, rows }])]);
  }
  await receiving;
  const ms = performance.now() - t0;
  sock.close();
  return ms;
}

async function tracksideLog(n: number, dir: string): Promise<{ loopMs: number; totalMs: number }> {
  const run = await trackside.init({ project: "bench", mode: "offline", dir, reinit: true, settings: { silent: true } });
  const t0 = performance.now();
  for (let s = 0; s < n; s++) run.log(makeRow(s));
  const loopMs = performance.now() - t0;
  await run.finish();
  return { loopMs, totalMs: performance.now() - t0 };
}

export async function benchLogThroughput(n: number, samples: number): Promise<Figure[]> {
  const root = benchRoot("log");
  // This process is the client: its daemon is one of its own, in the bench's directory.
  const socketDir = mkdtempSync(join(root, "sock-"));
  process.env.TRACKSIDE_SOCKET_DIR = socketDir;
  delete process.env.TRACKSIDE_DAEMON;
  const address = `ipc://${join(socketDir, "raw-sink.sock")}`;
  const bare: number[] = [];
  const raw: number[] = [];
  const loop: number[] = [];
  const total: number[] = [];
  let sink: ChildProcess | null = null;
  try {
    sink = await startRawSink(address);
    for (let i = 0; i < samples; i++) {
      bare.push(bareLoop(n));
      raw.push(await rawTransport(n, address));
      // Each sample's run goes once it is measured: its WAL (~105 MB per million rows) is not
      // written back to the disk while the next sample runs, and nothing is left behind.
      const dir = mkdtempSync(join(root, "runs-"));
      const t = await tracksideLog(n, dir);
      rmSync(dir, { recursive: true, force: true });
      loop.push(t.loopMs);
      total.push(t.totalMs);
    }
  } finally {
    sink?.kill(); // the raw sink keeps nothing
    await reapDaemons([socketDir], 0); // this process, its client, is still alive: terminated
    rmSync(root, { recursive: true, force: true });
  }
  const rate = (ms: number[]) => n / (median(ms) / 1000);
  return [
    { name: `log() of ${n.toLocaleString("en")} 10-scalar rows, until all are in the daemon's WAL`, value: rate(total), baseline: rate(raw), baselineName: "bare ZeroMQ + msgpackr, 4,096-row batches, acked", unit: "rows/s", better: "higher", samples, goal: ">= 1.5 M rows/s, or 0.60x the raw transport" },
    { name: "log() call cost in the training loop (the loop alone)", value: rate(loop), baseline: rate(bare), baselineName: "a bare loop building the same objects", unit: "rows/s", better: "higher", samples },
  ];
}
