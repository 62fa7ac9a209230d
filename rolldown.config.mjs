/**
 * The two start-up-critical bundles (`npm run build:bundles`, after tsc): the client that user
 * processes import, and the daemon they spawn. One module each to load instead of ~30-40.
 * zeromq, a native add-on, stays external. pino is bundled: only its transports (worker threads,
 * which trackside does not use) look for pino's own files at run time.
 */
import { fileURLToPath } from "node:url";
import { defineConfig } from "rolldown";

const resolve = {
  alias: {
    // msgpackr's "node" entry tries to load its optional native string decoder through
    // node-gyp-build (and pulls in node:stream and node:child_process for its streams): ~5 ms of
    // every start for a speed-up of decoding long strings, which neither bundle does. The plain
    // entry is the same encoder and decoder.
    msgpackr: fileURLToPath(new URL("./node_modules/msgpackr/index.js", import.meta.url)),
  },
};

export default defineConfig([
  {
    input: "dist/src/client/index.js",
    platform: "node",
    external: ["zeromq"],
    resolve,
    output: { dir: "dist/client", format: "esm", cleanDir: true },
  },
  {
    input: "dist/src/daemon/main.js",
    platform: "node",
    external: ["zeromq"],
    resolve,
    // CommonJS (.cjs): Node.js then starts it without its ES module loader, which loads and
    // compiles ~25 of its own modules first. Measured, spawn-to-ready 87 -> 76 and 100 -> 82 ms.
    output: { dir: "dist/daemon", format: "cjs", entryFileNames: "[name].cjs", chunkFileNames: "[name]-[hash].cjs", cleanDir: true },
  },
]);
