/**
 * `npm run demo`: the main job on the embedded default. Starts `trackside server` unless one
 * answers at its address, runs examples/train.ts and examples/crash.ts as their own processes
 * through the public API, prints both runs' URLs, and keeps the server up until Ctrl-C.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { API_PREFIX, DEFAULT_BASE_URL, generateRunId, normalizeBaseUrl, readCredential, runUrl } from "../src/protocol/index.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const cli = fileURLToPath(new URL("../src/cli/main.js", import.meta.url));
const baseUrl = normalizeBaseUrl(process.env.TRACKSIDE_BASE_URL ?? DEFAULT_BASE_URL);
const project = process.env.TRACKSIDE_PROJECT ?? "demo";

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
    return res.ok;
  } catch {
    return false;
  }
}

async function startServer(): Promise<ChildProcess> {
  const { hostname, port } = new URL(baseUrl);
  const server = spawn(process.execPath, [cli, "server", "--host", hostname, "--port", port || "80"], { stdio: "inherit" });
  const deadline = Date.now() + 20_000;
  while (!(await answers(baseUrl))) {
    if (server.exitCode !== null) throw new Error(`trackside server exited with code ${server.exitCode}`);
    if (Date.now() > deadline) throw new Error(`trackside server did not answer at ${baseUrl} within 20 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return server;
}

function runExample(name: string, id: string): Promise<number | null> {
  const script = fileURLToPath(new URL(`../examples/${name}.js`, import.meta.url));
  console.log(`\n$ node ${script}`);
  const child = spawn(process.execPath, [script], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, TRACKSIDE_RUN_ID: id, TRACKSIDE_PROJECT: project, TRACKSIDE_BASE_URL: baseUrl },
  });
  return new Promise((resolve) => child.on("exit", (code) => resolve(code)));
}

async function signInLink(apiKey: string, next: string): Promise<string | null> {
  try {
    const res = await fetch(`${baseUrl}${API_PREFIX}/auth/login-links`, {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ next }),
    });
    if (!res.ok) return null;
    const { url } = (await res.json()) as { url: string };
    return url.startsWith("http") ? url : `${baseUrl}${url}`;
  } catch {
    return null;
  }
}

const server = (await answers(baseUrl)) ? null : await startServer();
if (!server) console.log(`using the trackside server already running at ${baseUrl}`);

const credential = readCredential(baseUrl);
if (!credential && !process.env.TRACKSIDE_API_KEY) {
  console.error(`no API key for ${baseUrl}: set TRACKSIDE_API_KEY, or stop that server and run the demo again`);
  process.exit(1);
}
const entity = process.env.TRACKSIDE_ENTITY ?? credential?.user ?? "local";
const trainId = generateRunId();
const crashId = generateRunId();
const trainCode = await runExample("train", trainId);
const crashCode = await runExample("crash", crashId);

const trainUrl = runUrl(baseUrl, entity, project, trainId);
console.log(`\ntrain.ts exited with ${trainCode}; its run:  ${trainUrl}`);
console.log(`crash.ts exited with ${crashCode} (on purpose); its run: ${runUrl(baseUrl, entity, project, crashId)}`);
const apiKey = process.env.TRACKSIDE_API_KEY ?? credential?.apiKey;
const link = apiKey ? await signInLink(apiKey, new URL(trainUrl).pathname) : null;
if (link) console.log(`runs are private: open this one-time link to sign in your browser (valid 10 minutes):\n  ${link}`);
console.log(`or from the terminal: npx trackside runs list ${entity}/${project}`);

if (server) {
  console.log("\nthe server keeps running; press Ctrl-C to stop it");
  const stop = (): void => {
    server.kill("SIGTERM");
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  server.on("exit", () => process.exit(0));
}
