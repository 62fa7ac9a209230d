// Builds the web app (src/web) into dist/web, which the server serves (src/server/http/routes-web.ts).
// JSX is Preact's through the tsconfig beside this file (jsxImportSource): no plugin needed.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here("."),
  base: "/",
  logLevel: "warn",
  build: {
    outDir: here("../../dist/web"),
    emptyOutDir: true,
    // The server's CSP allows no inline script: keep the module-preload helper in a file.
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 1000,
  },
});
