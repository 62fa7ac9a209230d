/**
 * The raw-transport baseline's receiving end: a ROUTER that takes batches and acknowledges each,
 * exactly the round trip that trackside's daemon does, minus the WAL. Prints its address.
 */
import { Router } from "zeromq";
import { decode, encode } from "../../src/protocol/index.js";

const address = process.argv[2];
const sock = new Router();
await sock.bind(address);
process.stdout.write("ready\n");
for await (const [id, header] of sock) {
  const h = decode<{ t: string; n?: number; seq?: number }>(header);
  if (h.t === "quit") break;
  await sock.send([id, encode({ t: "ack", seq: h.seq })]);
}
sock.close();
