/**
 * Liveness: the sweeper marks runs crashed when their heartbeats stop, and anything the run
 * sends later undoes that guess. The clock and the timer are injected: no test sleeps.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { registerServerCommand } from "../../src/cli/server-command.js";
import type { RunView } from "../../src/protocol/api.js";
import type { RunRecord } from "../../src/protocol/records.js";
import { staleRunError, startServer, Sweeper, type Schedule } from "../../src/server/index.js";
import { get, makeEnv, postRecords, rows, runInfo, T0, type TestEnv } from "./helpers.js";

const TIMEOUT_S = 120;
const TIMEOUT_MS = TIMEOUT_S * 1000;
const SWEPT_ERROR = staleRunError(TIMEOUT_S);

let env: TestEnv;
let sweeper: Sweeper;
/** The sweeper's timer, fired by hand. */
let ticks: (() => void)[];
let logged: { obj: unknown; msg: string }[];

const manualSchedule: Schedule = (tick) => {
  ticks.push(tick);
  return () => void ticks.splice(ticks.indexOf(tick), 1);
};

beforeEach(async () => {
  env = await makeEnv();
  ticks = [];
  logged = [];
  const logger = {
    info: (obj: unknown, msg: string) => void logged.push({ obj, msg }),
    warn: (obj: unknown, msg: string) => void logged.push({ obj, msg }),
  } as unknown as Parameters<typeof Sweeper.start>[0]["logger"];
  sweeper = Sweeper.start({ store: env.store, heartbeatTimeoutS: TIMEOUT_S, now: () => env.clock.now, schedule: manualSchedule, logger });
});
afterEach(async () => {
  await sweeper.stop();
  await env.close();
});

const path = (id: string) => `alice/mnist/${id}`;
const view = async (id: string) => (await get(env, `/api/v1/runs/${path(id)}`)).json() as RunView;
const at = (ms: number) => void (env.clock.now = T0 + ms);

/** Opens a run at the current clock (its first heartbeat). */
async function open(id: string): Promise<void> {
  const res = await postRecords(env, path(id), [{ k: "run", seq: 0, run: runInfo(id) }]);
  expect(res.statusCode).toBe(200);
}

async function heartbeat(id: string): Promise<number> {
  const res = await env.app.inject({
    method: "POST",
    url: `/api/v1/runs/${path(id)}/heartbeat`,
    headers: { authorization: `Bearer ${env.aliceKey}` },
  });
  return res.statusCode;
}

async function post(id: string, records: RunRecord[]): Promise<void> {
  const res = await postRecords(env, path(id), records);
  expect(res.statusCode, res.body).toBe(200);
}

/** The run as the store holds it: with the sweeper's marker, which the API does not show. */
const storedRun = async (id: string) => (await env.store.getRun("alice", "mnist", id))!;

/** Opens a run at T0 and lets the sweeper mark it crashed at T0 + timeout + 1 s. */
async function sweptRun(id: string): Promise<void> {
  at(0);
  await open(id);
  at(TIMEOUT_MS + 1000);
  expect(await sweeper.sweep()).toBe(1);
  expect(await view(id)).toMatchObject({ state: "crashed", error: SWEPT_ERROR });
}

describe("the sweeper", () => {
  it("marks a running run crashed once its heartbeat is older than the timeout, and not before", async () => {
    at(0);
    await open("stale001");
    at(30_000);
    expect(await heartbeat("stale001")).toBe(200);

    at(30_000 + TIMEOUT_MS); // exactly the timeout: not yet
    expect(await sweeper.sweep()).toBe(0);
    expect((await view("stale001")).state).toBe("running");

    at(30_000 + TIMEOUT_MS + 1);
    expect(await sweeper.sweep()).toBe(1);
    const run = await view("stale001");
    expect(run).toMatchObject({ state: "crashed", error: SWEPT_ERROR, exitCode: null, signal: null, finishedAt: null });
    // No end time: the duration runs to the last heartbeat.
    expect(run.durationSeconds).toBe(30);
    expect(SWEPT_ERROR).toBe("no heartbeat for 120 s (the daemon or its machine went away)");
    expect((await storedRun("stale001")).sweeperCrashedAt).toBe(T0 + 30_000 + TIMEOUT_MS + 1);
    // Marked once: the next sweep finds nothing.
    expect(await sweeper.sweep()).toBe(0);
  });

  it("sweeps on its timer, logs the count of a sweep that changed something, and leaves ended runs alone", async () => {
    at(0);
    await open("stale001");
    await open("stale002");
    await open("done0001");
    await post("done0001", [{ k: "exit", seq: 1, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: T0 + 5000 }]);
    expect(ticks).toHaveLength(1);

    at(TIMEOUT_MS + 1);
    ticks[0]();
    await sweeper.stop(); // waits for the sweep the tick started
    expect(ticks).toHaveLength(0);
    expect((await view("stale001")).state).toBe("crashed");
    expect((await view("stale002")).state).toBe("crashed");
    expect(await view("done0001")).toMatchObject({ state: "finished", error: null });
    expect(logged).toEqual([{ obj: expect.objectContaining({ crashed: 2, heartbeatTimeoutS: TIMEOUT_S }), msg: "marked runs crashed: no heartbeat" }]);
    // Stopped: a sweep does nothing.
    expect(await sweeper.sweep()).toBe(0);
  });

  it("holds back for one timeout after it starts: no heartbeat could reach a server that was down", async () => {
    at(0);
    await open("stale001");
    at(10 * TIMEOUT_MS); // the server was down all this time and comes back now
    const fresh = Sweeper.start({ store: env.store, heartbeatTimeoutS: TIMEOUT_S, now: () => env.clock.now, schedule: manualSchedule });
    try {
      at(11 * TIMEOUT_MS - 1);
      expect(await fresh.sweep()).toBe(0);
      at(11 * TIMEOUT_MS);
      expect(await fresh.sweep()).toBe(1);
    } finally {
      await fresh.stop();
    }
  });

  it("refuses a timeout or interval that is not a positive number", () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) {
      expect(() => Sweeper.start({ store: env.store, heartbeatTimeoutS: bad, schedule: manualSchedule })).toThrow(
        expect.objectContaining({ code: "TRK_ERR_INVALID_OPTION" }),
      );
      expect(() => Sweeper.start({ store: env.store, sweepIntervalMs: bad, schedule: manualSchedule })).toThrow(
        expect.objectContaining({ code: "TRK_ERR_INVALID_OPTION" }),
      );
    }
  });
});

describe("heartbeats", () => {
  it("keep a run running while they arrive within the timeout", async () => {
    at(0);
    await open("alive001");
    for (let t = 100_000; t <= 1_000_000; t += 100_000) {
      at(t);
      expect(await heartbeat("alive001")).toBe(200);
      at(t + 99_000);
      expect(await sweeper.sweep()).toBe(0);
    }
    expect(await view("alive001")).toMatchObject({ state: "running", error: null });
  });

  it("answer 404 for an unknown run", async () => {
    expect(await heartbeat("nosuch01")).toBe(404);
  });
});

describe("repair of a crash the sweeper guessed", () => {
  it("a heartbeat after the sweep revives the run: running, error and marker cleared", async () => {
    await sweptRun("blip0001");
    at(TIMEOUT_MS + 5000);
    expect(await heartbeat("blip0001")).toBe(200);
    const run = await view("blip0001");
    expect(run).toMatchObject({ state: "running", error: null, exitCode: null, finishedAt: null });
    expect(run.heartbeatAt).toBe(new Date(T0 + TIMEOUT_MS + 5000).toISOString());
    expect((await storedRun("blip0001")).sweeperCrashedAt).toBeNull();
    // And it can be swept again, after another full timeout.
    at(2 * TIMEOUT_MS + 5000);
    expect(await sweeper.sweep()).toBe(0);
    at(2 * TIMEOUT_MS + 5001);
    expect(await sweeper.sweep()).toBe(1);
  });

  it("records arriving after the sweep revive the run and are stored", async () => {
    await sweptRun("blip0002");
    await post("blip0002", [{ k: "history", seq: 1, rows: rows(0, 3) }, { k: "summary", seq: 4, summary: { loss: 0.3 } }]);
    expect(await view("blip0002")).toMatchObject({ state: "running", error: null, historySteps: 3, summary: { loss: 0.3 } });
    expect((await storedRun("blip0002")).sweeperCrashedAt).toBeNull();
  });

  it("a resent (old) record revives it too: any upload proves the daemon alive", async () => {
    await sweptRun("blip0003");
    await post("blip0003", [{ k: "run", seq: 0, run: runInfo("blip0003") }]);
    expect(await view("blip0003")).toMatchObject({ state: "running", error: null });
  });

  it("an exit record after the sweep gives the exit's state, exit code and error (the sweep bumped no seq)", async () => {
    await sweptRun("blip0004");
    await post("blip0004", [
      { k: "history", seq: 1, rows: rows(0, 2) },
      { k: "exit", seq: 3, state: "failed", exitCode: 1, signal: null, error: "Error: boom", finishedAt: T0 + 60_000 },
    ]);
    expect(await view("blip0004")).toMatchObject({
      state: "failed",
      exitCode: 1,
      error: "Error: boom",
      finishedAt: new Date(T0 + 60_000).toISOString(),
      historySteps: 2,
    });
    expect((await storedRun("blip0004")).sweeperCrashedAt).toBeNull();
    // A late heartbeat does not reopen an ended run.
    expect(await heartbeat("blip0004")).toBe(200);
    expect((await view("blip0004")).state).toBe("failed");
  });

  it("an exit record alone after the sweep: finished", async () => {
    await sweptRun("blip0005");
    await post("blip0005", [{ k: "exit", seq: 1, state: "finished", exitCode: 0, signal: null, error: null, finishedAt: T0 + 90_000 }]);
    expect(await view("blip0005")).toMatchObject({ state: "finished", exitCode: 0, error: null });
  });

  it("a crash the daemon reported (exit record, state crashed) is not revived by a heartbeat or records", async () => {
    at(0);
    await open("dead0001");
    const error = "the process (pid 4242) vanished without a word (SIGKILL or out of memory?)";
    await post("dead0001", [{ k: "exit", seq: 1, state: "crashed", exitCode: null, signal: null, error, finishedAt: T0 + 20_000 }]);
    at(30_000);
    expect(await heartbeat("dead0001")).toBe(200);
    await post("dead0001", [{ k: "history", seq: 2, rows: rows(0, 1) }]);
    expect(await view("dead0001")).toMatchObject({ state: "crashed", error, finishedAt: new Date(T0 + 20_000).toISOString() });
    at(10 * TIMEOUT_MS);
    expect(await sweeper.sweep()).toBe(0);
    expect(await storedRun("dead0001")).toMatchObject({ state: "crashed", error, sweeperCrashedAt: null });
  });

  it("a swept run that then reports its own crash keeps that crash against later heartbeats", async () => {
    await sweptRun("dead0002");
    await post("dead0002", [{ k: "exit", seq: 1, state: "crashed", exitCode: null, signal: "SIGKILL", error: "killed", finishedAt: T0 + 1000 }]);
    expect(await heartbeat("dead0002")).toBe(200);
    expect(await view("dead0002")).toMatchObject({ state: "crashed", signal: "SIGKILL", error: "killed" });
  });

  it("a resume (newer run record) of a swept run reopens it and clears the marker", async () => {
    await sweptRun("resume01");
    await post("resume01", [{ k: "run", seq: 5, run: runInfo("resume01", { name: "resumed" }) }]);
    expect(await view("resume01")).toMatchObject({ state: "running", error: null, name: "resumed" });
    expect((await storedRun("resume01")).sweeperCrashedAt).toBeNull();
    // The resume's seq now guards the state: the exit record it replaced (seq 1 or older) cannot end the run again.
    await post("resume01", [{ k: "exit", seq: 1, state: "failed", exitCode: 1, signal: null, error: "old", finishedAt: T0 }]);
    expect((await view("resume01")).state).toBe("running");
  });
});

describe("startServer and trackside server", () => {
  let home: string;
  let savedHome: string | undefined;
  beforeEach(() => {
    savedHome = process.env.HOME;
    home = mkdtempSync(join(tmpdir(), "trackside-liveness-"));
    process.env.HOME = home;
  });
  afterEach(() => {
    process.env.HOME = savedHome;
    rmSync(home, { recursive: true, force: true });
  });

  it("runs a sweeper with the given timeout and interval, and close() stops it", async () => {
    const server = await startServer({ port: 0, dataDir: join(home, "server"), heartbeatTimeoutS: 30, sweepIntervalMs: 1000 });
    expect(server.sweeper).toMatchObject({ heartbeatTimeoutS: 30, sweepIntervalMs: 1000 });
    await server.close();
    expect(await server.sweeper.sweep()).toBe(0);
  });

  it("defaults to a 120 s timeout swept every 10 s", async () => {
    const server = await startServer({ port: 0, dataDir: join(home, "server") });
    expect(server.sweeper).toMatchObject({ heartbeatTimeoutS: 120, sweepIntervalMs: 10_000 });
    await server.close();
  });

  it("refuses a bad heartbeatTimeoutS", async () => {
    await expect(startServer({ port: 0, dataDir: join(home, "server"), heartbeatTimeoutS: 0 })).rejects.toMatchObject({
      code: "TRK_ERR_INVALID_OPTION",
    });
  });

  it("trackside server --heartbeat-timeout refuses what is not a positive number of seconds", async () => {
    for (const bad of ["0", "-5", "soon", "", "86401"]) {
      const program = new Command().exitOverride();
      registerServerCommand(program, { out: () => undefined });
      await expect(
        program.parseAsync(["node", "trackside", "server", "--port", "0", "--data-dir", join(home, "server"), "--heartbeat-timeout", bad]),
      ).rejects.toMatchObject({ code: "TRK_ERR_INVALID_OPTION", message: expect.stringContaining("--heartbeat-timeout") });
    }
  });
});
