/** After each test file: no daemon of its environments is left running, and no directory of theirs is left behind. */
import { rmSync } from "node:fs";
import { afterAll } from "vitest";
import { madeEnvs, stopDaemons } from "./processes.js";

afterAll(async () => {
  await Promise.all(madeEnvs.map((t) => stopDaemons(t.socketDir)));
  for (const t of madeEnvs) for (const dir of [t.home, t.socketDir, t.runDir]) rmSync(dir, { recursive: true, force: true });
});
