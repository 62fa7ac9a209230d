/**
 * Watches the processes of the daemon's clients. A process that is gone is reported once; the
 * daemon then ends its runs (from the spill file, or as crashed). Polling kill(pid, 0) costs one
 * syscall per client per tick, and works for any process, not only the daemon's children.
 */
export class ClientWatch {
  private readonly pids = new Set<number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly intervalMs: number,
    private readonly onGone: (pid: number) => void,
    private readonly onTick: () => void,
  ) {}

  add(pid: number): void {
    if (Number.isInteger(pid) && pid > 0) this.pids.add(pid);
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
      if (!isAlive(pid)) {
        this.pids.delete(pid);
        this.onGone(pid);
      }
    }
    this.onTick();
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
