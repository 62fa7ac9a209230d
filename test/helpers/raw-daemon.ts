/**
 * A bare ZeroMQ connection to a daemon, as any process of the user could open one: it says what
 * it likes in its frames, and gets the daemon's replies decoded. For tests of what the daemon
 * refuses; trackside's own client is the fixtures' business.
 */
import { Dealer } from "zeromq";
import { PROTOCOL_VERSION, decode, encode, type DaemonMessage, type RunOpenSettings } from "../../src/protocol/index.js";
import { newRoutingId } from "../../src/protocol/random.js";
import { runInfo } from "./run-dir.js";

export class RawClient {
  private readonly sock: Dealer;
  private nextId = 1;

  /** `routingId` null: the one the daemon's ROUTER gives out itself (a guessable counter). */
  constructor(address: string, routingId: string | null = newRoutingId()) {
    this.sock = new Dealer({ linger: 0, receiveTimeout: 10_000, ...(routingId === null ? {} : { routingId }) });
    this.sock.connect(address.replace(/#.*$/, ""));
  }

  /** Sends one request (its id added) and waits for the reply to it. */
  async request(header: Record<string, unknown>, payload?: Uint8Array): Promise<DaemonMessage> {
    const id = this.nextId++;
    await this.sock.send(payload ? [encode({ ...header, id }), payload] : [encode({ ...header, id })]);
    for (;;) {
      const [frame] = await this.sock.receive();
      const reply = decode<DaemonMessage>(frame);
      if (reply.id === id || reply.id === -1) return reply;
    }
  }

  /** hello with the given pid (any pid: the daemon cannot check it). */
  hello(pid: number, token?: string): Promise<DaemonMessage> {
    return this.request({ t: "hello", protocol: PROTOCOL_VERSION, version: "raw", pid, ...(token ? { token } : {}) });
  }

  close(): void {
    this.sock.close();
  }
}

/** The error code of a reply, or its type when it is not an error. */
export function outcome(reply: DaemonMessage): string {
  return reply.t === "error" ? reply.error.code : reply.t;
}

/** Valid settings for an offline run `alice/raw/<id>` under `root`, as a client would send them. */
export function openSettings(root: string, id: string, over: Partial<RunOpenSettings> = {}): RunOpenSettings {
  return {
    run: runInfo("alice", id, root, { project: "raw", name: `raw-${id}` }),
    mode: "offline",
    runDir: `${root}/trackside/run-20250101_000000-${id}`,
    baseUrl: "http://127.0.0.1:9",
    apiKey: null,
    pid: process.pid,
    firstSeq: 1,
    statsIntervalS: 0,
    env: {},
    secret: `secret-of-${id}-0123456789abcdef`,
    ...over,
  };
}
