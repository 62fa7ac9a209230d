/**
 * The daemon's composition root: a ZeroMQ ROUTER that many clients share, one RunStream per run,
 * and a watch on the clients' processes. A spawned daemon leaves once its clients are gone and
 * its runs are uploaded; a standalone one (`trackside daemon`) stays until it is told to stop.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createRequire } from "node:module";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { Logger } from "pino";
import {
  PACKAGE_VERSION,
  PROTOCOL_VERSION,
  TracksideError,
  decodeClientMessage,
  encode,
  errors,
  isProcessAlive,
  isTracksideError,
  requestIdOf,
  type ClientMessage,
  type DaemonMessage,
  MAX_FRAME_BYTES,
  MIN_ROUTING_ID_BYTES,
  assertNever,
  type RunOpenSettings,
} from "../protocol/index.js";
import { requireZeromq } from "../protocol/zeromq.js";
import { ClientWatch } from "./client-watch.js";
import { RunStream, type CarriedSequence } from "./run-stream.js";
import { lastOfSiblings } from "./sibling-runs.js";

const { Router } = requireZeromq();

const RELEASE_EVERY_BYTES = 8 * 2 ** 20;

let gc: ((opts: { type: "minor" }) => void) | null = null;

type Crypto = typeof import("node:crypto");
let crypto: Crypto | null = null;

/** node:crypto, loaded at the first hello or open rather than at every start of a spawned daemon. */
function loadCrypto(): Crypto {
  return (crypto ??= createRequire(import.meta.url)("node:crypto") as Crypto);
}

function sha256(text: string): Buffer {
  return loadCrypto().createHash("sha256").update(text, "utf8").digest();
}

/**
 * Whether `given` is the secret whose digest is `digest`: the digests are compared, in constant
 * time, so that neither the length of the secret nor how much of it matched shows in the time
 * the answer takes.
 */
function matches(given: string | undefined, digest: Buffer): boolean {
  return typeof given === "string" && loadCrypto().timingSafeEqual(sha256(given), digest);
}

/** The file in a run directory that holds the digest of the run's secret, for a successor daemon. */
const SECRET_FILE = "secret.sha256";

/**
 * V8's gc(), exposed on first use rather than by starting the daemon with --expose-gc: that flag
 * cost ~30 ms of every daemon start (measured, 14 starts each).
 */
function minorGc(): void {
  if (!gc) {
    setFlagsFromString("--expose-gc");
    gc = runInNewContext("gc") as typeof gc;
  }
  gc?.({ type: "minor" });
}

export interface DaemonOptions {
  /** `ipc:///path` or `tcp://127.0.0.1:PORT`. */
  listen: string;
  log: Logger;
  /**
   * Written (tmp file + rename) once the socket is bound, removed when closing starts: clients
   * find the shared daemon by it (client/daemon-spawn.ts).
   */
  readyFile?: string;
  /** Spawned by a client: leave when no client is left and every run is uploaded. */
  spawned?: boolean;
  /** Required from clients in their hello (always set for TCP). */
  token?: string;
  /** How often client processes are checked for life. */
  watchIntervalMs?: number;
  /** A spawned daemon that never gets a client leaves after this long. */
  firstClientTimeoutMs?: number;
}

interface Session {
  pid: number;
  greeted: boolean;
}

export class Daemon {
  private readonly opts: DaemonOptions;
  private readonly log: Logger;
  private readonly sock = new Router({ linger: 1000, receiveHighWaterMark: 0, sendHighWaterMark: 0 });
  private readonly sessions = new Map<string, Session>();
  private readonly streams = new Map<string, RunStream>();
  /**
   * Streams of runs that ended, replaced in `streams` by a later process of the same run (a
   * resume), that still upload: they are closed once settled, like any other.
   */
  private readonly retired = new Set<RunStream>();
  /** Digests of the streams' secrets. */
  private readonly secrets = new WeakMap<RunStream, Buffer>();
  private tokenDigest: Buffer | null = null;
  private readonly watch: ClientWatch;
  private sendChain: Promise<void> = Promise.resolve();
  private closing: Promise<void> | null = null;
  private readonly startedAt = Date.now();
  private hadClient = false;
  private receivedSinceGc = 0;
  /** Resolves when the daemon has closed (idle exit, SIGTERM or close()). */
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;

  constructor(opts: DaemonOptions) {
    this.opts = opts;
    this.log = opts.log.child({ component: "daemon" });
    this.watch = new ClientWatch(opts.watchIntervalMs ?? 200, (pid) => this.processGone(pid), () => this.idleCheck(), opts.listen.startsWith("tcp://"));
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  async start(): Promise<string> {
    // Binding an ipc path replaces whatever socket file is there, even a live daemon's: refuse
    // to take over from one that answers (two processes racing to spawn the shared daemon).
    if (this.opts.listen.startsWith("ipc://") && (await listening(this.opts.listen.slice("ipc://".length)))) {
      throw errors.daemonRunning(this.opts.listen);
    }
    await this.sock.bind(this.opts.listen);
    const address = this.sock.lastEndpoint ?? this.opts.listen;
    if (this.opts.readyFile) {
      const tmp = `${this.opts.readyFile}.tmp`;
      writeFileSync(tmp, JSON.stringify({ address, pid: process.pid, version: PACKAGE_VERSION, protocol: PROTOCOL_VERSION }), { mode: 0o600 });
      renameSync(tmp, this.opts.readyFile);
    }
    this.log.info({ address, pid: process.pid, spawned: !!this.opts.spawned }, "daemon listening");
    this.watch.start();
    void this.receiveLoop();
    return address;
  }

  private async receiveLoop(): Promise<void> {
    try {
      for await (const [identity, header, payload] of this.sock) {
        this.handle(identity, header, payload);
        if (payload) this.released(payload.byteLength);
      }
    } catch (err) {
      if (!this.closing) this.log.error({ err }, "receive loop failed");
    }
  }

  /**
   * ZeroMQ hands each received message over as an external buffer that is freed only when V8
   * collects its small wrapper object, and the daemon allocates so little on its heap that no
   * collection comes for a long while: measured, a 1,000,000-row burst piled up about 40 MB of
   * written, acknowledged batches. A minor collection (a millisecond or less: the young
   * generation is small) after every RELEASE_EVERY_BYTES received frees them.
   */
  private released(bytes: number): void {
    this.receivedSinceGc += bytes;
    if (this.receivedSinceGc < RELEASE_EVERY_BYTES) return;
    this.receivedSinceGc = 0;
    minorGc();
  }

  private handle(identity: Buffer, header: Buffer | undefined, payload: Buffer | undefined): void {
    let msg: ClientMessage;
    try {
      if (!header) throw errors.badFrame("no header frame");
      msg = decodeClientMessage(header);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "malformed frame");
      this.reply(identity, { t: "error", id: requestIdOf(header), error: toWire(err) });
      return;
    }
    try {
      const who = identity.toString("hex");
      const session = this.sessions.get(who);
      if (msg.t !== "hello" && !session?.greeted) throw errors.badFrame(`"${msg.t}" before "hello"`);
      if (session) this.watch.seen(session.pid);
      switch (msg.t) {
        case "hello":
          return this.hello(identity, msg);
        case "open":
          return this.open(identity, msg.id, msg.settings);
        case "records": {
          const stream = this.owned(who, msg.runPath);
          if (!payload) throw errors.badFrame("records without payload frame");
          // A resend of what the WAL holds is acknowledged again without a look inside; anything
          // new is checked whole before a byte of it is written (batch-check.ts). Another's run
          // (owned) and numbers that do not continue the run (isResend) are errors that touch
          // nothing; the content of the owner's batch, once its numbers are right, is not: a
          // refused batch is set aside and acknowledged as refused, and the run goes on after it
          // (RunStream.refuse), or one bad value would cost every record logged after it.
          if (stream.isResend(msg.first, msg.last, payload.byteLength)) return this.reply(identity, { t: "ack", id: msg.id, runPath: msg.runPath, seq: stream.lastSeq });
          let hasExit: boolean;
          try {
            if (payload.byteLength > MAX_FRAME_BYTES) throw errors.badFrame(`a batch of ${payload.byteLength} bytes (at most ${MAX_FRAME_BYTES})`);
            ({ hasExit } = stream.check(payload, msg.first, msg.last));
          } catch (err) {
            const refused = stream.refuse(payload, msg.first, msg.last, err, msg.exit === true);
            return this.reply(identity, { t: "ack", id: msg.id, runPath: msg.runPath, seq: msg.last, refused });
          }
          const seq = stream.append(payload, msg.first, msg.last, hasExit);
          return this.reply(identity, { t: "ack", id: msg.id, runPath: msg.runPath, seq });
        }
        case "finish":
          return void this.finish(identity, msg.id, this.owned(who, msg.runPath), msg.timeoutMs);
        case "status": {
          const { pendingRecords, pendingBytes, pendingArtifacts, pendingMedia, error, refused } = this.owned(who, msg.runPath).pending(false);
          return this.reply(identity, { t: "progress", id: msg.id, runPath: msg.runPath, pendingRecords, pendingBytes, pendingArtifacts, pendingMedia, error, refused });
        }
        case "artifact":
          // The entry is read and held before the answer: from the `ok` on, the client may die.
          this.owned(who, msg.runPath).artifact(msg.entry);
          return this.reply(identity, { t: "ok", id: msg.id });
        case "artifact-wait":
          return void this.artifactWait(identity, msg.id, this.owned(who, msg.runPath), msg.entry, msg.timeoutMs);
        case "ping":
          return this.reply(identity, { t: "ok", id: msg.id });
        case "bye":
          this.sessions.delete(who);
          for (const stream of this.streams.values()) stream.owners.delete(who);
          return this.reply(identity, { t: "ok", id: msg.id });
        default:
          return assertNever(msg);
      }
    } catch (err) {
      if (!isTracksideError(err)) this.log.error({ err }, "request failed");
      this.reply(identity, { t: "error", id: msg.id, error: toWire(err) });
    }
  }

  private hello(identity: Buffer, msg: Extract<ClientMessage, { t: "hello" }>): void {
    if (msg.protocol !== PROTOCOL_VERSION) throw errors.protocolVersion(msg.protocol, PROTOCOL_VERSION);
    // The session (and the runs it opens) is known by the routing id from now on: one the ROUTER
    // gave out is a guessable counter, and a peer could reconnect under it after the client left.
    if (identity.byteLength < MIN_ROUTING_ID_BYTES) {
      throw errors.badFrame(`hello from a connection without a random routing id of ${MIN_ROUTING_ID_BYTES} bytes or more (trackside's client sets one)`);
    }
    if (this.opts.token) {
      this.tokenDigest ??= sha256(this.opts.token);
      if (!matches(msg.token, this.tokenDigest)) throw errors.badToken();
    }
    if (this.closing) throw errors.daemonUnreachable(this.opts.listen, "it is closing; start again to get a new one");
    this.sessions.set(identity.toString("hex"), { pid: msg.pid, greeted: true });
    this.watch.add(msg.pid);
    this.hadClient = true;
    this.log.info({ pid: msg.pid, version: msg.version }, "client connected");
    this.reply(identity, { t: "ok", id: msg.id, pid: process.pid, version: PACKAGE_VERSION });
  }

  /**
   * Opens a run for the connection, which owns it from then on. A run this daemon holds already
   * is taken part in only with its secret: the same client reconnecting (its run goes on), or a
   * later process of an ended run (a resume). A live run of another process is refused.
   *
   * Sequence numbers across processes of one run (issue #13, point 14): a resuming client numbers
   * from the server's last seq + 1, but the daemon may still hold an earlier process's records
   * that the server does not have yet (its upload is behind, or the server is down). Had the new
   * process reused those numbers, the server, which keys records by (run, seq), would have
   * overwritten one process's records with the other's. So a new stream goes on after the
   * highest seq and step the daemon knows of the run (`carried`), the earlier stream keeps
   * uploading until it is settled, and the `opened` reply tells the client where to start. A
   * run directory whose WAL a successor daemon finds is gone on from the same way (run-stream.ts).
   * Refusing the resume instead would have failed every quick restart after a crash while the
   * server is away, the case resume is for. An earlier process's WAL that no daemon holds (its
   * daemon died before the upload, and `trackside sync` of it comes later) is gone on from too,
   * when its directory lies beside the new one (sibling-runs.ts); one on another machine is not.
   */
  private open(identity: Buffer, id: number, settings: RunOpenSettings): void {
    const who = identity.toString("hex");
    const pid = this.sessions.get(who)?.pid ?? settings.pid;
    const path = `${settings.run.entity}/${settings.run.project}/${settings.run.id}`;
    let existing = this.streams.get(path);
    // A process that is gone but not yet seen gone by the watch (it polls): end its run first.
    if (existing && !existing.ended && !isProcessAlive(existing.settings.pid)) this.processGone(existing.settings.pid);
    existing = this.streams.get(path);
    if (existing && (!existing.ended || existing.settings.runDir === settings.runDir)) {
      // The same run in the same directory: its client again (a new connection after a lost
      // one), which goes on with its stream if it knows the secret.
      if (!matches(settings.secret, this.secrets.get(existing)!)) {
        if (existing.ended) throw errors.notYourRun(path);
        throw errors.invalidOption("id", settings.run.id, "a run id that no live process is using (or the run's own secret)");
      }
      existing.owners.set(who, pid);
      this.watch.add(settings.pid);
      return this.reply(identity, { t: "opened", id, runPath: path, nextSeq: existing.lastSeq + 1, nextStep: existing.lastStep + 1 });
    }
    const digest = sha256(settings.secret);
    claimRunDir(settings.runDir, digest, path);
    let carried: CarriedSequence | undefined;
    if (existing) {
      carried = { lastSeq: existing.lastSeq, lastStep: existing.lastStep };
      this.streams.delete(path);
      this.retired.add(existing); // it goes on uploading; closed once settled
    }
    // Earlier processes' directories of the run that no stream here holds (sibling-runs.ts).
    const siblings = lastOfSiblings(settings.runDir, settings.run);
    if (siblings) carried = { lastSeq: Math.max(carried?.lastSeq ?? 0, siblings.lastSeq), lastStep: Math.max(carried?.lastStep ?? -1, siblings.lastStep) };
    const stream = new RunStream(settings, this.log, carried);
    this.secrets.set(stream, digest);
    stream.owners.set(who, pid);
    this.streams.set(path, stream);
    this.watch.add(settings.pid);
    stream.start();
    this.reply(identity, { t: "opened", id, runPath: path, nextSeq: stream.lastSeq + 1, nextStep: stream.lastStep + 1 });
  }

  private async finish(identity: Buffer, id: number, stream: RunStream, timeoutMs: number): Promise<void> {
    try {
      const outcome = await stream.finish(timeoutMs);
      stream.finishAnswered = true;
      this.reply(identity, { t: "finished", id, runPath: stream.path, ...outcome });
    } catch (err) {
      this.reply(identity, { t: "error", id, error: toWire(err) });
    }
  }

  /** Answers `artifact-wait` when the entry is done, or with both fields null at the timeout. */
  private async artifactWait(identity: Buffer, id: number, stream: RunStream, entry: string, timeoutMs: number): Promise<void> {
    try {
      const result = await stream.artifacts.wait(entry, timeoutMs);
      this.reply(identity, { t: "artifact-done", id, runPath: stream.path, entry, version: result?.version ?? null, error: result?.error ?? null });
    } catch (err) {
      this.reply(identity, { t: "error", id, error: toWire(err) });
    }
  }

  /**
   * The run at `path`, if the connection `who` owns it: it opened it (or presented its secret),
   * with the pid its hello still gives. Anything else is TRK_ERR_NOT_YOUR_RUN, and nothing of
   * the run is touched.
   */
  private owned(who: string, path: string): RunStream {
    // An unknown run gets the same answer as another's: which runs are open is not for others to learn.
    const stream = this.streams.get(path);
    if (!stream) throw errors.notYourRun(path);
    const pid = stream.owners.get(who);
    if (pid === undefined || this.sessions.get(who)?.pid !== pid) throw errors.notYourRun(path);
    return stream;
  }

  private reply(identity: Buffer, msg: DaemonMessage): void {
    const frames = [identity, encode(msg)];
    this.sendChain = this.sendChain
      .then(() => this.sock.send(frames))
      .catch((err: unknown) => {
        if (!this.closing) this.log.warn({ err: (err as Error).message }, "reply not sent");
      });
  }

  private processGone(pid: number): void {
    for (const [key, session] of this.sessions) if (session.pid === pid) this.sessions.delete(key);
    for (const stream of this.streams.values()) {
      if (stream.settings.pid === pid) {
        const state = stream.processGone();
        if (state) this.log.warn({ runId: stream.runId, pid, state }, "run ended by process exit");
      }
    }
  }

  private idleCheck(): void {
    if (this.closing) return;
    this.closeSettledStreams();
    if (!this.opts.spawned) return;
    if (!this.hadClient) {
      if (Date.now() - this.startedAt > (this.opts.firstClientTimeoutMs ?? 30_000)) void this.close("no client came");
      return;
    }
    if (this.watch.size > 0) return;
    for (const s of this.streams.values()) if (!s.settled) return;
    for (const s of this.retired) if (!s.settled) return;
    void this.close("no clients left and all runs uploaded");
  }

  /**
   * A run that has ended and is uploaded, whose client has its finish() answer or is gone, needs
   * nothing more: its stream closes (WAL, uploader and log file descriptors) and is forgotten,
   * or a long-lived daemon would hold every run it ever served.
   */
  private closeSettledStreams(): void {
    for (const [path, stream] of this.streams) {
      if (!stream.settled || (!stream.finishAnswered && this.watch.has(stream.settings.pid))) continue;
      this.streams.delete(path);
      void stream.close();
    }
    for (const stream of this.retired) {
      if (!stream.settled) continue;
      this.retired.delete(stream);
      void stream.close();
    }
  }

  /** Removes the ready file and the socket file, if they are still this daemon's. */
  private unpublish(): void {
    const file = this.opts.readyFile;
    let ours = !file;
    if (file) {
      try {
        ours = (JSON.parse(readFileSync(file, "utf8")) as { pid: number }).pid === process.pid;
      } catch {
        ours = false; // gone already: a successor may own the socket path by now
      }
      if (ours) rmSync(file, { force: true });
    }
    if (ours && this.opts.listen.startsWith("ipc://")) rmSync(this.opts.listen.slice("ipc://".length), { force: true });
  }

  /** Graceful: syncs and closes every WAL, stops uploads (what is left resumes from disk). */
  close(reason = "close"): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      this.log.info({ reason }, "daemon closing");
      // From now on new clients must not find this daemon: they start a new one. Its clients
      // keep their connections (a removed socket file does not close them).
      this.unpublish();
      this.watch.stop();
      await this.sendChain;
      await Promise.all([...this.streams.values(), ...this.retired].map((s) => s.close()));
      this.sock.close();
      this.resolveClosed();
    })();
    return this.closing;
  }
}

/** Whether something accepts connections on the unix socket at `path`. */
function listening(path: string): Promise<boolean> {
  // No socket file, nobody there; and node:net stays unloaded (part of every cold start).
  if (!existsSync(path)) return Promise.resolve(false);
  const { connect } = createRequire(import.meta.url)("node:net") as typeof import("node:net");
  return new Promise((resolve) => {
    const probe = connect(path);
    const done = (up: boolean): void => {
      probe.destroy();
      resolve(up);
    };
    probe.once("connect", () => done(true));
    probe.once("error", () => done(false)); // ENOENT, ECONNREFUSED: nobody there
    probe.setTimeout(1000, () => done(true)); // accepted by the kernel but slow: someone is there
  });
}

/**
 * Makes a run directory this run's: it holds the digest of the run's secret (`secret.sha256`,
 * 0600), written by the daemon that first opened it. A successor daemon (the first one died)
 * lets only a client with the same secret go on in it; a directory of another run, or of no
 * run, stays untouched (open's settings check that its name ends with the run id).
 */
function claimRunDir(runDir: string, digest: Buffer, path: string): void {
  const file = join(runDir, SECRET_FILE);
  let stored: Buffer | null = null;
  try {
    stored = Buffer.from(readFileSync(file, "utf8").trim(), "hex");
  } catch {
    // none yet: a new run (or one opened by a daemon of an earlier version)
  }
  if (stored) {
    if (stored.length !== digest.length || !loadCrypto().timingSafeEqual(stored, digest)) throw errors.notYourRun(path);
    return;
  }
  try {
    mkdirSync(runDir, { recursive: true });
    writeFileSync(file, `${digest.toString("hex")}\n`, { mode: 0o600, flag: "wx" });
  } catch (err) {
    // Another open won the race to write it: then it must be ours too.
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return claimRunDir(runDir, digest, path);
    throw err;
  }
}

function toWire(err: unknown) {
  if (err instanceof TracksideError || isTracksideError(err)) return (err as TracksideError).toWire();
  return errors.internal((err as Error)?.message ?? String(err)).toWire();
}
