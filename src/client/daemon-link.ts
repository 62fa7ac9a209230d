/**
 * The client's end of the ZeroMQ link: a DEALER that sends requests and matches replies by id.
 *
 * Two traps measured in DESIGN.md shape it. A pending receive keeps Node's event loop alive, so
 * the receive loop runs only while a reply is awaited, and wakes every RECEIVE_TICK_MS to expire
 * requests whose daemon went quiet. The default linger (-1) blocks exit forever when a message is
 * still queued, so linger is bounded; the spill file, not the socket, is the safety net at exit.
 */
import type * as Zmq from "zeromq";
import {
  PACKAGE_VERSION,
  PROTOCOL_VERSION,
  TracksideError,
  decodeDaemonMessage,
  encode,
  errors,
  type ClientMessage,
  type DaemonMessage,
} from "../protocol/index.js";
import { newRoutingId } from "../protocol/random.js";
import { requireZeromq } from "../protocol/zeromq.js";
import { debug } from "./notices.js";

type Dealer = Zmq.Dealer;
let zmq: typeof Zmq | null = null;

/**
 * ZeroMQ, loaded at first use rather than at import: connectDaemon() loads it while a daemon it
 * has just spawned starts up, instead of before spawning it (protocol/zeromq.ts says how).
 */
export function loadZeromq(): typeof Zmq {
  return (zmq ??= requireZeromq());
}

const RECEIVE_TICK_MS = 250;
const LINGER_MS = 200;

type Request = ClientMessage extends infer M ? (M extends { id: number } ? Omit<M, "id"> : never) : never;

interface Pending {
  resolve: (msg: DaemonMessage) => void;
  reject: (err: Error) => void;
  deadline: number;
}

export class DaemonLink {
  readonly address: string;
  private readonly sock: Dealer;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private pumping = false;
  private sendChain: Promise<void> = Promise.resolve();
  private closed = false;
  /** The daemon's pid, from its hello reply. */
  daemonPid = 0;

  private constructor(address: string) {
    this.address = address;
    // An unguessable routing id: the daemon knows this connection (and the runs it opens) by it.
    this.sock = new (loadZeromq().Dealer)({ linger: LINGER_MS, receiveTimeout: RECEIVE_TICK_MS, routingId: newRoutingId() });
    this.sock.connect(address.replace(/#.*$/, ""));
  }

  /**
   * Connects and says hello; rejects with TRK_ERR_DAEMON_UNREACHABLE if no answer in timeoutMs,
   * or as soon as `abandon` aborts.
   */
  static async connect(address: string, timeoutMs: number, abandon?: AbortSignal): Promise<DaemonLink> {
    const link = new DaemonLink(address);
    abandon?.addEventListener("abort", () => link.close(), { once: true });
    const token = address.includes("#") ? address.slice(address.indexOf("#") + 1) : process.env.TRACKSIDE_DAEMON_TOKEN;
    try {
      const reply = await link.request({ t: "hello", protocol: PROTOCOL_VERSION, version: PACKAGE_VERSION, pid: process.pid, ...(token ? { token } : {}) }, undefined, timeoutMs);
      if (reply.t === "ok") link.daemonPid = reply.pid ?? 0;
    } catch (err) {
      link.close();
      throw err;
    }
    return link;
  }

  /** Sends one request and resolves with its reply; a daemon error reply rejects with its TracksideError. */
  request(msg: Request, payload?: Buffer, timeoutMs = 30_000): Promise<DaemonMessage> {
    if (this.closed) return Promise.reject(errors.daemonUnreachable(this.address, "the link is closed"));
    const id = this.nextId++;
    const frames = payload ? [encode({ ...msg, id }), payload] : [encode({ ...msg, id })];
    const reply = new Promise<DaemonMessage>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, deadline: Date.now() + timeoutMs });
    });
    this.sendChain = this.sendChain.then(
      () => this.sock.send(frames),
    ).catch((err: unknown) => this.fail(id, errors.daemonUnreachable(this.address, (err as Error).message)));
    void this.pump();
    return reply;
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.pending.size > 0 && !this.closed) {
        let frames: Buffer[];
        try {
          frames = await this.sock.receive();
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "EAGAIN") {
            this.expire();
            continue;
          }
          for (const id of [...this.pending.keys()]) this.fail(id, errors.daemonUnreachable(this.address, (err as Error).message));
          break;
        }
        let msg: DaemonMessage;
        try {
          msg = decodeDaemonMessage(frames[0]);
        } catch (err) {
          debug("undecodable reply: %s", (err as Error).message);
          continue;
        }
        const p = this.pending.get(msg.id);
        if (!p) {
          debug("reply %d has no request (%s)", msg.id, msg.t === "error" ? msg.error.message : msg.t);
          continue;
        }
        this.pending.delete(msg.id);
        if (msg.t === "error") p.reject(TracksideError.fromWire(msg.error));
        else p.resolve(msg);
      }
    } finally {
      this.pumping = false;
    }
  }

  private expire(): void {
    const now = Date.now();
    for (const [id, p] of this.pending) {
      if (p.deadline <= now) this.fail(id, errors.daemonUnreachable(this.address, "no reply in time"));
    }
  }

  private fail(id: number, err: Error): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.reject(err);
  }

  /** Immediate: pending requests reject; queued messages get LINGER_MS to leave. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const id of [...this.pending.keys()]) this.fail(id, errors.daemonUnreachable(this.address, "the link was closed"));
    this.sock.close();
  }
}
