/**
 * Live updates of run pages: when an upload is applied to a run (or a person edits it), every
 * browser that has the run's page open hears of it through server-sent events and fetches what
 * changed. The event says only that something changed (and the run's state): the page asks the
 * ordinary read API for the new points and lines, so the privacy rules are applied in one place.
 *
 * Across servers: every change of a run raises its revision in the database (StoredRun.revision).
 * While streams are open, the hub asks the store for their runs' revisions every `pollMs` (one
 * lookup by key per run) and announces what changed, so a browser connected to one replica hears
 * of an upload that another applied, and of a sweep, within about `pollMs`. Uploads and edits
 * through this server are announced at once, and their revision is noted so the poll does not
 * announce them twice. A project's stream is polled by the project: the store answers the
 * revisions of its runs changed in the last PROJECT_CHANGE_WINDOW_MS by the database's clock (one
 * index range, whatever the number of runs), and a run is announced when its revision is above
 * the one last announced; a run that left the window is forgotten, since it can come back only
 * with a new change. Polling, not PostgreSQL NOTIFY: a NOTIFY inside ingest transactions
 * serialises their commits, and polling works the same on every store.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { API_PREFIX, type RunEvent } from "../../protocol/api.js";
import { errors } from "../../protocol/errors.js";
import { mayReadRun, projectPath, runPath } from "./access.js";
import type { AppContext } from "./app-context.js";
import { userOf, type Credential } from "./auth.js";
import { clientAddress, DEFAULT_LIMITS, type ServerLimits } from "./limits.js";
import type { EntityRole, RecentRunRevision, Store, StoredEntity, StoredRun, StoredUser } from "../store/store.js";

/** A comment line every 15 s keeps proxies from closing an idle stream (many cut at 30 to 60 s). */
const KEEPALIVE_MS = 15_000;
/** How often open streams' runs are checked for changes made elsewhere: "within a second". */
export const LIVE_POLL_MS = 500;
/**
 * How far back a project's poll looks (database clock): many polls' worth, so that a change is
 * seen although a poll came late (a slow database) or the change's transaction committed a
 * moment after it stamped the run.
 */
export const PROJECT_CHANGE_WINDOW_MS = 10_000;

/** A project followed by open streams: the revision last announced of its runs changed lately. */
interface ProjectWatch {
  entityId: number;
  entity: string;
  project: string;
  /** By run pk: the revision announced, and the poll that last saw it (older ones are forgotten). */
  seen: Map<number, { revision: number; poll: number }>;
}

/** Which streams an event goes to: all of the run's, or only its own streams, or only its project's. */
type Audience = "all" | "run" | "project";

/** One open stream: who opened it (asked again before each event) and how to end it. */
interface OpenStream {
  /** The run it follows; null for a project's stream, which follows every run of `project`. */
  runPk: number | null;
  /** The run's path, to read it again when another server changed it (a project stream: id ""). */
  path: { entity: string; project: string; id: string };
  /** The entity, whose roles decide who may go on reading. */
  entity: StoredEntity;
  client: string;
  credential: Credential | null;
  /** The user who opened it, or null when anonymous. */
  userId: number | null;
  /** The API key it was opened with, or whose session opened it (null: none). */
  keyId: number | null;
  /** Events are checked and written in order, one after the other. */
  queue: Promise<void>;
  write(e: RunEvent): void;
  end(): void;
}

/**
 * The open streams, each of one run. Access is asked again before every event (the run's
 * privacy now, the viewer's key or session and role now), so a run made private, a sign-out, a
 * revoked key, a disabled user or a lost team role ends the streams that may no longer read it,
 * instead of feeding them. Revoking a key, disabling a user and signing out also end their
 * streams at once on this replica (endCredential, endUser), without waiting for an event.
 */
export class LiveEvents {
  private readonly streams = new Set<OpenStream>();
  private readonly perClient = new Map<string, number>();
  /** The revision last announced of each run with open streams. */
  private readonly announced = new Map<number, number>();
  /** The projects with open streams, by `${entityId}/${project}`. */
  private readonly projects = new Map<string, ProjectWatch>();
  /** Counts polls, to forget the project runs a poll no longer saw. */
  private pollNo = 0;
  private poller: ReturnType<typeof setInterval> | null = null;
  private polling = false;

  /** `store` and `now` answer who a stream's credential is now; `limits` caps the streams. */
  constructor(
    private readonly store: Store,
    private readonly now: () => number,
    private readonly limits: Pick<ServerLimits, "maxStreams" | "maxStreamsPerClient"> = DEFAULT_LIMITS,
    private readonly pollMs = LIVE_POLL_MS,
  ) {}

  /**
   * Tells every stream of the run about a change, each only if its viewer may still read the
   * run as it is now (`run`); a stream that may not is ended without the event.
   */
  publish(run: StoredRun, event: RunEvent, audience: Audience = "all"): void {
    const seen = this.announced.get(run.pk);
    if (seen !== undefined && audience !== "project") this.announced.set(run.pk, Math.max(seen, run.revision)); // only runs with streams are tracked
    const watch = audience === "run" ? undefined : this.projects.get(projectKey(run.entityId, run.project));
    if (watch) {
      const was = watch.seen.get(run.pk)?.revision ?? run.revision;
      watch.seen.set(run.pk, { revision: Math.max(was, run.revision), poll: this.pollNo });
    }
    for (const stream of this.streams) {
      const project = stream.runPk === null;
      if (project ? audience === "run" : audience === "project") continue;
      if (project ? stream.entity.id !== run.entityId || stream.path.project !== run.project : stream.runPk !== run.pk) continue;
      stream.queue = stream.queue.then(async () => {
        // A public run is anyone's; only a private one needs the viewer and their role, asked afresh.
        const role = run.privacy === "public" ? null : await this.roleNow(stream).catch(() => null);
        if (mayReadRun(run, role)) stream.write(event);
        // A project's stream skips the runs its viewer may not read (others' private runs) and goes on.
        else if (!project) stream.end();
      });
    }
  }

  /** The stream's viewer's role in its run's entity now; null when signed out, revoked, disabled or without one. */
  private async roleNow(stream: OpenStream): Promise<EntityRole | null> {
    const viewer = await userOf(this.store, stream.credential, this.now());
    return viewer ? this.store.roleIn(stream.entity, viewer.id) : null;
  }

  /**
   * Announces the changes other servers (or the sweeper) made to the runs of open streams: one
   * revision lookup per run; a run whose revision went up is read again and published.
   */
  private async poll(): Promise<void> {
    if (this.polling) return; // a slow database: the next tick waits for this one
    this.polling = true;
    const pollNo = ++this.pollNo;
    try {
      const paths = new Map<number, OpenStream["path"]>();
      for (const s of this.streams) if (s.runPk !== null) paths.set(s.runPk, s.path);
      const revisions = await this.store.runRevisions([...paths.keys()]);
      for (const [pk, revision] of revisions) {
        if (revision <= (this.announced.get(pk) ?? revision)) continue;
        const path = paths.get(pk)!;
        const run = await this.store.getRun(path.entity, path.project, path.id);
        if (run) this.publish(run, { kind: "change", id: run.id, lastSeq: run.lastSeq, state: run.state }, "run");
      }
      for (const watch of [...this.projects.values()]) await this.pollProject(watch, pollNo);
    } catch {
      // The database is away for a moment: streams go on, and the next tick asks again.
    } finally {
      this.polling = false;
    }
  }

  /**
   * Announces to a project's streams its runs whose revision went up since last announced: one
   * query for the runs changed lately, then a read of each run that changed.
   */
  private async pollProject(watch: ProjectWatch, pollNo: number): Promise<void> {
    const recent = await this.store.recentRunRevisions(watch.entityId, watch.project, PROJECT_CHANGE_WINDOW_MS);
    if (this.projects.get(projectKey(watch.entityId, watch.project)) !== watch) return; // its last stream ended meanwhile
    const changed: string[] = [];
    for (const { pk, id, revision } of recent) {
      const seen = watch.seen.get(pk);
      // A run not seen lately changed now (it has entered the window); one seen, if its revision went up.
      if (!seen || seen.revision < revision) changed.push(id);
      watch.seen.set(pk, { revision: Math.max(seen?.revision ?? revision, revision), poll: pollNo });
    }
    // Runs that left the window: forgotten, as they come back only with a new change. One
    // announced by this server during this poll keeps its mark (poll), whatever the query saw.
    for (const [pk, seen] of watch.seen) if (seen.poll < pollNo) watch.seen.delete(pk);
    for (const id of changed) {
      const run = await this.store.getRun(watch.entity, watch.project, id);
      if (run) this.publish(run, { kind: "change", id: run.id, lastSeq: run.lastSeq, state: run.state }, "project");
    }
  }

  /** Ends at once every stream opened with the key or with a session made from it (it was revoked). */
  endKey(keyId: number): void {
    for (const stream of this.streams) if (stream.keyId === keyId) stream.end();
  }

  /** Ends at once every stream a user opened (the user was disabled). */
  endUser(userId: number): void {
    for (const stream of this.streams) if (stream.userId === userId) stream.end();
  }

  /** Ends at once every stream opened with this credential (a sign-out, a revoked key). */
  endCredential(credential: Credential): void {
    for (const stream of this.streams) {
      if (stream.credential?.kind === credential.kind && stream.credential.hash === credential.hash) stream.end();
    }
  }

  /**
   * Streams the run's events to a browser until it goes away, loses access or the server
   * closes. Over the limits (in all, or of this client: its user, or its address when
   * anonymous) it refuses with TRK_ERR_TOO_MANY before anything is written.
   */
  stream(
    req: FastifyRequest,
    reply: FastifyReply,
    run: { pk: number | null; revision: number; entity: StoredEntity; path: OpenStream["path"]; recent?: RecentRunRevision[] },
    credential: Credential | null,
    viewer: StoredUser | null,
    keyId: number | null,
  ): void {
    const client = viewer ? `user:${viewer.id}` : `ip:${clientAddress(req.ip)}`;
    if (this.streams.size >= this.limits.maxStreams) throw errors.tooMany("live-event streams on this server", this.limits.maxStreams);
    const mine = this.perClient.get(client) ?? 0;
    if (mine >= this.limits.maxStreamsPerClient) throw errors.tooMany("live-event streams of one client", this.limits.maxStreamsPerClient);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
      connection: "keep-alive",
    });
    res.write("retry: 2000\n\n");
    const timer = setInterval(() => res.write(": keepalive\n\n"), KEEPALIVE_MS);
    let ended = false;
    const stream: OpenStream = {
      runPk: run.pk,
      path: run.path,
      entity: run.entity,
      client,
      credential,
      userId: viewer?.id ?? null,
      keyId,
      queue: Promise.resolve(),
      write: (e) => {
        if (!ended) res.write(`event: run\ndata: ${JSON.stringify(e)}\n\n`);
      },
      end: () => {
        if (ended) return;
        ended = true;
        clearInterval(timer);
        this.streams.delete(stream);
        if (stream.runPk !== null && ![...this.streams].some((s) => s.runPk === stream.runPk)) this.announced.delete(stream.runPk);
        if (stream.runPk === null && ![...this.streams].some((s) => s.runPk === null && s.entity.id === stream.entity.id && s.path.project === stream.path.project)) {
          this.projects.delete(projectKey(stream.entity.id, stream.path.project));
        }
        if (this.streams.size === 0) this.stopPolling();
        const left = (this.perClient.get(client) ?? 1) - 1;
        if (left === 0) this.perClient.delete(client);
        else this.perClient.set(client, left);
        res.end();
      },
    };
    this.streams.add(stream);
    this.perClient.set(client, mine + 1);
    // The page has just read the run: changes from here on are news.
    if (run.pk !== null && !this.announced.has(run.pk)) this.announced.set(run.pk, run.revision);
    // A project's runs changed lately, as the page has just read them: from here on too.
    const key = projectKey(run.entity.id, run.path.project);
    if (run.pk === null && !this.projects.has(key)) {
      const seen = new Map((run.recent ?? []).map((r) => [r.pk, { revision: r.revision, poll: this.pollNo }]));
      this.projects.set(key, { entityId: run.entity.id, entity: run.path.entity, project: run.path.project, seen });
    }
    if (!this.poller) {
      this.poller = setInterval(() => void this.poll(), this.pollMs);
      this.poller.unref();
    }
    req.raw.on("close", stream.end);
    res.on("close", stream.end);
    // The browser may have gone while the checks before this ran (each a database round trip):
    // its "close" has fired already, and the stream would stay counted for good.
    if (req.raw.destroyed || res.destroyed || res.socket?.destroyed === true) stream.end();
  }

  /** How many browsers are listening (to any run). */
  get listening(): number {
    return this.streams.size;
  }

  private stopPolling(): void {
    if (this.poller) clearInterval(this.poller);
    this.poller = null;
  }

  /** Ends every open stream, so that the server can close (they would hold it open forever). */
  closeAll(): void {
    for (const stream of this.streams) stream.end();
    this.stopPolling();
  }
}

function projectKey(entityId: number, project: string): string {
  return `${entityId}/${project}`;
}

/**
 * `GET .../events`, and the hooks that publish: an applied upload (the records route answered
 * 200) and a PATCH. Runs after the reply is sent, so an upload never waits for browsers.
 */
export function registerLiveEvents(app: FastifyInstance, ctx: AppContext, live: LiveEvents): void {
  const recordsRoute = `${API_PREFIX}/runs/:entity/:project/:id/records`;
  const runRoute = `${API_PREFIX}/runs/:entity/:project/:id`;

  app.get(`${API_PREFIX}/runs/:entity/:project/:id/events`, { config: { access: "run:read" } }, async (req, reply) => {
    const { credential, user } = ctx.principal(req);
    const keyId = credential ? await ctx.store.credentialKeyId(credential.kind, credential.hash) : null;
    const run = ctx.run(req);
    const path = { entity: run.entity, project: run.project, id: run.id };
    live.stream(req, reply, { pk: run.pk, revision: run.revision, entity: ctx.entity(req), path }, credential, user, keyId);
  });

  // A whole project's stream, for pages that draw many runs (the workspace, a run page): one
  // connection instead of one per run. Each event is sent only if the viewer may read its run.
  // Changes applied by other replicas (and sweeps) reach it through the poll of the project's
  // runs changed lately; those changed just before it opened are the baseline, not news.
  app.get(`${API_PREFIX}/runs/:entity/:project/events`, { config: { access: "project:read" } }, async (req, reply) => {
    const { credential, user } = ctx.principal(req);
    const keyId = credential ? await ctx.store.credentialKeyId(credential.kind, credential.hash) : null;
    const path = { ...projectPath(req.params), id: "" };
    const entity = ctx.entity(req);
    const recent = await ctx.store.recentRunRevisions(entity.id, path.project, PROJECT_CHANGE_WINDOW_MS);
    live.stream(req, reply, { pk: null, revision: 0, entity, path, recent }, credential, user, keyId);
  });

  app.addHook("onResponse", async (req, reply) => {
    if (reply.statusCode !== 200 || live.listening === 0) return;
    const route = req.routeOptions.url;
    const kind = route === recordsRoute && req.method === "POST" ? "records" : route === runRoute && req.method === "PATCH" ? "patch" : null;
    if (!kind) return;
    const path = runPath(req.params);
    const run = await ctx.store.getRun(path.entity, path.project, path.id);
    if (run) live.publish(run, { kind, id: run.id, lastSeq: run.lastSeq, state: run.state });
  });

  app.addHook("preClose", async () => live.closeAll());
}
