/** `npm run demo`, the main job, as a new user runs it (on a free port, in its own HOME). */
import { createServer } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, makeEnv, showRun, start } from "../helpers/processes.js";

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

describe("npm run demo", () => {
  it("starts the server, runs train.ts and crash.ts, prints both URLs, and stops on Ctrl-C", async () => {
    const port = await freePort();
    const t = makeEnv({ TRACKSIDE_BASE_URL: `http://127.0.0.1:${port}` });
    const demo = start([join(ROOT, "dist/scripts/demo.js")], t.env);
    await demo.waitFor(/press Ctrl-C to stop it/, 60_000);
    const out = demo.stdout();
    const train = /its run: +(http:\S+)/.exec(out)?.[1];
    const crash = /\(on purpose\); its run: (http:\S+)/.exec(out)?.[1];
    expect(train, out).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${port}/[^/]+/demo/runs/[a-z0-9]{8}$`));
    expect(crash).toBeDefined();
    const path = (url: string) => new URL(url).pathname.slice(1).replace("/runs/", "/");
    expect(await showRun(path(train!), t.env)).toMatchObject({ state: "finished", historySteps: 300, jobType: "train", artifactOutputs: [{ name: "demo-model", version: "v0", type: "model", aliases: ["best", "latest"] }] });
    expect(await showRun(path(crash!), t.env)).toMatchObject({ state: "failed", exitCode: 1, historySteps: 50 });
    const page = await fetch(train!);
    expect(page.status).toBe(404); // private, and this request has no session...
    const link = /one-time link to sign in.*\n\s+(http:\S+auth\/link\?token=\S+)/.exec(out)?.[1];
    expect(link, out).toBeDefined();
    // Opened as a person opens it: pasted into the browser, which says so (Sec-Fetch-Site: none).
    // Reached from another page, the link only asks first (test/server/pages.test.ts).
    const signIn = await fetch(link!, { redirect: "manual", headers: { "sec-fetch-site": "none" } });
    const cookie = signIn.headers.get("set-cookie")?.split(";")[0];
    expect(cookie).toBeDefined();
    const signedIn = await fetch(train!, { headers: { cookie: cookie! } });
    expect(signedIn.status).toBe(200); // ...but signed in, the run's page (the web app) opens,
    const api = await fetch(`${new URL(train!).origin}/api/v1/runs/${path(train!)}`, { headers: { cookie: cookie! } });
    expect(((await api.json()) as { state: string }).state).toBe("finished"); // and its data is there
    demo.child.kill("SIGINT");
    const done = await demo.exited;
    expect(done.code).toBe(0);
  });
});
