/**
 * One run's connection to the daemon, kept alive across the daemon's death. A heartbeat pings
 * the daemon every HEARTBEAT_MS; when a ping or a request goes unanswered, the channel
 * reconnects, to a new daemon if the old one was spawned by this process tree, and replays what
 * the old one had not acknowledged. The new daemon finds the run's WAL on disk and goes on after
 * its last record, so nothing acknowledged is lost and nothing is stored twice.
 */
import { isProcessAlive, isTracksideError, type DaemonMessage, type RunOpenSettings } from "../protocol/index.js";
import { DaemonLink } from "./daemon-link.js";
import { daemonFromEnv, spawnDaemon } from "./daemon-spawn.js";
import { debug } from "./notices.js";


/** Ping period; with PING_TIMEOUT_MS a dead daemon is noticed within 1.5 s (the goal is 2 s). */
const HEARTBEAT_MS = 500;
const PING_TIMEOUT_MS = 1000;

type Request = Parameters<DaemonLink["request"]>[0];

export interface Replayable {
  /** Batches sent but not acknowledged, oldest first. */
  unacked(): ReadonlyArray<{ payload: Buffer; first: number; last: number; exit: boolean }>;
  ack(seq: number): void;
}

// Several runs of one process may notice the same dead daemon: let one of them replace it.
let replacing: { dead: string; next: Promise<string> } | null = null;

/** Connects to the daemon named by the environment, or spawns one (also when `dead` is that one). */
export async function connectDaemon(timeoutMs: number, dead?: string): Promise<DaemonLink> {
  const found = daemonFromEnv();
  if (found && found.address !== dead) return DaemonLink.connect(found.address, timeoutMs);
  if (found && !found.spawned) return DaemonLink.connect(found.address, timeoutMs); // someone else's daemon: wait for it
  if (dead && replacing?.dead === dead) return DaemonLink.connect(await replacing.next, timeoutMs);
  const next = spawnDaemon(timeoutMs).then((d) => d.address);
  if (dead) replacing = { dead, next };
  return DaemonLink.connect(await next, timeoutMs);
}

export class DaemonChannel {
  private link: DaemonLink;
  private heartbeat: NodeJS.Timeout | null = null;
  private recovering: Promise<void> | null = null;
  private closed = false;

  constructor(
    link: DaemonLink,
    private readonly open: RunOpenSettings,
    private readonly timeoutMs: number,
    private readonly onNotice: (line: string) => void,
  ) {
    this.link = link;
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

  /** Sends a request; if the daemon is lost on the way, waits for the reconnect and tries once more. */
  async request(msg: Request, payload?: Buffer, timeoutMs = 30_000): Promise<DaemonMessage> {
    if (this.recovering) await this.recovering;
    try {
      return await this.link.request(msg, payload, timeoutMs);
    } catch (err) {
      if (this.closed || !isTracksideError(err, "TRK_ERR_DAEMON_UNREACHABLE")) throw err;
      await this.lost(err);
      return this.link.request(msg, payload, timeoutMs);
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
      try {
        // Only a daemon whose process is gone is replaced: a slow one still holds the run's WAL,
        // and two writers would corrupt it.
        const dead = lostPid > 0 && !isProcessAlive(lostPid) ? lostAddress : undefined;
        const link = await connectDaemon(this.timeoutMs, dead);
        await link.request({ t: "open", settings: this.open }, undefined, this.timeoutMs);
        for (const b of this.replay?.unacked() ?? []) {
          const reply = await link.request({ t: "records", runPath: this.runPath, first: b.first, last: b.last, ...(b.exit ? { exit: true } : {}) }, b.payload);
          if (reply.t === "ack") this.replay?.ack(reply.seq);
        }
        this.link = link;
        this.onNotice(`the daemon was lost; run ${this.open.run.id} goes on with the daemon at ${link.address}`);
        return;
      } catch (e) {
        debug("reconnect attempt %d failed: %s", attempt, (e as Error).message);
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
      }
    }
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
