/**
 * Where `trackside login` gets its API key: `--key`, else stdin when it is not a terminal
 * (`pass show trackside | trackside login`), else a prompt on the terminal that echoes nothing,
 * so the key never shows on screen, in the scrollback or in a screen recording. A key on the
 * command line is visible to every user of the machine in `/proc/PID/cmdline` and stays in the
 * shell's history: `--key` is for scripts and tests, the prompt and stdin for people.
 */
import { errors } from "../protocol/errors.js";

/** The terminal side of a prompt: what `process.stdin` is when it is a TTY. */
export interface KeyInput extends NodeJS.ReadableStream {
  isTTY?: boolean;
  isRaw?: boolean;
  setRawMode?(mode: boolean): unknown;
}

/** The most a key read from stdin may be: a key is ~50 bytes; this stops `login < /dev/zero`. */
const MAX_STDIN_BYTES = 64 * 1024;

/** Longer than any key trackside has minted (47 characters), short enough to show a mistake. */
const MAX_KEY_CHARS = 512;

/** What may be in a key: printable ASCII without spaces (trackside's are `trk_` + [A-Za-z0-9]). */
const KEY_PATTERN = /^[\x21-\x7e]+$/;

const ETX = "\u0003"; // Ctrl-C
const EOT = "\u0004"; // Ctrl-D
const NAK = "\u0015"; // Ctrl-U: erase the line

/**
 * The key, checked to be one word of printable characters; null when the person cancelled the
 * prompt (Ctrl-C, or Ctrl-D on an empty line).
 *
 * @throws TRK_ERR_INVALID_OPTION for an empty or malformed key (the message never shows the key).
 * @example
 * const key = await readApiKey({ key: opts.key }, process.stdin, process.stderr);
 */
export async function readApiKey(opts: { key?: string }, input: KeyInput, prompt: NodeJS.WritableStream): Promise<string | null> {
  let key: string | null;
  let from: string;
  if (opts.key !== undefined) {
    key = opts.key;
    from = "--key";
  } else if (!input.isTTY) {
    key = await readFirstLine(input);
    from = "stdin";
  } else {
    key = await promptHidden("API key (input is hidden): ", input, prompt);
    from = "the prompt";
    if (key === null) return null;
  }
  return checkKey(key.trim(), from);
}

function checkKey(key: string, from: string): string {
  const expected = "an API key (trk_...): pass --key KEY, pipe it on stdin, or type it at the prompt";
  // The key itself is never put in the message: an error line ends up in logs and bug reports.
  if (key.length === 0) throw errors.invalidOption(from, "(empty)", expected);
  if (key.length > MAX_KEY_CHARS || !KEY_PATTERN.test(key)) {
    throw errors.invalidOption(from, `(${key.length} characters, not one word of printable ASCII)`, expected);
  }
  return key;
}

/**
 * The first non-blank line of a stream that is not a terminal, as soon as it is complete: over
 * `ssh host trackside login` stdin stays open after the key is typed, and waiting for its end
 * would hang there.
 */
async function readFirstLine(input: NodeJS.ReadableStream): Promise<string> {
  let text = "";
  for await (const chunk of input) {
    text += typeof chunk === "string" ? chunk : (chunk as Buffer).toString("utf8");
    if (text.length > MAX_STDIN_BYTES) throw errors.tooLarge("The key read from stdin", `over ${MAX_STDIN_BYTES} bytes`, `${MAX_STDIN_BYTES} bytes`);
    const lines = text.split(/\r?\n/);
    const done = lines.slice(0, -1).find((line) => line.trim() !== ""); // the last part may be half a line
    if (done !== undefined) return done;
  }
  return text.split(/\r?\n/).find((line) => line.trim() !== "") ?? "";
}

/**
 * Reads one line from a terminal in raw mode, echoing nothing: the terminal's own echo is off
 * while in raw mode, and the typed characters are never written back. Backspace and Ctrl-U edit;
 * Enter ends; Ctrl-C (or Ctrl-D on an empty line) cancels with null. The terminal's mode is
 * restored whatever happens.
 */
export function promptHidden(question: string, input: KeyInput, output: NodeJS.WritableStream): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const wasRaw = input.isRaw === true;
    let typed = "";
    const finish = (value: string | null, err?: unknown): void => {
      input.off("data", onData);
      input.off("error", onError);
      input.off("end", onEnd);
      input.setRawMode?.(wasRaw);
      input.pause();
      output.write("\n");
      if (err !== undefined) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer | string): void => {
      for (const c of typeof chunk === "string" ? chunk : chunk.toString("utf8")) {
        if (c === "\r" || c === "\n") return finish(typed);
        if (c === ETX) return finish(null);
        if (c === EOT) return finish(typed === "" ? null : typed);
        if (c === "\u007f" || c === "\b") typed = typed.slice(0, -1);
        else if (c === NAK) typed = "";
        // Other control characters (an arrow key's escape sequence) are not part of a key.
        else if (c >= " ") typed += c;
      }
    };
    const onError = (err: unknown): void => finish(null, err);
    const onEnd = (): void => finish(typed === "" ? null : typed);
    output.write(question);
    input.setRawMode?.(true);
    input.on("data", onData);
    input.on("error", onError);
    input.on("end", onEnd);
    input.resume();
  });
}
