/**
 * Watches the processes of the daemon's clients. A process that is gone is reported once; the
 * daemon then ends its runs (from the spill file, or as crashed). On ipc:// the check is
 * kill(pid, 0): one syscall per client per tick, for any process of this machine. On tcp:// a
 * client may live on another machine, where its pid means nothing: there a client is alive while
 * its messages (a heartbeat every 500 ms) keep coming, with room for long synchronous steps.
 */
import { isProcessAlive } from "../protocol/index.js";

export const TCP_SILENCE_MS = 30_000;

export class ClientWatch {
  private readonly pids = new Set<number>();
  private readonly lastSeen = new Map<number, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly intervalMs: number,
    private readonly onGone: (pid: number) => void,
    private readonly onTick: () => void,
    private readonly byHeartbeat = false,
    private readonly now: () => number = Date.now,
  ) {}

  /** A message from the client with this pid arrived. */
  seen(pid: number): void {
    if (this.byHeartbeat) this.lastSeen.set(pid, this.now());
  }

  private alive(pid: number): boolean {
    return this.byHeartbeat ? this.now() - (this.lastSeen.get(pid) ?? this.now()) < TCP_SILENCE_MS : isProcessAlive(pid);
  }

  add(pid: number): void {
    if (Number.isInteger(pid) && pid > 0) {
      this.pids.add(pid);
      this.seen(pid);
    }
  }

  /** Whether `pid` is a client process still alive (as of the last check). */
  has(pid: number): boolean {
    return this.pids.has(pid);
  }

  /** Client processes still alive. */
  get size(): number {
    return this.pids.size;
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), this.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  tick(): void {
    for (const pid of [...this.pids]) {
      if (!this.alive(pid)) {
        this.pids.delete(pid);
        this.lastSeen.delete(pid);
        this.onGone(pid);
      }
    }
    this.onTick();
  }
}
