/**
 * `npm run fuzz -- --seconds N [--seed S]`: the fuzz suites of test/fuzz (daemon frames, ingest
 * bodies, sync of run directories) for longer than `npm test` gives them. Each suite runs for N
 * seconds (default 60) from seed S (default: a random one, printed in each suite's summary line,
 * so a failure can be replayed with `--seed`). Extra arguments go to vitest (a file filter).
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

function parse(argv: string[]): { seconds: string; seed: string; rest: string[] } {
  let seconds = "60";
  let seed = "random";
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--seconds") seconds = value();
    else if (a === "--seed") seed = value();
    else if (a.startsWith("--seconds=")) seconds = a.slice("--seconds=".length);
    else if (a.startsWith("--seed=")) seed = a.slice("--seed=".length);
    else rest.push(a);
  }
  if (!(Number(seconds) > 0)) throw new Error(`--seconds ${seconds}: expected a positive number`);
  return { seconds, seed, rest };
}

const { seconds, seed, rest } = parse(process.argv.slice(2));
process.stderr.write(`fuzzing for ${seconds} s per suite, seed ${seed}\n`);
const r = spawnSync("npx", ["--no-install", "vitest", "run", ...(rest.length ? rest : ["test/fuzz"])], {
  cwd: ROOT,
  stdio: "inherit",
  env: { ...process.env, TRACKSIDE_FUZZ_SECONDS: seconds, TRACKSIDE_FUZZ_SEED: seed },
});
process.exit(r.status ?? 1);
