/**
 * The client's own channel to the person at the terminal: the init line, the footer, warnings.
 * It writes to stderr, never stdout (stdout belongs to the user's program), and a warning of one
 * code is shown at most WARN_BURST times per WARN_WINDOW_MS, so a bad log() in a hot loop cannot
 * flood the terminal. Debug output goes through util.debuglog("trackside") (NODE_DEBUG=trackside).
 */
import { debuglog } from "node:util";
import type { TracksideError } from "../protocol/index.js";
import { writeUncaptured } from "./console-capture.js";

export const debug = debuglog("trackside");

const WARN_BURST = 5;
const WARN_WINDOW_MS = 10_000;

export class Notices {
  private readonly counts = new Map<string, { windowStart: number; shown: number; suppressed: number }>();
  private readonly once = new Set<string>();

  constructor(
    private readonly silent: boolean,
    private readonly write: (line: string) => void = (line) => writeUncaptured(process.stderr, line + "\n"),
    private readonly now: () => number = Date.now,
  ) {}

  info(line: string): void {
    if (!this.silent) this.write(`trackside: ${line}`);
  }

  /**
   * A warning shown once in this run's life, even when silent: something the user should act
   * on (a stuck daemon) but that a loop would otherwise repeat.
   */
  warnOnce(key: string, line: string): void {
    if (this.once.has(key)) return;
    this.once.add(key);
    this.write(`trackside: warning: ${line}`);
  }

  /** Shown even when silent: the user must learn that data was refused. */
  warn(err: TracksideError): void {
    const t = this.now();
    let c = this.counts.get(err.code);
    if (!c || t - c.windowStart >= WARN_WINDOW_MS) {
      if (c && c.suppressed > 0) this.write(`trackside: warning: ${c.suppressed} more ${err.code} warnings were not shown`);
      c = { windowStart: t, shown: 0, suppressed: 0 };
      this.counts.set(err.code, c);
    }
    if (c.shown < WARN_BURST) {
      c.shown++;
      this.write(`trackside: warning: ${err.code}: ${err.message}`);
    } else {
      c.suppressed++;
    }
  }
}
