/**
 * How `trackside login` reads a key (src/cli/key-input.ts): --key, else stdin when it is not a
 * terminal, else a prompt that echoes nothing. The terminal is a stream that says it is a TTY
 * and records its raw mode, so the test sees exactly what a person would see on screen.
 */
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { readApiKey, type KeyInput } from "../../src/cli/key-input.js";

const KEY = "trk_" + "Ab3".repeat(14) + "x"; // 47 characters, as trackside mints them

/** A fake terminal: its keystrokes are written by the test; `modes` records every setRawMode. */
function terminal(): { input: KeyInput & PassThrough; modes: boolean[] } {
  const modes: boolean[] = [];
  const input = Object.assign(new PassThrough(), {
    isTTY: true,
    isRaw: false,
    setRawMode(mode: boolean) {
      modes.push(mode);
      input.isRaw = mode;
      return input;
    },
  });
  return { input, modes };
}

/** What was written to the screen. */
function screen(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (d: Buffer) => (text += d.toString()));
  return { stream, text: () => text };
}

function pipeOf(text: string): PassThrough {
  const input = new PassThrough();
  input.end(text);
  return input;
}

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error("expected a rejection");
}

describe("readApiKey", () => {
  it("takes --key as given (trimmed), reading nothing", async () => {
    const out = screen();
    expect(await readApiKey({ key: ` ${KEY}\n` }, pipeOf("trk_other"), out.stream)).toBe(KEY);
    expect(out.text()).toBe("");
  });

  it("reads the first non-blank line of stdin when it is not a terminal, without a prompt", async () => {
    const out = screen();
    expect(await readApiKey({}, pipeOf(`\n  ${KEY}  \r\nsecond line\n`), out.stream)).toBe(KEY);
    expect(out.text()).toBe("");
  });

  it("answers as soon as the first line of a pipe is complete, while the pipe stays open (ssh host trackside login)", async () => {
    const input = new PassThrough();
    const read = readApiKey({}, input, screen().stream);
    input.write(`${KEY.slice(0, 20)}`);
    input.write(`${KEY.slice(20)}\n`); // the pipe is never ended
    expect(await read).toBe(KEY);
  });

  it("prompts on a terminal and never echoes what is typed; backspace and Ctrl-U edit; raw mode is restored", async () => {
    const { input, modes } = terminal();
    const out = screen();
    const read = readApiKey({}, input, out.stream);
    input.write("garbage\u0015"); // Ctrl-U: the line is erased
    input.write(KEY.slice(0, 10) + "zz\u007f\u007f"); // two characters typed and deleted
    input.write(KEY.slice(10) + "\r");
    expect(await read).toBe(KEY);
    expect(out.text()).toBe("API key (input is hidden): \n");
    expect(out.text()).not.toContain(KEY.slice(4, 12));
    expect(modes).toEqual([true, false]);
  });

  it("Ctrl-C at the prompt cancels: null, nothing read, the terminal back to cooked mode", async () => {
    const { input, modes } = terminal();
    const out = screen();
    const read = readApiKey({}, input, out.stream);
    input.write("trk_half\u0003");
    expect(await read).toBeNull();
    expect(modes).toEqual([true, false]);
    expect(out.text()).not.toContain("trk_half");
  });

  it("an empty or malformed key is TRK_ERR_INVALID_OPTION, and the message never shows the key", async () => {
    expect(await rejection(readApiKey({}, pipeOf("\n\n"), screen().stream))).toMatchObject({ code: "TRK_ERR_INVALID_OPTION" });
    const err = await rejection(readApiKey({ key: "trk_secret part" }, pipeOf(""), screen().stream));
    expect(err.code).toBe("TRK_ERR_INVALID_OPTION");
    expect(err.message).not.toContain("secret");
    const { input } = terminal();
    const read = readApiKey({}, input, screen().stream);
    input.write("\r");
    expect(await rejection(read)).toMatchObject({ code: "TRK_ERR_INVALID_OPTION" });
  });
});
