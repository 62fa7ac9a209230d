import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/helpers/fresh-build.ts", "test/helpers/temp-root.ts"],
    setupFiles: ["test/helpers/cleanup.ts"],
    // Real processes and sockets: give them room, but never retry (a flaky test is a bug).
    testTimeout: 60_000,
    hookTimeout: 60_000,
    retry: 0,
    pool: "forks",
    maxWorkers: 2,
  },
});
