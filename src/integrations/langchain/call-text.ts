/**
 * What a LangChain.js call's inputs, outputs and token usage become in the calls table: text a
 * person can read in a table cell, bounded in length, and three token counts.
 */
import type { LLMResult } from "@langchain/core/outputs";

/** Token counts of one LLM call; null where the model did not report them. */
export interface TokenUsage {
  prompt: number | null;
  completion: number | null;
  total: number | null;
}

/** A message of any LangChain.js version: it has a type (or a getType()) and content. */
interface MessageLike {
  content: unknown;
  type?: unknown;
  getType?: () => string;
  _getType?: () => string;
}

function isMessage(v: unknown): v is MessageLike {
  if (v === null || typeof v !== "object" || !("content" in v)) return false;
  const m = v as MessageLike;
  return typeof m.type === "string" || typeof m.getType === "function" || typeof m._getType === "function";
}

function role(m: MessageLike): string {
  if (typeof m.getType === "function") return m.getType();
  if (typeof m._getType === "function") return m._getType();
  return String(m.type);
}

/** `human: What is 2 + 2?`: a message as a line of text (content blocks as JSON). */
function messageText(m: MessageLike): string {
  return `${role(m)}: ${typeof m.content === "string" ? m.content : JSON.stringify(m.content)}`;
}

/**
 * Any input or output as text: a string as it is, a message as `role: content`, a list of them
 * one a line, an object whose only value is a string (`{ question: "..." }`, `{ output: "..." }`)
 * as that string, anything else as JSON with messages spelled as above. Never throws: a value that
 * JSON cannot spell (a cycle, a BigInt) is shown with String().
 */
export function callText(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === undefined) return "";
  if (isMessage(value)) return messageText(value);
  if (Array.isArray(value) && value.length > 0 && value.every(isMessage)) return value.map(messageText).join("\n");
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const entries = Object.entries(value);
    if (entries.length === 1 && typeof entries[0][1] === "string") return entries[0][1];
  }
  try {
    return JSON.stringify(value, (_key, v: unknown) => (isMessage(v) ? messageText(v) : v)) ?? String(value);
  } catch {
    return String(value);
  }
}

/** `text` cut to `max` characters, saying how long it was; a table cell is for reading, not storage. */
export function bounded(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/** The text of every generation of an LLM call, several separated by a rule. */
export function generationsText(output: LLMResult): string {
  const texts = output.generations.flat().map((g) => {
    const message = (g as { message?: unknown }).message;
    return g.text || (message === undefined ? "" : callText(message));
  });
  return texts.join("\n---\n");
}

const count = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const sum = (a: number | null, b: number | null): number | null => (a === null ? b : b === null ? a : a + b);

/**
 * The call's token usage: summed from its messages' `usage_metadata` (chat models of
 * @langchain/core 0.2 and later), else the provider's `llmOutput.tokenUsage` (or the estimate
 * some models give instead); null counts where neither says.
 */
export function tokenUsage(output: LLMResult): TokenUsage {
  let usage: TokenUsage = { prompt: null, completion: null, total: null };
  for (const g of output.generations.flat()) {
    const meta = (g as { message?: { usage_metadata?: Record<string, unknown> } }).message?.usage_metadata;
    if (!meta) continue;
    usage = { prompt: sum(usage.prompt, count(meta.input_tokens)), completion: sum(usage.completion, count(meta.output_tokens)), total: sum(usage.total, count(meta.total_tokens)) };
  }
  if (usage.prompt !== null || usage.completion !== null || usage.total !== null) return usage;
  const llm = output.llmOutput as { tokenUsage?: Record<string, unknown>; estimatedTokenUsage?: Record<string, unknown> } | undefined;
  const reported = llm?.tokenUsage ?? llm?.estimatedTokenUsage;
  if (!reported) return usage;
  return { prompt: count(reported.promptTokens), completion: count(reported.completionTokens), total: count(reported.totalTokens) };
}
