/**
 * `trackside/langchain`: record a LangChain.js program's chain, LLM, chat model, tool and
 * retriever calls in a trackside run. @langchain/core is an optional peer dependency: only this
 * entry point loads it.
 * @example
 * import { TracksideCallbackHandler } from "trackside/langchain";
 * await chain.invoke(input, { callbacks: [new TracksideCallbackHandler()] });
 */
export { TracksideCallbackHandler, CALL_COLUMNS, type CallKind, type TracksideCallbackHandlerOptions } from "./callback-handler.js";
