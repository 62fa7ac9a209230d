/** The CLI's terminal-safe text (src/cli/output.ts): every character a terminal acts on is shown, never obeyed. */
import { describe, expect, it } from "vitest";
import { formatBytes, printable, terminalJson } from "../../src/cli/output.js";

describe("printable", () => {
  it("shows C0, DEL, C1 and bidi controls as escapes, and keeps the rest of the text", () => {
    expect(printable("a\x1b]0;title\x07b")).toBe("a\\x1b]0;title\\x07b");
    expect(printable("x\x00\x7f\u0085\u009by")).toBe("x\\x00\\x7f\\x85\\x9by");
    expect(printable("abc\u202edef\u2066g\u2069")).toBe("abc\\u202edef\\u2066g\\u2069");
    expect(printable("naïve – 日本 🙂")).toBe("naïve – 日本 🙂");
  });

  it("lets newline and tab through only for text of several lines; a carriage return never", () => {
    expect(printable("a\nb\tc\rd")).toBe("a\\x0ab\\x09c\\x0dd");
    expect(printable("a\nb\tc\rd", true)).toBe("a\nb\tc\\x0dd");
  });
});

describe("terminalJson", () => {
  it("escapes what JSON.stringify leaves raw, and parses back to the exact value", () => {
    const value = { name: "e\x1b[2J\u0085\u202e\x7f", n: Infinity };
    const text = terminalJson(value);
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    expect(JSON.parse(text)).toEqual({ name: value.name, n: "Infinity" });
  });
});

describe("formatBytes", () => {
  it("writes sizes in binary units with three significant digits, bytes as they are", () => {
    expect([0, 1023, 1024, 1536, 20 * 1024 * 1024 + 1, 1024 ** 3, 5 * 1024 ** 5].map(formatBytes)).toEqual(["0 B", "1023 B", "1.00 KiB", "1.50 KiB", "20.0 MiB", "1.00 GiB", "5.00 PiB"]);
    expect(formatBytes(300 * 1024)).toBe("300 KiB");
  });
});
