/**
 * Accounts, teams and privacy in the web app (issue 14), in a real browser (Debian's Chromium
 * through playwright-core) against a real server on port 0: a run's edit controls are offered
 * only to those who may edit it; the account page creates a key, shows it once and revokes it;
 * a team's admin adds a member by name; a project page names its entity and lets its
 * administrator set the default privacy of new runs; the not-found page names who is signed
 * in. The owner (the server's first user, a site admin) and an anonymous visitor each have a
 * browser context of their own. On each store backend (SQLite, then PostgreSQL:
 * test/helpers/backends.ts), one browser serving both. Screenshots (of the SQLite run only: the
 * pages are the same) go to test-output/screenshots/.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { NewUserView, ProjectSettingsView, TeamView } from "../../src/protocol/api.js";
import { readCredential } from "../../src/protocol/local-config.js";
import type { RunInfo, RunRecord } from "../../src/protocol/records.js";
import { startServer, type RunningServer } from "../../src/server/index.js";
import { describeBackends } from "../helpers/backends.js";
import { browserOrSkip, launchChromium, SHOTS } from "../helpers/browser.js";

const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);
const runBrowser = browserOrSkip("test/web/accounts");

let browser: Browser;

// One browser for the file: each backend's run gets contexts (cookies, storage) of its own.
beforeAll(async () => {
  if (!runBrowser) return;
  mkdirSync(SHOTS, { recursive: true });
  browser = await launchChromium();
});

afterAll(() => browser?.close());

function run(entity: string, project: string, id: string): RunRecord[] {
  const info: RunInfo = {
    id, entity, project, name: `run-${id}`, notes: "first try", tags: ["sweep"], group: null, jobType: null, config: {}, createdAt: T0,
    program: { executable: "/usr/bin/node", args: ["train.js"], cwd: "/w", pid: 1, host: "box", nodeVersion: "v20.11.0", os: "linux", tracksideVersion: "0.1.0" },
  };
  return [{ k: "run", seq: 0, run: info }];
}

describeBackends(
  "web app: accounts, teams and privacy",
  (backend) => {
    let home: string;
    let savedHome: string | undefined;
    let server: RunningServer;
    let ownerKey: string;
    let owner: string;
    let bobKey: string;
    /** The owner's signed-in page, and an anonymous visitor's. */
    let mine: Page;
    let anon: Page;

    /** A screenshot of the SQLite run's page: the PostgreSQL run's pages are the same, and each shot costs time. */
    const shot = async (page: Page, name: string): Promise<void> => {
      if (backend.name === "SQLite") await page.screenshot({ path: join(SHOTS, name) });
    };

    async function api(method: string, path: string, key: string | null, body?: unknown): Promise<Response> {
      return fetch(`${server.url}/api/v1${path}`, {
        method,
        headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    }

    async function ok<T>(res: Promise<Response>): Promise<T> {
      const r = await res;
      expect(r.status, await r.clone().text()).toBe(200);
      return (await r.json()) as T;
    }

    beforeAll(async () => {
      savedHome = process.env.HOME;
      home = mkdtempSync(join(tmpdir(), "trackside-web-accounts-"));
      process.env.HOME = home;
      server = await startServer({ port: 0, dataDir: join(home, ".trackside", "server"), database: backend.database() });
      const cred = readCredential(server.url)!;
      ownerKey = cred.apiKey;
      owner = cred.user;
      bobKey = (await ok<NewUserView>(api("POST", "/users", ownerKey, { name: "bob" }))).apiKey;
      await ok(api("POST", "/teams", ownerKey, { name: "vision" }));
      // A public run of the owner's, and a run in the team's project.
      await ok(api("POST", `/runs/${owner}/shared/pub00001/records`, ownerKey, run(owner, "shared", "pub00001")));
      await ok(api("PATCH", `/runs/${owner}/shared/pub00001`, ownerKey, { privacy: "public" }));
      await ok(api("POST", "/runs/vision/p/team0001/records", ownerKey, run("vision", "p", "team0001")));

      const viewport = { width: 1200, height: 700 };
      anon = await (await browser.newContext({ viewport })).newPage();
      mine = await (await browser.newContext({ viewport })).newPage();
      // Sign the owner in as a person would: a one-time link minted with the key.
      const link = await ok<{ url: string }>(api("POST", "/auth/login-links", ownerKey, { next: "/" }));
      await mine.goto(link.url);
    });

    afterAll(async () => {
      await Promise.all([anon?.context().close(), mine?.context().close()]);
      await server?.close();
      process.env.HOME = savedHome;
      rmSync(home, { recursive: true, force: true });
    });

    const field = (page: Page, label: string) => page.locator(`dd[data-field="${label}"]`);

    it("offers a run's edit controls to its owner only; a signed-out visitor reads its privacy as text", async () => {
      const path = `/${owner}/shared/runs/pub00001`;
      await anon.goto(server.url + path);
      await anon.waitForSelector("dl.facts");
      expect(await field(anon, "Privacy").innerText()).toBe("Public: anyone can view");
      expect(await field(anon, "Tags").innerText()).toBe("sweep");
      expect(await field(anon, "Description").innerText()).toBe("first try");
      for (const control of ['select[aria-label="Privacy"]', 'input[aria-label="Add tag"]', 'button[aria-label="Remove tag sweep"]', 'button[aria-label^="Edit"]']) {
        expect(await anon.locator(control).count(), control).toBe(0);
      }
      expect(await anon.locator("header .who a", { hasText: "Sign in" }).count()).toBe(1);
      await shot(anon, "run-public-anonymous.png");

      await mine.goto(server.url + path);
      await mine.waitForSelector("dl.facts");
      expect(await mine.locator('select[aria-label="Privacy"]').inputValue()).toBe("public");
      expect(await mine.locator('input[aria-label="Add tag"]').count()).toBe(1);
      expect(await mine.locator('button[aria-label="Edit Run name"]').count()).toBe(1);
    });

    it("creates an API key on the account page, shows it once, and revokes it", async () => {
      await anon.goto(`${server.url}/settings`);
      await anon.waitForSelector('main a[href="/login?next=%2Fsettings"]');

      await mine.goto(`${server.url}/settings`);
      await mine.waitForSelector("table.keys");
      await mine.fill('input[aria-label="Key label"]', "laptop");
      await mine.click('button:has-text("Create key")');
      const key = await mine.locator("[data-secret]").innerText();
      expect(key).toMatch(/^trk_[A-Za-z0-9]{43}$/);
      expect((await ok<{ user: string }>(api("GET", "/viewer", key))).user).toBe(owner);
      const row = mine.locator("table.keys tr", { hasText: "laptop" });
      expect(await row.locator("code").innerText()).toBe(`${key.slice(0, 8)}…`);
      await shot(mine, "settings-new-key.png");

      // Once: a reload lists the key by its label and prefix, never the key itself.
      await mine.reload();
      await mine.waitForSelector("table.keys tr:has-text('laptop')");
      expect(await mine.content()).not.toContain(key);

      await row.locator("button", { hasText: "Revoke" }).click();
      await row.locator("button", { hasText: "Yes, revoke" }).click();
      await expect.poll(() => mine.locator("table.keys tr", { hasText: "laptop" }).count()).toBe(0);
      expect((await api("GET", "/viewer", key)).status).toBe(401);
      expect((await api("GET", "/viewer", ownerKey)).status).toBe(200); // the other keys still work
    });

    it("lets a team admin add a member by user name, and shows the server's refusal as its message", async () => {
      await mine.goto(`${server.url}/`);
      await mine.click('summary[aria-label="User menu"]');
      await shot(mine, "user-menu.png");
      await mine.click('.user-menu a[data-entity="vision"]');
      await mine.waitForSelector(`table.members tr[data-member="${owner}"]`);
      expect(new URL(mine.url()).pathname).toBe("/vision");
      expect(await mine.locator("h1 .kind").innerText()).toBe("team");
      expect(await mine.locator(`select[aria-label="Role of ${owner}"]`).inputValue()).toBe("admin");
      expect(await mine.locator("table.projects a", { hasText: "p" }).getAttribute("href")).toBe("/vision/p");

      await mine.fill('input[aria-label="User name"]', "nobody");
      await mine.click('button:has-text("Add member")');
      await expect.poll(() => mine.locator("section.members .error").innerText()).toContain("nobody");

      await mine.fill('input[aria-label="User name"]', "bob");
      await mine.selectOption('select[aria-label="Role"]', "viewer");
      await mine.click('button:has-text("Add member")');
      await mine.waitForSelector('table.members tr[data-member="bob"]');
      expect(await mine.locator('select[aria-label="Role of bob"]').inputValue()).toBe("viewer");
      expect(await mine.locator("section.members .error").count()).toBe(0);
      await shot(mine, "team.png");
      // bob is in the team for the server too: he may read it.
      const team = await ok<TeamView>(api("GET", "/teams/vision", bobKey));
      expect(team.members.map((m) => [m.user, m.role]).sort()).toEqual([[owner, "admin"], ["bob", "viewer"]].sort());
    });

    it("the not-found page names who is signed in", async () => {
      for (const path of ["/nosuchentity", `/${owner}/shared/runs/nosuchrun`]) {
        await mine.goto(server.url + path);
        expect(await mine.locator("header").innerText()).toContain(`signed in as ${owner}`);
        expect(await mine.locator("main").innerText()).toContain("sign in as someone else");
        await anon.goto(server.url + path);
        expect(await anon.locator("header").innerText()).toContain("Sign in");
        expect(await anon.locator("header").innerText()).not.toContain("signed in as");
      }
    });

    it("names a project's entity, and lets its administrator set the default privacy of new runs", async () => {
      await mine.goto(`${server.url}/vision/p`);
      await mine.waitForSelector("header .entity-crumb .kind");
      expect(await mine.locator("header a[data-entity-link]").getAttribute("href")).toBe("/vision");
      expect(await mine.locator("header .entity-crumb .kind").innerText()).toBe("team");
      const setting = mine.locator('select[aria-label="Default privacy of new runs"]');
      expect(await setting.inputValue()).toBe("private");
      await setting.selectOption("public");
      await mine.waitForSelector('[data-default-privacy="public"]');
      await shot(mine, "project-team.png");
      expect((await ok<ProjectSettingsView>(api("GET", "/projects/vision/p", ownerKey))).defaultPrivacy).toBe("public");

      // A visitor of a user's public run's project reads the entity, and no setting to change.
      await anon.goto(`${server.url}/${owner}/shared`);
      await anon.waitForSelector("header .entity-crumb .kind");
      expect(await anon.locator("header .entity-crumb .kind").innerText()).toBe("user");
      await anon.waitForSelector("[data-default-privacy]");
      expect(await anon.locator('select[aria-label="Default privacy of new runs"]').count()).toBe(0);
    });
  },
  { skip: !runBrowser },
);
