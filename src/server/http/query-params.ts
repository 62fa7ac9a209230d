/**
 * Parsing of query strings and the PATCH body, with messages that name the bad parameter.
 * Hand-written rather than JSON-schema: the messages are the product here, and there are few.
 */
import { errors } from "../../protocol/errors.js";
import { MAX_NAME, MAX_NOTES, MAX_TAG, MAX_TAGS } from "../../protocol/limits.js";
import { FINAL_STATES, type RunState } from "../../protocol/records.js";
import type { ConsoleQuery, HistoryQuery, ListRunsQuery, RunPatch, RunSortField, SystemMetricsQuery } from "../store/store.js";

const RUN_STATES: readonly RunState[] = ["running", ...FINAL_STATES];
const SORT_FIELDS: readonly RunSortField[] = ["createdAt", "name", "state", "heartbeatAt", "duration", "author", "jobType", "group", "notes", "id", "tags"];
/** A search or a sort key longer than this is no one's typing. */
const MAX_RUNS_QUERY = 256;
const MAX_SORT_KEY = 512;
/** A page of 1,000 runs is as much as a table shows; more is paging. */
const MAX_RUNS_LIMIT = 1000;
/** 100,000 steps is a long training run at full resolution, a few MB of JSON. */
const MAX_HISTORY_LIMIT = 100_000;
/** A day of samples every 2 s is 43,200: a long run fits in one page. */
const MAX_SYSTEM_LIMIT = 100_000;
/** 10,000 lines is a few MB of JSON at most; a follower pages through the rest. */
const MAX_CONSOLE_LIMIT = 10_000;
const MAX_CONSOLE_QUERY = 1024;

type Query = Record<string, unknown>;

function intParam(q: Query, name: string, fallback: number, min: number, max: number): number {
  const raw = q[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw errors.badRequest(`${name}=${String(raw)} is not an integer from ${min} to ${max}`);
  return n;
}

/**
 * An inclusive bound of a range over whole numbers (steps, ms): a lower bound rounds up, an
 * upper one down, and both are clamped to safe integers, so `minStep=0.5` means 1 and `1e30`
 * means "no bound" on every backend (a database's integer parameter would refuse either).
 */
function optionalBound(q: Query, name: string, side: "min" | "max"): number | undefined {
  const raw = q[name];
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (Number.isNaN(n)) throw errors.badRequest(`${name}=${String(raw)} is not a number`);
  const whole = side === "min" ? Math.ceil(n) : Math.floor(n);
  return Math.min(Number.MAX_SAFE_INTEGER, Math.max(Number.MIN_SAFE_INTEGER, whole));
}

/** A text parameter, refused when it holds U+0000, which no database's text can hold. */
function textParam(q: Query, name: string): string | undefined {
  const raw = q[name];
  if (raw === undefined || raw === "") return undefined;
  const text = String(raw);
  if (text.includes("\u0000")) throw errors.badRequest(`${name} holds the character U+0000, which no stored text holds`);
  return text;
}

/**
 * `?limit=&offset=&state=&tag=&q=&sort=&order=` of a runs list. sort is a field or a config or
 * summary value (`config.optimizer.lr`, `summary.loss`: dots go into nested objects); "-" first
 * means descending, as does `order=desc` (`order=asc` ascending). The default is newest first.
 *
 * @example
 * parseListRunsQuery({ sort: "summary.acc", order: "desc", state: "finished", tag: "baseline" }, false)
 */
export function parseListRunsQuery(q: Query, publicOnly: boolean): ListRunsQuery {
  const state = q.state === undefined || q.state === "" ? undefined : String(q.state);
  if (state !== undefined && !RUN_STATES.includes(state as RunState)) {
    throw errors.badRequest(`state=${state} is not one of ${RUN_STATES.join(", ")}`);
  }
  const sortRaw = q.sort === undefined || q.sort === "" ? "-createdAt" : String(q.sort);
  let descending = sortRaw.startsWith("-");
  const field = descending ? sortRaw.slice(1) : sortRaw;
  if (q.order !== undefined && q.order !== "") {
    if (q.order !== "asc" && q.order !== "desc") throw errors.badRequest(`order=${String(q.order)} is not asc or desc`);
    descending = q.order === "desc";
  }
  let sort: RunSortField = "createdAt";
  let sortJson: ListRunsQuery["sortJson"];
  const json = /^(config|summary)\.(.+)$/.exec(field);
  if (json) {
    const path = json[2].split(".");
    if (path.some((seg) => seg === "" || /["\\\u0000-\u001f]/.test(seg)) || json[2].length > MAX_SORT_KEY) {
      throw errors.badRequest(`sort=${sortRaw}: a config or summary key must be non-empty, without quotes, backslashes or blank segments`);
    }
    sortJson = { column: json[1] as "config" | "summary", path };
  } else if (SORT_FIELDS.includes(field as RunSortField)) {
    sort = field as RunSortField;
  } else {
    throw errors.badRequest(`sort=${sortRaw} is not one of ${SORT_FIELDS.join(", ")}, config.<key> or summary.<key> (prefix "-" for descending)`);
  }
  const text = textParam(q, "q");
  if (text !== undefined && text.length > MAX_RUNS_QUERY) throw errors.badRequest(`q is longer than ${MAX_RUNS_QUERY} characters`);
  const tag = textParam(q, "tag");
  return {
    limit: intParam(q, "limit", 50, 1, MAX_RUNS_LIMIT),
    offset: intParam(q, "offset", 0, 0, Number.MAX_SAFE_INTEGER),
    state: state as RunState | undefined,
    tag,
    text,
    sort,
    sortJson,
    descending,
    publicOnly,
  };
}

/** `?keys=a,b`: the chosen keys, or null for all of them. */
function keysParam(q: Query): string[] | null {
  if (q.keys === undefined) return null;
  return String(q.keys)
    .split(",")
    .map((k) => k.trim())
    .filter((k) => k.length > 0);
}

/**
 * `?keys=a,b&minStep=&maxStep=&limit=&media=` of a history request; keys null means all keys;
 * `media=false` leaves media values out (a reader after scalars only).
 */
export function parseHistoryQuery(q: Query): HistoryQuery & { keys: string[] | null; media: boolean } {
  const media = q.media ?? "true";
  if (media !== "true" && media !== "false") throw errors.badRequest(`media=${String(media)} is not true or false`);
  return {
    keys: keysParam(q),
    media: media === "true",
    minStep: optionalBound(q, "minStep", "min"),
    maxStep: optionalBound(q, "maxStep", "max"),
    limit: intParam(q, "limit", 10_000, 1, MAX_HISTORY_LIMIT),
  };
}

/**
 * `?keys=a,b&from=&to=&limit=` of a system metrics request (times in ms since epoch, inclusive);
 * keys null means all keys.
 *
 * @example
 * parseSystemMetricsQuery({ keys: "system/cpu", from: "1714564800000" })
 */
export function parseSystemMetricsQuery(q: Query): SystemMetricsQuery & { keys: string[] | null } {
  return {
    keys: keysParam(q),
    from: optionalBound(q, "from", "min"),
    to: optionalBound(q, "to", "max"),
    limit: intParam(q, "limit", 10_000, 1, MAX_SYSTEM_LIMIT),
  };
}

/**
 * `?after=&limit=&q=` of a console request: lines after seq `after` (default -1, from the
 * first), at most `limit`, holding the text `q` when given. Or `?tail=n`: the last n lines.
 */
/** Most steps of one answer of a media key (media.ts MediaValuesView: a table may be large). */
const MAX_MEDIA_LIMIT = 10_000;

/**
 * `?key=K[&fromStep=A&toStep=B&limit=N]` of a media key's values; key is required.
 *
 * @example
 * parseMediaValuesQuery({ key: "samples/input", fromStep: "10" }) // { key, fromStep: 10, toStep: null, limit: 1000 }
 */
export function parseMediaValuesQuery(q: Query): { key: string; fromStep: number | null; toStep: number | null; limit: number } {
  const key = textParam(q, "key");
  if (key === undefined) throw errors.badRequest("key is missing (the media key, as GET .../media lists them)");
  return {
    key,
    fromStep: optionalBound(q, "fromStep", "min") ?? null,
    toStep: optionalBound(q, "toStep", "max") ?? null,
    limit: intParam(q, "limit", 1000, 1, MAX_MEDIA_LIMIT),
  };
}

export function parseConsoleQuery(q: Query): ConsoleQuery & { tail?: number } {
  const contains = textParam(q, "q");
  if (contains !== undefined && contains.length > MAX_CONSOLE_QUERY) throw errors.badRequest(`q is longer than ${MAX_CONSOLE_QUERY} characters`);
  const tail = q.tail === undefined || q.tail === "" ? undefined : intParam(q, "tail", 0, 1, MAX_CONSOLE_LIMIT);
  if (tail !== undefined && (contains !== undefined || (q.after !== undefined && q.after !== ""))) {
    throw errors.badRequest("tail takes neither after nor q (it is the last lines of all)");
  }
  return {
    after: intParam(q, "after", -1, -1, Number.MAX_SAFE_INTEGER),
    limit: intParam(q, "limit", 1000, 1, MAX_CONSOLE_LIMIT),
    contains,
    tail,
  };
}

/**
 * The body of PATCH /runs/:entity/:project/:id, checked field by field; unknown fields are refused.
 * The limits are ingest's (protocol/limits.ts): an edit takes what an upload may set, and the
 * reverse. Over one is TRK_ERR_TOO_LARGE; a wrong type TRK_ERR_BAD_REQUEST.
 */
export function parseRunPatch(body: unknown): RunPatch {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw errors.badRequest("the body is not a JSON object");
  const b = body as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => !["name", "notes", "tags", "privacy"].includes(k));
  if (unknown.length > 0) throw errors.badRequest(`unknown field ${JSON.stringify(unknown[0])} (allowed: name, notes, tags, privacy)`);
  const patch: RunPatch = {};
  if (b.name !== undefined) {
    if (typeof b.name !== "string" || b.name.trim() === "") throw errors.badRequest(`name must be a non-blank string of at most ${MAX_NAME} characters`);
    if (b.name.length > MAX_NAME) throw errors.tooLarge("The run's name", `${b.name.length} characters`, MAX_NAME);
    patch.name = b.name;
  }
  if (b.notes !== undefined) {
    if (b.notes !== null && typeof b.notes !== "string") throw errors.badRequest(`notes must be null or a string of at most ${MAX_NOTES} characters`);
    if (b.notes !== null && b.notes.length > MAX_NOTES) throw errors.tooLarge("The run's notes", `${b.notes.length} characters`, MAX_NOTES);
    patch.notes = b.notes;
  }
  if (b.tags !== undefined) {
    const ok = Array.isArray(b.tags) && b.tags.every((t) => typeof t === "string" && t.trim() !== "");
    if (!ok) throw errors.badRequest(`tags must be an array of at most ${MAX_TAGS} non-blank strings of at most ${MAX_TAG} characters`);
    const tags = b.tags as string[];
    if (tags.length > MAX_TAGS) throw errors.tooLarge("The run's tag list", `${tags.length} tags`, MAX_TAGS);
    const long = tags.find((t) => t.length > MAX_TAG);
    if (long !== undefined) throw errors.tooLarge(`The tag ${JSON.stringify(long.slice(0, 64) + "…")}`, `${long.length} characters`, MAX_TAG);
    patch.tags = [...new Set(tags)];
  }
  if (b.privacy !== undefined) {
    if (b.privacy !== "private" && b.privacy !== "public") throw errors.badRequest(`privacy must be "private" or "public"`);
    patch.privacy = b.privacy;
  }
  return patch;
}
