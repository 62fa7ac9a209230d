/**
 * The start-up-critical bundles (`npm run build:bundles`, after tsc): the client that user
 * processes import, the daemon they spawn, and zeromq's JavaScript that both load. One module
 * each to load instead of ~30-40. pino is bundled: only its transports (worker threads, which
 * trackside does not use) look for pino's own files at run time.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, sep } from "node:path";
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

const require = createRequire(import.meta.url);

// The client and the daemon load zeromq through protocol/zeromq.ts, told here where the vendor
// bundle is (from dist/client/index.js and dist/daemon/*.cjs alike) and which zeromq it holds.
const zeromqVersion = require("zeromq/package.json").version;
const transform = { define: { __TRACKSIDE_ZEROMQ__: JSON.stringify({ path: "../vendor/zeromq.cjs", version: zeromqVersion }) } };

/**
 * zeromq's lib/load-addon.js finds its native add-on from its own `__dirname`, which in the vendor
 * bundle would be dist/vendor/. It is pointed at zeromq's package directory instead, found at run
 * time like any dependency. The add-on itself, and the loader that picks it (cmake-ts), stay
 * zeromq's. Should a zeromq release change that line, the build stops here.
 */
function zeromqAddonFromItsPackage() {
  const from = 'path_1.default.resolve(__dirname, "..", "build")';
  const to = 'path_1.default.join(path_1.default.dirname(require.resolve("zeromq/package.json")), "build")';
  let patched = false;
  return {
    name: "zeromq-addon-from-its-package",
    transform(code, id) {
      if (!id.endsWith(`${sep}zeromq${sep}lib${sep}load-addon.js`)) return null;
      if (!code.includes(from)) throw new Error(`zeromq's lib/load-addon.js no longer reads \`${from}\`: update rolldown.config.mjs`);
      patched = true;
      return code.replace(from, to);
    },
    buildEnd() {
      if (!patched) throw new Error("zeromq's lib/load-addon.js was not in the vendor bundle: update rolldown.config.mjs");
    },
  };
}

/**
 * THIRD-PARTY-LICENSES.txt beside each bundle: the name, version, licence and licence files of
 * every package whose code the bundle carries (their licences ask that copies keep them).
 */
function thirdPartyLicenses() {
  return {
    name: "third-party-licenses",
    generateBundle(_options, bundle) {
      const packages = new Map();
      for (const chunk of Object.values(bundle)) {
        for (const id of chunk.type === "chunk" ? chunk.moduleIds : []) {
          const at = id.lastIndexOf(`${sep}node_modules${sep}`);
          if (at < 0) continue;
          let dir = dirname(id);
          while (dir.length > at && !existsSync(join(dir, "package.json"))) dir = dirname(dir);
          if (packages.has(dir) || dir.length <= at) continue;
          const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
          if (!pkg.name) continue; // a nested package.json that only sets "type"
          const texts = readdirSync(dir)
            .filter((f) => /^(licen[cs]e|copying|notice)/i.test(f))
            .map((f) => readFileSync(join(dir, f), "utf8").trim());
          packages.set(dir, `${pkg.name} ${pkg.version} (${pkg.license ?? "see its package"})\n\n${texts.join("\n\n") || "(no licence file in the package)"}`);
        }
      }
      const entries = [...packages.values()].sort();
      const text = `Third-party code bundled in this folder, with its licences.\n\n${entries.join(`\n\n${"-".repeat(72)}\n\n`)}\n`;
      this.emitFile({ type: "asset", fileName: "THIRD-PARTY-LICENSES.txt", source: text });
    },
  };
}

export default defineConfig([
  {
    input: "dist/src/client/index.js",
    platform: "node",
    external: ["zeromq"],
    resolve,
    transform,
    plugins: [thirdPartyLicenses()],
    output: { dir: "dist/client", format: "esm", cleanDir: true },
  },
  {
    input: "dist/src/daemon/main.js",
    platform: "node",
    external: ["zeromq"],
    resolve,
    transform,
    plugins: [thirdPartyLicenses()],
    // CommonJS (.cjs): Node.js then starts it without its ES module loader, which loads and
    // compiles ~25 of its own modules first. Measured, spawn-to-ready 87 -> 76 and 100 -> 82 ms.
    output: { dir: "dist/daemon", format: "cjs", entryFileNames: "[name].cjs", chunkFileNames: "[name]-[hash].cjs", cleanDir: true },
  },
  {
    // zeromq's JavaScript (and cmake-ts's add-on loader) in one file: loading the package took
    // every process ~6 ms of module resolution through two packages' "exports" maps.
    input: require.resolve("zeromq"),
    platform: "node",
    plugins: [zeromqAddonFromItsPackage(), thirdPartyLicenses()],
    output: { dir: "dist/vendor", entryFileNames: "zeromq.cjs", format: "cjs", cleanDir: true },
  },
]);
