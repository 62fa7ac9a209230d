/**
 * Live updates of run pages: when an upload is applied to a run (or a person edits it), every
 * browser that has the run's page open hears of it through server-sent events and fetches what
 * changed. The event says only that something changed (and the run's state): the page asks the
 * ordinary read API for the new points and lines, so the privacy rules are applied in one place.
 *
 * Limitation: the hub is in-process. With several server replicas behind a load balancer, a
 * browser hears only of uploads that reached its own replica; a shared channel (PostgreSQL
 * LISTEN/NOTIFY, or a pub/sub) would carry the same events across replicas. A run marked
 * crashed by the sweeper is not announced either; the page finds out on its next fetch.
 */
import { EventEmitter } from "node:events";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { API_PREFIX, type RunEvent } from "../protocol/api.js";
import { readableRun, runPath } from "./access.js";
import type { AppContext } from "./app-context.js";

/** A comment line every 15 s keeps proxies from closing an idle stream (many cut at 30 to 60 s). */
const KEEPALIVE_MS = 15_000;

/** Run changes by run pk; one listener per open page. */
export class LiveEvents {
  private readonly emitter = new EventEmitter();
  private readonly streams = new Set<FastifyReply>();

  constructor() {
    // Every open page listens on its run: many pages of one run are normal, not a leak.
    this.emitter.setMaxListeners(0);
  }

  publish(runPk: number, event: RunEvent): void {
    this.emitter.emit(String(runPk), event);
  }

  subscribe(runPk: number, listener: (e: RunEvent) => void): () => void {
    this.emitter.on(String(runPk), listener);
    return () => this.emitter.off(String(runPk), listener);
  }

  /** Streams the run's events to a browser until it goes away or the server closes. */
  stream(req: FastifyRequest, reply: FastifyReply, runPk: number): void {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
      connection: "keep-alive",
    });
    res.write("retry: 2000\n\n");
    const unsubscribe = this.subscribe(runPk, (e) => res.write(`event: run\ndata: ${JSON.stringify(e)}\n\n`));
    const timer = setInterval(() => res.write(": keepalive\n\n"), KEEPALIVE_MS);
    this.streams.add(reply);
    const end = () => {
      clearInterval(timer);
      unsubscribe();
      this.streams.delete(reply);
    };
    req.raw.on("close", end);
    res.on("close", end);
  }

  /** How many browsers are listening (to any run). */
  get listening(): number {
    return this.streams.size;
  }

  /** Ends every open stream, so that the server can close (they would hold it open forever). */
  closeAll(): void {
    for (const reply of this.streams) reply.raw.end();
    this.streams.clear();
  }
}

/**
 * `GET .../events`, and the hooks that publish: an applied upload (the records route answered
 * 200) and a PATCH. Runs after the reply is sent, so an upload never waits for browsers.
 */
export function registerLiveEvents(app: FastifyInstance, ctx: AppContext, live: LiveEvents): void {
  const recordsRoute = `${API_PREFIX}/runs/:entity/:project/:id/records`;
  const runRoute = `${API_PREFIX}/runs/:entity/:project/:id`;

  app.get(`${API_PREFIX}/runs/:entity/:project/:id/events`, async (req, reply) => {
    const run = await readableRun(ctx, runPath(req.params), await ctx.viewer(req));
    live.stream(req, reply, run.pk);
  });

  app.addHook("onResponse", async (req, reply) => {
    if (reply.statusCode !== 200 || live.listening === 0) return;
    const route = req.routeOptions.url;
    const kind = route === recordsRoute && req.method === "POST" ? "records" : route === runRoute && req.method === "PATCH" ? "patch" : null;
    if (!kind) return;
    const path = runPath(req.params);
    const run = await ctx.store.getRun(path.entity, path.project, path.id);
    if (run) live.publish(run.pk, { kind, lastSeq: run.lastSeq, state: run.state });
  });

  app.addHook("preClose", async () => live.closeAll());
}
