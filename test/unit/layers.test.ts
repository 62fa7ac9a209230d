import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

// The lint rule that keeps DESIGN.md's layers: prove it bites, not only that the tree passes.
describe("import boundaries", () => {
  const eslint = new ESLint({ cwd: new URL("../..", import.meta.url).pathname });

  it.each([
    ["src/client/x.ts", 'import { Daemon } from "../daemon/daemon.js"; export const d = Daemon;'],
    ["src/daemon/x.ts", 'import { init } from "../client/init.js"; export const i = init;'],
    ["src/server/x.ts", 'import { Uploader } from "../daemon/uploader.js"; export const u = Uploader;'],
    ["src/protocol/x.ts", 'import { Run } from "../client/run.js"; export const r = Run;'],
    // An integration goes through "trackside" as users do: a relative import would load a second copy of the client.
    ["src/integrations/tfjs/x.ts", 'import { Run } from "../../client/run.js"; export const r = Run;'],
  ])("refuses a runtime import across layers in %s", async (filePath, code) => {
    const [result] = await eslint.lintText(code, { filePath });
    expect(result.messages.map((m) => m.ruleId)).toContain("no-restricted-imports");
  });

  it("allows protocol imports and type-only imports", async () => {
    const code = 'import { errors } from "../protocol/index.js";\nimport type { Run } from "../client/run.js";\nexport const e = errors; export type R = Run;';
    const [result] = await eslint.lintText(code, { filePath: "src/daemon/x.ts" });
    expect(result.messages).toEqual([]);
  });
});
