/**
 * trackside/langchain's handler against LangChain.js itself (@langchain/core's fake chat model,
 * offline): what it records of each call, and what it logs to the run. The run here is a fake that
 * keeps what it is given (a real trackside.Table); the real run is in test/e2e/langchain.test.ts.
 */
import { ChatPromptTemplate } from "@langchain/core/prompts";
import { StringOutputParser } from "@langchain/core/output_parsers";
import { RunnableLambda } from "@langchain/core/runnables";
import { tool } from "@langchain/core/tools";
import { FakeListChatModel, FakeLLM, FakeRetriever } from "@langchain/core/utils/testing";
import type { BaseMessage } from "@langchain/core/messages";
import type { ChatResult } from "@langchain/core/outputs";
import { describe, expect, it } from "vitest";
import type { Run, TableMedia } from "../../src/client/index.js";
import { CALL_COLUMNS, TracksideCallbackHandler } from "../../src/integrations/langchain/index.js";

interface Logged {
  data: Record<string, TableMedia>;
  opts: unknown;
}

function fakeRun() {
  const logged: Logged[] = [];
  const summary: Record<string, unknown> = {};
  const run = {
    isFinished: false,
    // what a run's log() keeps of a table: its rows at the call (media-log.ts)
    log: (data: Logged["data"], opts: unknown) => logged.push({ data: Object.fromEntries(Object.entries(data).map(([k, t]) => [k, { columns: t.columns, rows: [...t.rows], problems: t.problems }])) as Logged["data"], opts }),
    finish: async () => {
      run.isFinished = true;
    },
    summary: { update: (patch: Record<string, unknown>) => Object.assign(summary, patch) },
  };
  return { run: run as unknown as Run, logged, summary };
}

/** The rows of the last table logged, as objects by column. */
function lastTable(logged: Logged[], key = "langchain/calls"): Record<string, unknown>[] {
  const last = logged.at(-1)!.data[key];
  expect(last.problems).toEqual([]);
  expect(last.columns).toEqual([...CALL_COLUMNS]);
  return last.rows.map((r) => Object.fromEntries(last.columns.map((c, i) => [c, r[i]])));
}

/** FakeListChatModel that reports token usage as provider models do (usage_metadata on the message). */
class CountingChatModel extends FakeListChatModel {
  override async _generate(messages: BaseMessage[], options: this["ParsedCallOptions"]): Promise<ChatResult> {
    const result = await super._generate(messages, options);
    const message = result.generations[0].message as { usage_metadata?: unknown };
    message.usage_metadata = { input_tokens: 7, output_tokens: 3, total_tokens: 10 };
    return result;
  }
}

describe("TracksideCallbackHandler", () => {
  it("records each chat model call of a chain with its input, output, latency and parent, and logs the table after each invoke without moving the step", async () => {
    const { run, logged, summary } = fakeRun();
    const handler = new TracksideCallbackHandler({ run });
    const model = new FakeListChatModel({ responses: ["Paris", "Rome"], sleep: 30 });
    const chain = ChatPromptTemplate.fromMessages([["human", "Capital of {country}?"]]).pipe(model).pipe(new StringOutputParser());

    expect(await chain.invoke({ country: "France" }, { callbacks: [handler] })).toBe("Paris");
    expect(logged).toHaveLength(1);
    expect(logged[0].opts).toEqual({ commit: false });
    expect(await chain.invoke({ country: "Italy" }, { callbacks: [handler] })).toBe("Rome");
    expect(logged).toHaveLength(2);

    const rows = lastTable(logged);
    const llm = rows.filter((r) => r.kind === "chat_model");
    expect(llm.map((r) => [r.name, r.inputs, r.outputs, r.error])).toEqual([
      ["FakeListChatModel", "human: Capital of France?", "Paris", null],
      ["FakeListChatModel", "human: Capital of Italy?", "Rome", null],
    ]);
    for (const r of llm) {
      expect(r.latency_ms).toBeGreaterThanOrEqual(25); // the model's 30 ms sleep, measured
      expect(r.depth).toBe(1);
      const parent = rows.find((p) => p.run_id === r.parent_run_id)!;
      expect(parent).toMatchObject({ kind: "chain", name: "RunnableSequence", depth: 0, parent_run_id: null });
      expect(parent.latency_ms).toBeGreaterThanOrEqual(r.latency_ms as number);
    }
    // the sequence's own steps are rows too: prompt, model, parser, under one outermost chain each time
    expect(rows.filter((r) => r.depth === 0)).toHaveLength(2);
    expect(rows).toHaveLength(8);
    expect(summary).toMatchObject({ "langchain/llm_calls": 2, "langchain/chain_calls": 6, "langchain/errors": 0, "langchain/total_tokens": 0 });
  });

  it("adds up the token usage the model reports", async () => {
    const { run, logged, summary } = fakeRun();
    const model = new CountingChatModel({ responses: ["a", "b"] });
    const handler = new TracksideCallbackHandler({ run, key: "agent" });
    await model.invoke("one", { callbacks: [handler] });
    await model.invoke("two", { callbacks: [handler] });
    const rows = lastTable(logged, "agent/calls");
    expect(rows.map((r) => [r.inputs, r.prompt_tokens, r.completion_tokens, r.total_tokens, r.depth])).toEqual([
      ["human: one", 7, 3, 10, 0],
      ["human: two", 7, 3, 10, 0],
    ]);
    expect(summary).toMatchObject({ "agent/llm_calls": 2, "agent/prompt_tokens": 14, "agent/completion_tokens": 6, "agent/total_tokens": 20 });
  });

  it("records a failed call with its error, counts it, and still logs the table; the error reaches the caller", async () => {
    const { run, logged, summary } = fakeRun();
    const handler = new TracksideCallbackHandler({ run });
    const model = new FakeListChatModel({ responses: ["never"] });
    const chain = RunnableLambda.from((q: string) => q.toUpperCase()).pipe(model);
    await expect(chain.invoke("hi", { callbacks: [handler], thrownErrorString: "rate limited" } as never)).rejects.toThrow("rate limited");
    const rows = lastTable(logged);
    const llm = rows.find((r) => r.kind === "chat_model")!;
    expect(llm).toMatchObject({ inputs: "human: HI", outputs: null, error: "Error: rate limited", depth: 1 });
    expect(rows.find((r) => r.depth === 0)).toMatchObject({ kind: "chain", error: "Error: rate limited" });
    expect(summary).toMatchObject({ "langchain/llm_calls": 1, "langchain/errors": 2 });
  });

  it("records tool calls with their input and output", async () => {
    const { run, logged, summary } = fakeRun();
    const add = tool((args: { a: number; b: number }) => String(args.a + args.b), {
      name: "add",
      description: "adds two numbers",
      schema: { type: "object", properties: { a: { type: "number" }, b: { type: "number" } }, required: ["a", "b"] },
    });
    // (tool()'s typing of invoke() with a JSON schema is a union TypeScript cannot call)
    const invoke = add.invoke.bind(add) as (input: unknown, config: unknown) => Promise<unknown>;
    expect(await invoke({ a: 2, b: 3 }, { callbacks: [new TracksideCallbackHandler({ run })] })).toBe("5");
    expect(lastTable(logged)).toMatchObject([{ kind: "tool", name: "add", inputs: '{"a":2,"b":3}', outputs: "5", error: null, depth: 0 }]);
    expect(summary).toMatchObject({ "langchain/tool_calls": 1 });
  });

  it("records text LLMs, retrievers and streamed chat model calls (the whole streamed answer)", async () => {
    const { run, logged, summary } = fakeRun();
    const handler = new TracksideCallbackHandler({ run });
    expect(await new FakeLLM({ response: "an answer" }).invoke("a prompt", { callbacks: [handler] })).toBe("an answer");
    await new FakeRetriever().invoke("a query", { callbacks: [handler] });
    let streamed = "";
    for await (const chunk of await new FakeListChatModel({ responses: ["streamed"] }).stream("go", { callbacks: [handler] })) streamed += chunk.content;
    expect(streamed).toBe("streamed");
    expect(lastTable(logged).map((r) => [r.kind, r.name, r.inputs, r.outputs])).toEqual([
      ["llm", "FakeLLM", "a prompt", "an answer"],
      ["retriever", "FakeRetriever", "a query", "foo\n---\nbar"],
      ["chat_model", "FakeListChatModel", "human: go", "streamed"],
    ]);
    expect(summary).toMatchObject({ "langchain/llm_calls": 2, "langchain/retriever_calls": 1 });
  });

  it("keeps at most maxTextLength characters of a call's text, saying how long it was", async () => {
    const { run, logged } = fakeRun();
    const model = new FakeListChatModel({ responses: ["x".repeat(500)] });
    await model.invoke("y".repeat(300), { callbacks: [new TracksideCallbackHandler({ run, maxTextLength: 100 })] });
    const [row] = lastTable(logged);
    expect(row.inputs).toBe(`human: ${"y".repeat(93)}… (307 characters)`);
    expect(row.outputs).toBe(`${"x".repeat(100)}… (500 characters)`);
  });

  it("logs the table as it grows by a quarter, not at every call, and the rest when the run finishes", async () => {
    const { run, logged, summary } = fakeRun();
    const handler = new TracksideCallbackHandler({ run });
    const model = new FakeListChatModel({ responses: ["ok"] });
    for (let i = 0; i < 200; i++) await model.invoke(`q${i}`, { callbacks: [handler] });
    // 1, 2, 3, 4, 5, 7, 9, 12, ... 200 calls: 20-odd logs, not 200 (each one queues the whole table)
    expect(logged.length).toBeLessThan(30);
    expect(lastTable(logged).length).toBeLessThan(200);
    await run.finish();
    const rows = lastTable(logged);
    expect(rows).toHaveLength(200);
    expect(rows.at(-1)).toMatchObject({ inputs: "human: q199", outputs: "ok" });
    expect(summary).toMatchObject({ "langchain/llm_calls": 200 });
  });

  it("logs nothing into a finished run", async () => {
    const { run, logged } = fakeRun();
    (run as { isFinished: boolean }).isFinished = true;
    const handler = new TracksideCallbackHandler({ run });
    await new FakeListChatModel({ responses: ["late"] }).invoke("q", { callbacks: [handler] });
    expect(logged).toHaveLength(0);
    expect(handler.calls).toHaveLength(1); // still recorded: flush() into another run would log it
  });
});
