/**
 * JSON as W&B's Go client writes it in history, events and summary lines: standard JSON plus bare
 * `NaN`, `Infinity` and `-Infinity` tokens (Go's encoder writes a float as it is), which
 * `JSON.parse` refuses. A logged NaN is a value like any other in trackside, so it must be read
 * as the number, not dropped with its line.
 */

/** A marker no JSON string from a client can hold as is: U+0000 cannot appear raw inside a JSON string. */
const MARK = "\u0000wandb-nonfinite:";
const TOKENS: readonly [string, number][] = [
  ["-Infinity", -Infinity],
  ["Infinity", Infinity],
  ["NaN", NaN],
];

/**
 * Parses one JSON text, reading the bare tokens `NaN`, `Infinity` and `-Infinity` (outside
 * strings) as those numbers.
 * @throws SyntaxError for anything else that is not JSON.
 *
 * @example
 * parseLenientJson('{"loss":NaN,"x":-Infinity}') // { loss: NaN, x: -Infinity }
 */
export function parseLenientJson(text: string): unknown {
  if (!/NaN|Infinity/.test(text)) return JSON.parse(text);
  let out = "";
  let from = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      continue;
    }
    for (const [token] of TOKENS) {
      if (text.startsWith(token, i)) {
        out += text.slice(from, i) + JSON.stringify(MARK + token);
        i += token.length - 1;
        from = i + 1;
        break;
      }
    }
  }
  out += text.slice(from);
  return JSON.parse(out, (_key, value: unknown) => {
    if (typeof value === "string" && value.startsWith(MARK)) {
      const token = value.slice(MARK.length);
      return TOKENS.find(([t]) => t === token)?.[1] ?? value;
    }
    return value;
  });
}
