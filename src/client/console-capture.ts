/**
 * The run's output log: what the process writes to stdout and stderr (console.* included) passes
 * through unchanged and is also cut into lines for the active run. A `\r` redraw (a progress bar)
 * leaves only the line's last state; very long lines are cut with a marker. Installed once per
 * process; trackside's own messages bypass it.
 */
import type { ConsoleLine } from "../protocol/index.js";

/** Longer lines are cut: one runaway line must not become megabytes of log. */
export const MAX_LINE_CHARS = 16 * 1024;

/** A line within MAX_LINE_CHARS: a longer one is cut, with a marker that says how much was left out. */
export function cutLine(text: string): string {
  return text.length > MAX_LINE_CHARS ? `${text.slice(0, MAX_LINE_CHARS)} [trackside: line cut, ${text.length - MAX_LINE_CHARS} more characters]` : text;
}

type Sink = (line: ConsoleLine) => void;
type Write = typeof process.stdout.write;

const originals = new Map<NodeJS.WriteStream, Write>();
let sink: Sink | null = null;

/** Cuts a stream of chunks into lines, the way a terminal would show them. */
export class LineSplitter {
  private current = "";

  constructor(
    private readonly stream: ConsoleLine["stream"],
    private readonly emit: Sink,
    private readonly now: () => number = Date.now,
  ) {}

  push(chunk: string): void {
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (c === 10 /* \n */) {
        this.current += chunk.slice(start, i);
        this.line();
        start = i + 1;
      } else if (c === 13 /* \r */) {
        if (chunk.charCodeAt(i + 1) === 10) continue; // \r\n ends the line at the \n
        this.current = ""; // a redraw: what follows replaces the line
        start = i + 1;
      }
    }
    this.current += chunk.slice(start);
    if (this.current.length > 4 * MAX_LINE_CHARS) this.current = this.current.slice(0, MAX_LINE_CHARS + 1); // bounded memory
  }

  /** Emits the partial line, if any (at the end of the run). */
  flush(): void {
    if (this.current.length > 0) this.line();
  }

  private line(): void {
    const text = cutLine(this.current.endsWith("\r") ? this.current.slice(0, -1) : this.current);
    this.current = "";
    this.emit({ at: this.now(), stream: this.stream, text });
  }
}

const splitters = new Map<NodeJS.WriteStream, LineSplitter>();

function patch(stream: NodeJS.WriteStream, name: ConsoleLine["stream"]): void {
  if (originals.has(stream)) return;
  const original = stream.write;
  originals.set(stream, original);
  const splitter = new LineSplitter(name, (line) => sink?.(line));
  splitters.set(stream, splitter);
  stream.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]): boolean {
    if (sink) {
      try {
        splitter.push(typeof chunk === "string" ? chunk : Buffer.isBuffer(chunk) || chunk instanceof Uint8Array ? Buffer.from(chunk).toString("utf8") : String(chunk));
      } catch {
        // capturing must never break the user's output
      }
    }
    return (original as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as Write;
}

/** Starts sending the process's output lines to `to` (the active run). */
export function captureConsole(to: Sink): void {
  patch(process.stdout, "stdout");
  patch(process.stderr, "stderr");
  sink = to;
}

/** Stops capturing for the run that ends; its partial lines go out first. */
export function releaseConsole(from: Sink): void {
  if (sink !== from) return;
  for (const s of splitters.values()) s.flush();
  sink = null;
}

/** Writes without being captured: trackside's own lines are not the program's output. */
export function writeUncaptured(stream: NodeJS.WriteStream, text: string): void {
  const original = originals.get(stream) ?? stream.write;
  (original as (s: string) => boolean).call(stream, text);
}
