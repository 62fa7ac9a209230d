/**
 * The LangChain.js callback handler: every chain, LLM, chat model, tool and retriever call of a
 * LangChain.js program becomes a row of a table in the trackside run (inputs, outputs, latency,
 * token usage, error, and its place in the call tree), beside running counts in the run's summary.
 *
 * The client is reached through the package's own name ("trackside"), never by a relative import:
 * the user's `trackside.run` and `trackside.Table` live in the client bundle (dist/client), and a
 * second copy of the client here would be a second, empty, active-run slot and a Table class the
 * user's log() does not know.
 */
import { BaseCallbackHandler } from "@langchain/core/callbacks/base";
import type { Serialized } from "@langchain/core/load/serializable";
import type { LLMResult } from "@langchain/core/outputs";
import * as trackside from "trackside";
import type { Run, TableMedia } from "../../client/index.js";
import { bounded, callText, generationsText, tokenUsage, type TokenUsage } from "./call-text.js";

/** The kinds of call a row records. */
export type CallKind = "chain" | "llm" | "chat_model" | "tool" | "retriever";

/** The calls table's columns, in order (docs/integrations.md, "LangChain.js"). */
export const CALL_COLUMNS = [
  "kind",
  "name",
  "inputs",
  "outputs",
  "error",
  "latency_ms",
  "prompt_tokens",
  "completion_tokens",
  "total_tokens",
  "depth",
  "run_id",
  "parent_run_id",
  "started_at",
] as const;

type Cell = string | number | null;

/** Options of {@link TracksideCallbackHandler}. */
export interface TracksideCallbackHandlerOptions {
  /** The run to record into; by default the active run (`trackside.run`) when each call ends. */
  run?: Run;
  /** The prefix of what is logged: the table `<key>/calls`, the counts `<key>/llm_calls`, ...; default `langchain`. */
  key?: string;
  /** Longest text kept of a call's inputs, outputs or error, in characters; default 2,000. */
  maxTextLength?: number;
}

interface OpenCall {
  kind: CallKind;
  name: string;
  inputs: string;
  depth: number;
  parentRunId: string | null;
  startedAt: number;
}

/** The running totals, logged to the run's summary as `<key>/<name>`. */
interface Counts {
  chain_calls: number;
  llm_calls: number;
  tool_calls: number;
  retriever_calls: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

const DEFAULT_MAX_TEXT = 2_000;
/**
 * An outermost call's end logs the table only once it has grown by a quarter since the last log
 * (or this long has passed): each log queues the whole table, so logging at every call is
 * quadratic. Measured before this rule: 1,000 model calls in a loop queued 260 MB of tables,
 * one batch over the daemon's 64 MiB, and the run's records were all refused (dead-letter.wal). With it, the tables logged add
 * up to at most five times the last one.
 */
const GROWTH_TO_LOG = 1.25;
const MAX_LOG_INTERVAL_MS = 10_000;
/** Runs whose finish() logs their handlers' last rows first (see flushBeforeFinish). */
const finishing = new WeakMap<Run, Set<TracksideCallbackHandler>>();
const NO_TOKENS: TokenUsage = { prompt: null, completion: null, total: null };

/** `ChatOpenAI` from a serialized constructor's id (`["langchain", "chat_models", "openai", "ChatOpenAI"]`). */
function serializedName(s: Serialized | undefined, fallback: string): string {
  const id = s?.id;
  return Array.isArray(id) && id.length > 0 ? String(id[id.length - 1]) : fallback;
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/**
 * Records a LangChain.js program's calls in a trackside run. Pass it as a callback to any model,
 * chain, tool or agent (or to `invoke()`'s config): each finished call adds a row to the table
 * `langchain/calls`, and when an outermost call ends the table and the counts
 * (`langchain/llm_calls`, `langchain/total_tokens`, `langchain/errors`, ...) are logged to the
 * run. The table is logged into the run's current step without committing it (`commit: false`), so
 * the handler never moves the user's step counter; a later log of the same step replaces it.
 * @example
 * import * as trackside from "trackside";
 * import { TracksideCallbackHandler } from "trackside/langchain";
 * const run = await trackside.init({ project: "rag" });
 * const answer = await chain.invoke({ question }, { callbacks: [new TracksideCallbackHandler()] });
 * await run.finish();
 */
export class TracksideCallbackHandler extends BaseCallbackHandler {
  name = "trackside";
  private readonly options: TracksideCallbackHandlerOptions;
  private readonly key: string;
  private readonly maxText: number;
  private readonly open = new Map<string, OpenCall>();
  private readonly table: TableMedia;
  private loggedRows = 0;
  private loggedAt = 0;
  private readonly counts: Counts = { chain_calls: 0, llm_calls: 0, tool_calls: 0, retriever_calls: 0, errors: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };

  constructor(options: TracksideCallbackHandlerOptions = {}) {
    // Awaited, not backgrounded: a row is in the table by the time the call returns, so that a
    // run.finish() right after a chain's invoke() sends it. The handler's work is synchronous.
    super({ _awaitHandler: true });
    this.options = options;
    this.key = options.key ?? "langchain";
    this.maxText = options.maxTextLength ?? DEFAULT_MAX_TEXT;
    this.table = trackside.Table({ columns: [...CALL_COLUMNS] });
  }

  /** One handler, one table: LangChain.js copies handlers into child managers, and a copy must share the rows. */
  override copy(): this {
    return this;
  }

  /** The rows recorded so far (the calls table's body, columns {@link CALL_COLUMNS}). */
  get calls(): readonly (readonly Cell[])[] {
    return this.table.rows as Cell[][];
  }

  // The arguments in the order LangChain.js passes them (callbacks/manager.js, as its BaseTracer
  // reads them): its handler interface declares runType fourth and parentRunId eighth instead.
  override handleChainStart(chain: Serialized, inputs: unknown, runId: string, parentRunId?: string, _tags?: string[], _metadata?: Record<string, unknown>, runType?: string, runName?: string): void {
    this.begin(runId, parentRunId, "chain", runName ?? serializedName(chain, runType ?? "chain"), callText(inputs));
  }

  override handleChainEnd(outputs: unknown, runId: string): void {
    this.end(runId, callText(outputs), null, NO_TOKENS);
  }

  override handleChainError(err: unknown, runId: string): void {
    this.end(runId, "", errorText(err), NO_TOKENS);
  }

  override handleLLMStart(llm: Serialized, prompts: string[], runId: string, parentRunId?: string, _extra?: Record<string, unknown>, _tags?: string[], _metadata?: Record<string, unknown>, runName?: string): void {
    this.begin(runId, parentRunId, "llm", runName ?? serializedName(llm, "llm"), prompts.join("\n---\n"));
  }

  override handleChatModelStart(llm: Serialized, messages: unknown[][], runId: string, parentRunId?: string, _extra?: Record<string, unknown>, _tags?: string[], _metadata?: Record<string, unknown>, runName?: string): void {
    this.begin(runId, parentRunId, "chat_model", runName ?? serializedName(llm, "chat_model"), messages.map((m) => callText(m)).join("\n---\n"));
  }

  override handleLLMEnd(output: LLMResult, runId: string): void {
    this.end(runId, generationsText(output), null, tokenUsage(output));
  }

  override handleLLMError(err: unknown, runId: string): void {
    this.end(runId, "", errorText(err), NO_TOKENS);
  }

  override handleToolStart(tool: Serialized, input: string, runId: string, parentRunId?: string, _tags?: string[], _metadata?: Record<string, unknown>, runName?: string): void {
    this.begin(runId, parentRunId, "tool", runName ?? serializedName(tool, "tool"), callText(input));
  }

  override handleToolEnd(output: unknown, runId: string): void {
    this.end(runId, callText(output), null, NO_TOKENS);
  }

  override handleToolError(err: unknown, runId: string): void {
    this.end(runId, "", errorText(err), NO_TOKENS);
  }

  override handleRetrieverStart(retriever: Serialized, query: string, runId: string, parentRunId?: string, _tags?: string[], _metadata?: Record<string, unknown>, name?: string): void {
    this.begin(runId, parentRunId, "retriever", name ?? serializedName(retriever, "retriever"), query);
  }

  override handleRetrieverEnd(documents: { pageContent: string }[], runId: string): void {
    this.end(runId, documents.map((d) => d.pageContent).join("\n---\n"), null, NO_TOKENS);
  }

  override handleRetrieverError(err: unknown, runId: string): void {
    this.end(runId, "", errorText(err), NO_TOKENS);
  }

  /**
   * Logs the table and the counts now. The handler does so itself whenever an outermost call
   * ends; call this after calls that it saw only from inside (a handler given to an inner model).
   */
  flush(): void {
    const run = this.options.run ?? trackside.run;
    if (!run || run.isFinished) return;
    run.summary.update(Object.fromEntries(Object.entries(this.counts).map(([name, n]) => [`${this.key}/${name}`, n])));
    run.log({ [`${this.key}/calls`]: this.table }, { commit: false });
    this.loggedRows = this.table.rows.length;
    this.loggedAt = Date.now();
  }

  /** At an outermost call's end: logs if the table grew enough (GROWTH_TO_LOG), and makes sure the run's finish() logs the rest. */
  private settle(): void {
    const run = this.options.run ?? trackside.run;
    if (!run || run.isFinished) return;
    flushBeforeFinish(run, this);
    const rows = this.table.rows.length;
    if (rows >= this.loggedRows * GROWTH_TO_LOG || Date.now() - this.loggedAt >= MAX_LOG_INTERVAL_MS) this.flush();
  }

  /** True when rows were added since the table was last logged. */
  get unlogged(): boolean {
    return this.table.rows.length > this.loggedRows;
  }

  private begin(runId: string, parentRunId: string | undefined, kind: CallKind, name: string, inputs: string): void {
    const parent = parentRunId === undefined ? undefined : this.open.get(parentRunId);
    this.open.set(runId, { kind, name, inputs: bounded(inputs, this.maxText), depth: parent ? parent.depth + 1 : 0, parentRunId: parentRunId ?? null, startedAt: Date.now() });
  }

  private end(runId: string, outputs: string, error: string | null, tokens: TokenUsage): void {
    const call = this.open.get(runId);
    if (!call) return; // started before this handler was attached
    this.open.delete(runId);
    const now = Date.now();
    this.table.add([
      call.kind,
      call.name,
      call.inputs,
      error === null ? bounded(outputs, this.maxText) : null,
      error === null ? null : bounded(error, this.maxText),
      now - call.startedAt,
      tokens.prompt,
      tokens.completion,
      tokens.total,
      call.depth,
      runId,
      call.parentRunId,
      new Date(call.startedAt).toISOString(),
    ]);
    const c = this.counts;
    if (call.kind === "llm" || call.kind === "chat_model") c.llm_calls++;
    else c[`${call.kind}_calls`]++;
    if (error !== null) c.errors++;
    c.prompt_tokens += tokens.prompt ?? 0;
    c.completion_tokens += tokens.completion ?? 0;
    c.total_tokens += tokens.total ?? 0;
    // An outermost call (no parent this handler saw) ended: the table is complete until the next one.
    if (call.depth === 0) this.settle();
  }
}

/**
 * Makes `run.finish()` log the last rows of its handlers first: the growth rule leaves up to a
 * fifth of the table unlogged, and finish() is where every way of ending a run passes (the
 * client's beforeExit hook calls it too). The client has no finish hook to register with, so the
 * run's finish is wrapped, once per run. A process that dies instead (process.exit, an uncaught
 * exception) keeps the table as last logged.
 */
function flushBeforeFinish(run: Run, handler: TracksideCallbackHandler): void {
  let handlers = finishing.get(run);
  if (!handlers) {
    const set = new Set<TracksideCallbackHandler>();
    handlers = set;
    finishing.set(run, set);
    const finish = run.finish.bind(run);
    run.finish = (exitCode?: number) => {
      if (!run.isFinished) for (const h of set) if (h.unlogged) h.flush();
      return finish(exitCode);
    };
  }
  handlers.add(handler);
}
