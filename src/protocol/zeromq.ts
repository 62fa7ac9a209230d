/**
 * zeromq, as the client and the daemon load it. In the bundles (rolldown.config.mjs) its
 * JavaScript is one CommonJS file beside them, dist/vendor/zeromq.cjs: Node.js then resolves and
 * reads one module instead of six across two packages (zeromq and its add-on loader, cmake-ts),
 * whose package "exports" maps cost most of the time. Measured, loading zeromq in a fresh process
 * took 10.8-15.9 ms and takes 4.7-7.7 ms. Run from tsc's output or the TypeScript sources (the
 * tests), it is the zeromq package itself.
 */
import { createRequire } from "node:module";
import type * as Zmq from "zeromq";

/**
 * In the bundles (a define in rolldown.config.mjs): where dist/vendor/zeromq.cjs is from them,
 * and the zeromq version whose JavaScript it holds.
 */
declare const __TRACKSIDE_ZEROMQ__: { path: string; version: string } | undefined;

/**
 * Loads zeromq, synchronously (a caller may need it before its first await), and with require(),
 * not import: importing a CommonJS package from ESM makes Node.js scan its source for export
 * names first (measured: 25 -> 14 ms, before the vendor bundle).
 */
export function requireZeromq(): typeof Zmq {
  const require = createRequire(import.meta.url);
  if (typeof __TRACKSIDE_ZEROMQ__ === "object") {
    // The bundled JavaScript drives the installed add-on: only where both come from one release.
    // Another zeromq installed beside trackside is loaded as it is, and so is zeromq when the
    // vendor file is not beside this code (an application that bundled trackside into its own).
    try {
      const installed = (require("zeromq/package.json") as { version: string }).version;
      if (installed === __TRACKSIDE_ZEROMQ__.version) return require(__TRACKSIDE_ZEROMQ__.path) as typeof Zmq;
    } catch {
      // the package itself, below
    }
  }
  return require("zeromq") as typeof Zmq;
}
