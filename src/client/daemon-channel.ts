/**
 * One run's connection to the daemon, kept alive across the daemon's death. A heartbeat pings
 * the daemon every HEARTBEAT_MS; when a ping or a request goes unanswered, the channel
 * reconnects (to a new shared daemon once the old one's process is gone) and replays what the
 * old one had not acknowledged. The new daemon finds the run's WAL on disk and goes on after
 * its last record, so nothing acknowledged is lost and nothing is stored twice.
 */
import { errors, isTracksideError, type BatchRefusal, type DaemonMessage, type RunOpenSettings } from "../protocol/index.js";
import { randomWords } from "../protocol/random.js";
import { DaemonLink, loadZeromq } from "./daemon-link.js";
import { findSharedDaemon, isDaemonProcess, namedDaemon, sharedDaemon, sharedDaemonPaths } from "./daemon-spawn.js";
import { debug } from "./notices.js";


/** Ping period; with PING_TIMEOUT_MS a dead daemon is noticed within 1.5 s (the goal is 2 s). */
const HEARTBEAT_MS = 500;
const PING_TIMEOUT_MS = 1000;
/** How long one try waits for a found shared daemon's hello before looking for it again. */
const SHARED_HELLO_MS = 2000;
/** How often a try checks that the daemon it waits for is still the shared one. */
const GONE_POLL_MS = 20;

type Request = Parameters<DaemonLink["request"]>[0];

export interface Replayable {
  /** Batches sent but not acknowledged, oldest first. */
  unacked(): ReadonlyArray<{ first: number; last: number; exit: boolean }>;
  /** A batch's records (read back from disk if they wait there), or null once acknowledged. */
  payloadOf(batch: { first: number; last: number; exit: boolean }): Buffer | null;
  ack(seq: number): void;
  /** The daemon refused a batch (counted; the caller acknowledges it). */
  refused(batch: { first: number; last: number }, refusal: BatchRefusal): void;
}

/**
 * Connects to the daemon the user named in TRACKSIDE_DAEMON, or to the user's shared daemon,
 * spawning it if none is up (several runs or processes asking at once get the same one).
 */
export async function connectDaemon(timeoutMs: number): Promise<DaemonLink> {
  const named = namedDaemon();
  if (named) return DaemonLink.connect(named, timeoutMs); // the user's own daemon: wait for it
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lookup = sharedDaemon(Math.max(1, deadline - Date.now()));
    // If that spawned the daemon, the add-on loads while the daemon starts (both take CPU, but
    // the daemon's start-up is one thread and this process would otherwise wait idle).
    try {
      loadZeromq();
    } catch (err) {
      lookup.catch(() => {}); // the add-on's failure is the one to report
      throw err;
    }
    const { address, pid } = await lookup;
    // A daemon found just as it started to close never answers: its info file is gone by then,
    // and this try is abandoned at once for the next, which finds (or starts) its successor.
    const gone = new AbortController();
    const paths = sharedDaemonPaths();
    const watch = setInterval(() => findSharedDaemon(paths)?.pid !== pid && gone.abort(), GONE_POLL_MS);
    try {
      return await DaemonLink.connect(address, Math.max(1, Math.min(SHARED_HELLO_MS, deadline - Date.now())), gone.signal);
    } catch (err) {
      if (!isTracksideError(err, "TRK_ERR_DAEMON_UNREACHABLE")) throw err;
      if (Date.now() >= deadline) throw errors.daemonUnreachable(address, "no answer to hello in time", pid);
      debug("no hello from the shared daemon at %s (%s); looking again", address, (err as Error).message);
    } finally {
      clearInterval(watch);
    }
  }
}

/**
 * A new run's secret: 32 bytes of the system's random source, base64url. The daemon lets only the
 * connection that opened the run, or one that presents this secret, write to it (messages.ts).
 */
export function newRunSecret(): string {
  const words = randomWords(8);
  return Buffer.from(words.buffer, words.byteOffset, words.byteLength).toString("base64url");
}

/** Where the daemon holds the run up to: the client numbers its records and steps from there at the least. */
export interface OpenedAt {
  nextSeq: number;
  nextStep: number;
}

export class DaemonChannel {
  private link: DaemonLink;
  private heartbeat: NodeJS.Timeout | null = null;
  private recovering: Promise<void> | null = null;
  private closed = false;

  constructor(
    link: DaemonLink,
    private open: RunOpenSettings,
    private readonly timeoutMs: number,
    private readonly onNotice: (line: string) => void,
  ) {
    this.link = link;
  }

  /**
   * Opens the run (`open`, with its secret) and resolves with where the daemon holds it up to.
   * A reconnect opens it again with the same settings, secret included: the daemon knows the
   * client by it.
   */
  async openRun(timeoutMs: number): Promise<OpenedAt> {
    const reply = await this.request({ t: "open", settings: this.open }, undefined, timeoutMs);
    if (reply.t !== "opened") throw errors.internal(`the daemon answered "open" with "${reply.t}"`);
    // A daemon that replaces this one before the WAL holds a record must start there too.
    if (reply.nextSeq > this.open.firstSeq) this.open = { ...this.open, firstSeq: reply.nextSeq };
    return { nextSeq: reply.nextSeq, nextStep: reply.nextStep };
  }

  /** The queue whose unacknowledged batches are replayed after a reconnect. */
  replay: Replayable | null = null;

  get address(): string {
    return this.link.address;
  }

  startHeartbeat(): void {
    this.heartbeat = setInterval(() => {
      if (this.recovering || this.closed) return;
      this.link.request({ t: "ping" }, undefined, PING_TIMEOUT_MS).catch((err: unknown) => this.lost(err));
    }, HEARTBEAT_MS);
    // The heartbeat must never keep the user's process alive.
    this.heartbeat.unref();
  }

  /**
   * Sends a request; if the daemon is lost on the way, waits for the reconnect and tries once
   * more. The whole takes at most about `timeoutMs`: a reconnect that takes longer (no daemon
   * comes back) rejects it with TRK_ERR_DAEMON_UNREACHABLE, so that finish() still returns.
   */
  async request(msg: Request, payload?: Buffer, timeoutMs = 30_000): Promise<DaemonMessage> {
    const deadline = Date.now() + timeoutMs;
    if (this.recovering) await this.recovered(deadline);
    try {
      return await this.link.request(msg, payload, Math.max(1, deadline - Date.now()));
    } catch (err) {
      if (this.closed || !isTracksideError(err, "TRK_ERR_DAEMON_UNREACHABLE")) throw err;
      void this.lost(err);
      await this.recovered(deadline);
      return this.link.request(msg, payload, Math.max(1, deadline - Date.now()));
    }
  }

  /** Waits for the reconnect under way, until `deadline` at the most. */
  private async recovered(deadline: number): Promise<void> {
    const recovering = this.recovering;
    if (!recovering) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(errors.daemonUnreachable(this.link.address, "still reconnecting to a daemon when the request's time ran out")), Math.max(0, deadline - Date.now()));
    });
    try {
      await Promise.race([recovering, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private lost(err: unknown): Promise<void> {
    this.recovering ??= this.recover(err).finally(() => (this.recovering = null));
    return this.recovering;
  }

  private async recover(err: unknown): Promise<void> {
    const lostAddress = this.link.address;
    const lostPid = this.link.daemonPid;
    debug("daemon at %s (pid %d) lost: %s", lostAddress, lostPid, (err as Error).message);
    this.link.close();
    for (let attempt = 0; !this.closed; attempt++) {
      let link: DaemonLink | null = null;
      try {
        // Only a daemon whose process is gone is replaced: a slow one (or one closing) still
        // holds the run's WAL, and two writers would corrupt it. Until then, only it will do.
        link = lostPid > 0 && isDaemonProcess(lostPid, lostAddress) ? await this.sameDaemon(lostAddress, lostPid) : await this.connect(this.timeoutMs);
        await link.request({ t: "open", settings: this.open }, undefined, this.timeoutMs);
        // One batch at a time, each read when it is sent: what waits on disk stays there until then.
        for (const b of this.replay?.unacked() ?? []) {
          const payload = this.replay?.payloadOf(b);
          if (!payload) continue; // acknowledged meanwhile
          let reply: DaemonMessage;
          try {
            reply = await link.request({ t: "records", runPath: this.runPath, first: b.first, last: b.last, ...(b.exit ? { exit: true } : {}) }, payload);
          } catch (err) {
            // A coded answer is the daemon's verdict on this batch, not a lost daemon: trying
            // again would get the same answer for ever. It is counted as refused and dropped
            // (a daemon sets aside what it refuses on content and acks it: this is for what it
            // refuses outright), and the replay goes on with the next batch.
            if (!isTracksideError(err)) throw err;
            const { code, message } = err;
            if (code === "TRK_ERR_DAEMON_UNREACHABLE") throw err;
            this.replay?.refused(b, { records: b.last - b.first + 1, error: `${code}: ${message}`, kept: false });
            this.replay?.ack(b.last);
            continue;
          }
          if (reply.t === "ack") {
            if (reply.refused) this.replay?.refused(b, reply.refused);
            this.replay?.ack(reply.seq);
          }
        }
        this.link = link;
        this.onNotice(`the daemon was lost; run ${this.open.run.id} goes on with the daemon at ${link.address}`);
        return;
      } catch (e) {
        link?.close(); // each try's connection, or every failed one would stay open
        debug("reconnect attempt %d failed: %s", attempt, (e as Error).message);
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
      }
    }
  }

  /** A new connection to a daemon (tests replace it). */
  protected connect(timeoutMs: number): Promise<DaemonLink> {
    return connectDaemon(timeoutMs);
  }

  /** The lost daemon again, if it answers at its address (a new one may already sit there). */
  private async sameDaemon(address: string, pid: number): Promise<DaemonLink> {
    const link = await DaemonLink.connect(address, Math.min(this.timeoutMs, 2000));
    if (link.daemonPid === pid) return link;
    link.close();
    throw new Error(`daemon ${pid} still leaving; ${address} is now daemon ${link.daemonPid}`);
  }

  private get runPath(): string {
    const r = this.open.run;
    return `${r.entity}/${r.project}/${r.id}`;
  }

  close(): void {
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    this.link.close();
  }
}
