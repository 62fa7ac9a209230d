import { describe, expect, it } from "vitest";
import { LineSplitter, MAX_LINE_CHARS } from "../../src/client/console-capture.js";
import type { ConsoleLine } from "../../src/protocol/index.js";

function split(chunks: string[]): string[] {
  const lines: ConsoleLine[] = [];
  const s = new LineSplitter("stdout", (l) => lines.push(l), () => 1);
  for (const c of chunks) s.push(c);
  s.flush();
  return lines.map((l) => l.text);
}

describe("console lines", () => {
  it("splits chunks into lines wherever the newlines fall", () => {
    expect(split(["a\nb", "c\n", "\nd"])).toEqual(["a", "bc", "", "d"]);
  });

  it("collapses \\r redraws of a progress bar to the line's last state", () => {
    expect(split(["epoch 1 [10%]\r", "epoch 1 [50%]\repoch 1 [100%]\n", "done\r\n"])).toEqual(["epoch 1 [100%]", "done"]);
  });

  it("cuts very long lines with a marker", () => {
    const [line] = split(["x".repeat(MAX_LINE_CHARS + 10) + "\n"]);
    expect(line.startsWith("x".repeat(MAX_LINE_CHARS))).toBe(true);
    expect(line).toContain("[trackside: line cut, 10 more characters]");
  });
});
