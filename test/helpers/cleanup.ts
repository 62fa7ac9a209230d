/** After each test file: no daemon of its environments is left running. */
import { afterAll } from "vitest";
import { madeEnvs, stopDaemons } from "./processes.js";

afterAll(async () => {
  await Promise.all(madeEnvs.map((t) => stopDaemons(t.socketDir)));
});
