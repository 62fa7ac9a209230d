/**
 * Child of the artifacts benchmark. `log DIR`: an online run logs DIR as the artifact "bench";
 * prints when logArtifact() returned (the files staged) and when wait() did (the server holds
 * the version). `use OUT`: a run uses "bench:latest" and downloads it to OUT; prints the time.
 */
import * as trackside from "trackside";

const [mode, dir] = process.argv.slice(2);
const run = await trackside.init({ project: "bench-artifacts", settings: { silent: true, finishTimeoutMs: 600_000 } });
if (mode === "use") {
  const t0 = performance.now();
  const used = await run.useArtifact("bench:latest");
  await used.download(dir);
  const downloadMs = performance.now() - t0;
  await run.finish();
  console.log(JSON.stringify({ downloadMs }));
} else {
  const a = trackside.artifact("bench", "dataset");
  a.addDir(dir);
  const t0 = performance.now();
  const logged = await run.logArtifact(a);
  const stagedMs = performance.now() - t0;
  const version = await logged.wait(600_000);
  const storedMs = performance.now() - t0;
  await run.finish();
  console.log(JSON.stringify({ stagedMs, storedMs, version }));
}
