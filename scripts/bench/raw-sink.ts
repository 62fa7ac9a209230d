/**
 * The raw-transport baseline's receiving end: a ROUTER that takes batches and acknowledges each,
 * exactly the round trip that trackside's daemon does, minus the WAL. Prints "ready" once bound;
 * runs until it is killed.
 */
import { Router } from "zeromq";
import { decode, encode } from "../../src/protocol/index.js";

const address = process.argv[2];
const sock = new Router();
await sock.bind(address);
process.stdout.write("ready\n");
for await (const [id, header] of sock) {
  const h = decode<{ t: string; n?: number; seq?: number }>(header);
  await sock.send([id, encode({ t: "ack", seq: h.seq })]);
}
