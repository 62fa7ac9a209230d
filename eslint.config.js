// The layering of DESIGN.md, kept by the linter: protocol at the bottom; client, daemon and
// server above it and blind to each other's runtime code; cli and web on top.
import tseslint from "typescript-eslint";

const layer = (dir, forbidden) => ({
  files: [`src/${dir}/**/*.ts`, `src/${dir}/**/*.tsx`],
  rules: {
    "no-restricted-imports": [
      "error",
      {
        patterns: forbidden.map((other) => ({
          group: [`**/${other}`, `**/${other}/*`, `**/${other}/**`],
          allowTypeImports: true,
          message: `src/${dir} must not import src/${other} at run time (DESIGN.md: layers).`,
        })),
      },
    ],
  },
});

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "coverage/**", "test-output/**"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  layer("protocol", ["client", "daemon", "server", "cli", "web"]),
  layer("client", ["daemon", "server", "cli", "web"]),
  layer("daemon", ["client", "server", "cli", "web"]),
  layer("server", ["client", "daemon", "cli"]),
  // Integrations (trackside/tfjs, trackside/langchain) use the client as a user does, through
  // "trackside": a relative import would load a second copy of it beside the bundle the user
  // imports (its active run, its Table); types may come from src/client.
  layer("integrations", ["client", "daemon", "server", "cli", "web"]),
  // The web app runs in a browser: it may import only the protocol's types (the API shapes),
  // and the pure metadata formatting both it and the CLI use.
  {
    files: ["src/web/**/*.ts", "src/web/**/*.tsx"],
    ignores: ["src/web/vite.config.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: ["protocol", "client", "daemon", "server", "cli"].map((other) => ({
            // protocol/metadata-format is pure and browser-safe: the one module it may import as code.
            regex: other === "protocol" ? "(^|/)protocol(/(?!metadata-format$).*)?$" : `(^|/)${other}(/.*)?$`,
            allowTypeImports: true,
            message: `src/web may import only types from src/protocol (DESIGN.md: layers), and protocol/metadata-format; it is built for the browser.`,
          })),
        },
      ],
    },
  },
);
