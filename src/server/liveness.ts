/**
 * The sweeper: the server's half of liveness (DESIGN.md, "Run states"). Every sweep interval it
 * marks `crashed` each running run whose last heartbeat is older than the heartbeat timeout: the
 * daemon or its machine went away without a word. The daemon heartbeats every 30 s, so the
 * default timeout of 120 s lets three heartbeats be lost before a crash is guessed.
 *
 * Such a crash is only a guess (a network blip looks the same), so it repairs itself: anything
 * the run sends later revives it (see sqlite-liveness.ts). The sweep itself is one conditional
 * update in the store, so several server processes on one database could all sweep safely; the
 * store's sweeper lock (Store.holdsSweepLock) has one of them do it, and moves to another within
 * one sweep interval when that one dies.
 */
import type { Logger } from "pino";
import { errors } from "../protocol/errors.js";
import type { Store } from "./store/store.js";

export const DEFAULT_HEARTBEAT_TIMEOUT_S = 120;
export const DEFAULT_SWEEP_INTERVAL_MS = 10_000;
/** A day: a longer silence is no liveness check at all. */
export const MAX_HEARTBEAT_TIMEOUT_S = 86_400;
/** setInterval's largest delay; a longer one would fire at once, over and over. */
const MAX_INTERVAL_MS = 2 ** 31 - 1;

/** The error text of a run the sweeper marked crashed. */
export function staleRunError(heartbeatTimeoutS: number): string {
  return `no heartbeat for ${heartbeatTimeoutS} s (the daemon or its machine went away)`;
}

/** Starts calling `tick` every `intervalMs`; returns what stops it. */
export type Schedule = (tick: () => void, intervalMs: number) => () => void;

/** The default schedule: a setInterval that never keeps the process alive on its own. */
export const intervalSchedule: Schedule = (tick, intervalMs) => {
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
};

export interface SweeperOptions {
  store: Store;
  /** Seconds without a heartbeat after which a running run is marked crashed; default 120, at most a day. */
  heartbeatTimeoutS?: number;
  /** How often to sweep, in ms; default 10,000. */
  sweepIntervalMs?: number;
  /** The clock, in ms since epoch; tests pass a fake one. */
  now?: () => number;
  /** The timer; tests pass one they fire by hand. Default: an unref()ed setInterval. */
  schedule?: Schedule;
  /** Where each sweep that marked runs, and each failed sweep, is logged. */
  logger?: Pick<Logger, "info" | "warn">;
}

function checkPositive(name: string, value: number, max: number): number {
  if (!Number.isFinite(value) || value <= 0 || value > max) throw errors.invalidOption(name, value, `a number above 0, at most ${max}`);
  return value;
}

/**
 * Sweeps stale runs on a timer until stopped.
 *
 * A server that just started holds back for one heartbeat timeout: while it was down, no
 * heartbeat could reach it, and sweeping at once would mark every live run crashed.
 *
 * @example
 * const sweeper = Sweeper.start({ store, heartbeatTimeoutS: 120, logger });
 * await sweeper.stop(); // before closing the store
 */
export class Sweeper {
  readonly heartbeatTimeoutS: number;
  readonly sweepIntervalMs: number;
  private readonly store: Store;
  private readonly now: () => number;
  private readonly logger: Pick<Logger, "info" | "warn"> | undefined;
  private readonly startedAt: number;
  private readonly cancel: () => void;
  private inFlight: Promise<number> | null = null;
  private stopped = false;

  private constructor(options: SweeperOptions) {
    this.heartbeatTimeoutS = checkPositive("heartbeatTimeoutS", options.heartbeatTimeoutS ?? DEFAULT_HEARTBEAT_TIMEOUT_S, MAX_HEARTBEAT_TIMEOUT_S);
    this.sweepIntervalMs = checkPositive("sweepIntervalMs", options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS, MAX_INTERVAL_MS);
    this.store = options.store;
    this.now = options.now ?? Date.now;
    this.logger = options.logger;
    this.startedAt = this.now();
    this.cancel = (options.schedule ?? intervalSchedule)(() => void this.tick(), this.sweepIntervalMs);
  }

  /** Starts sweeping every sweepIntervalMs; throws TRK_ERR_INVALID_OPTION for a bad timeout or interval. */
  static start(options: SweeperOptions): Sweeper {
    return new Sweeper(options);
  }

  /**
   * One sweep now; resolves to how many runs it marked crashed. A sweep already under way is
   * not doubled: the call waits for it and reports 0. Errors reach the caller (the timer logs them).
   */
  async sweep(): Promise<number> {
    if (this.stopped) return 0;
    if (this.inFlight) {
      await this.inFlight.catch(() => undefined);
      return 0;
    }
    this.inFlight = this.sweepOnce();
    try {
      return await this.inFlight;
    } finally {
      this.inFlight = null;
    }
  }

  private async sweepOnce(): Promise<number> {
    const now = this.now();
    const timeoutMs = this.heartbeatTimeoutS * 1000;
    if (now - this.startedAt < timeoutMs) return 0;
    // Of several servers on one database, the one holding the sweeper's lock sweeps.
    if (!(await this.store.holdsSweepLock())) return 0;
    const cutoff = now - timeoutMs;
    const crashed = await this.store.sweepStaleRuns(cutoff, now, staleRunError(this.heartbeatTimeoutS));
    if (crashed > 0) {
      this.logger?.info(
        { crashed, heartbeatTimeoutS: this.heartbeatTimeoutS, cutoff: new Date(cutoff).toISOString() },
        "marked runs crashed: no heartbeat",
      );
    }
    return crashed;
  }

  private async tick(): Promise<void> {
    try {
      await this.sweep();
    } catch (err) {
      // A busy or closing database: the next tick tries again.
      this.logger?.warn({ err }, "sweep failed");
    }
  }

  /** Stops the timer and waits for a sweep under way; idempotent. Call it before closing the store. */
  async stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.cancel();
    }
    await this.inFlight?.catch(() => undefined);
  }
}
