/**
 * A LangChain.js chain recorded in a trackside run: a prompt, a chat model and an output parser,
 * asked three questions, with trackside's callback handler. Each call becomes a row of the run's
 * table `langchain/calls` (inputs, outputs, latency, token usage, errors, nesting) and the run's
 * summary counts them (`langchain/llm_calls`, `langchain/total_tokens`, ...).
 *
 * The model is LangChain's fake chat model, so the example runs offline; any LangChain.js chat
 * model (`new ChatOpenAI()`, `new ChatAnthropic()`, ...) goes in its place unchanged.
 * Run it after `npm run build`: `node dist/examples/langchain.js`.
 */
import { StringOutputParser } from "@langchain/core/output_parsers";
import { ChatPromptTemplate } from "@langchain/core/prompts";
import { FakeListChatModel } from "@langchain/core/utils/testing";
import * as trackside from "trackside";
import { TracksideCallbackHandler } from "trackside/langchain";

const run = await trackside.init({
  project: process.env.TRACKSIDE_PROJECT ?? "demo",
  jobType: "eval",
  tags: ["example", "langchain"],
  notes: "A LangChain.js chain from examples/langchain.ts",
});

const model = new FakeListChatModel({ responses: ["Paris", "Rome", "Madrid"], sleep: 20 });
const prompt = ChatPromptTemplate.fromMessages([
  ["system", "Answer with one word."],
  ["human", "What is the capital of {country}?"],
]);
const chain = prompt.pipe(model).pipe(new StringOutputParser());

// One handler for the whole run: its table grows by the rows of each invoke().
const callbacks = [new TracksideCallbackHandler()];
for (const country of ["France", "Italy", "Spain"]) {
  const answer = await chain.invoke({ country }, { callbacks });
  console.log(`${country}: ${answer}`);
}
await run.finish();
