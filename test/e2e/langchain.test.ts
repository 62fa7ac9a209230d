/**
 * trackside/langchain in a real run: examples/langchain.ts (a LangChain.js chain on the fake chat
 * model, offline, with the handler) run as a user runs it, against a real daemon and server. The
 * run ends finished, its summary counts the calls, and its table `langchain/calls`, read back
 * through the server's media routes, has one row per LLM call with its latency and output.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MediaKeyView, MediaValuesView } from "../../src/protocol/index.js";
import { ROOT, serverWithEnv, showRun, start, type TestEnv, type TestServer } from "../helpers/processes.js";
import { localUser } from "../helpers/run-dir.js";

let t: TestEnv;
let server: TestServer;
beforeAll(async () => ({ t, server } = await serverWithEnv()));
afterAll(async () => server.stop());

describe("trackside/langchain", () => {
  it("examples/langchain.ts leaves a finished run whose calls table has one row per LLM call with its latency and output", async () => {
    const id = "lcexampl";
    const example = start([join(ROOT, "dist/examples/langchain.js")], { ...t.env, TRACKSIDE_RUN_ID: id, TRACKSIDE_PROJECT: "chains" });
    const done = await example.exited;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/France: Paris\nItaly: Rome\nSpain: Madrid\n/);
    expect(done.stderr).not.toMatch(/Error in handler|TRK_ERR/); // LangChain.js reports a handler's throw as a warning

    const { user: entity, apiKey } = localUser(t.home, server.url);
    const path = `${entity}/chains/${id}`;
    const run = await showRun(path, t.env);
    // 3 invokes of prompt | model | parser: per invoke the sequence and its three steps
    expect(run).toMatchObject({ state: "finished", summary: { "langchain/llm_calls": 3, "langchain/chain_calls": 9, "langchain/errors": 0 } });
    expect(run.mediaKeys as MediaKeyView[]).toEqual([expect.objectContaining({ key: "langchain/calls", type: "table" })]);

    const res = await fetch(`${server.url}/api/v1/runs/${path}/media/values?key=${encodeURIComponent("langchain/calls")}`, { headers: { authorization: `Bearer ${apiKey}` } });
    expect(res.status).toBe(200);
    const { entries } = (await res.json()) as MediaValuesView;
    const table = entries.at(-1)!.value;
    if (table.type !== "table") throw new Error(`langchain/calls is a ${table.type}`);
    const rows = table.rows.map((r) => Object.fromEntries(table.columns.map((c, i) => [c, r[i]])));
    const llm = rows.filter((r) => r.kind === "chat_model");
    expect(llm.map((r) => [r.name, r.inputs, r.outputs, r.error, r.depth])).toEqual(
      ["France", "Italy", "Spain"].map((country, i) => ["FakeListChatModel", `system: Answer with one word.\nhuman: What is the capital of ${country}?`, ["Paris", "Rome", "Madrid"][i], null, 1]),
    );
    for (const r of llm) expect(r.latency_ms).toBeGreaterThanOrEqual(15); // the fake model's 20 ms per answer
    expect(rows.filter((r) => r.kind === "chain" && r.depth === 0).map((r) => r.name)).toEqual(["RunnableSequence", "RunnableSequence", "RunnableSequence"]);
  });
});
