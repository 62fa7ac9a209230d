/**
 * Parsing of query strings and the PATCH body, with messages that name the bad parameter.
 * Hand-written rather than JSON-schema: the messages are the product here, and there are few.
 */
import { errors } from "../protocol/errors.js";
import { FINAL_STATES, type RunState } from "../protocol/records.js";
import type { HistoryQuery, ListRunsQuery, RunPatch, RunSortField } from "./store.js";

const RUN_STATES: readonly RunState[] = ["running", ...FINAL_STATES];
const SORT_FIELDS: readonly RunSortField[] = ["createdAt", "name", "state", "heartbeatAt"];
/** A page of 1,000 runs is as much as a table shows; more is paging. */
const MAX_RUNS_LIMIT = 1000;
/** 100,000 steps is a long training run at full resolution, a few MB of JSON. */
const MAX_HISTORY_LIMIT = 100_000;
const MAX_NAME = 256;
const MAX_NOTES = 64 * 1024;
const MAX_TAGS = 100;
const MAX_TAG = 128;

type Query = Record<string, unknown>;

function intParam(q: Query, name: string, fallback: number, min: number, max: number): number {
  const raw = q[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw errors.badRequest(`${name}=${String(raw)} is not an integer from ${min} to ${max}`);
  return n;
}

function optionalNumber(q: Query, name: string): number | undefined {
  const raw = q[name];
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw errors.badRequest(`${name}=${String(raw)} is not a number`);
  return n;
}

/**
 * `?limit=&offset=&state=&sort=` of a runs list. sort is a field, "-" first for descending;
 * the default is newest first.
 *
 * @example
 * parseListRunsQuery({ sort: "name", state: "failed" })
 */
export function parseListRunsQuery(q: Query, publicOnly: boolean): ListRunsQuery {
  const state = q.state === undefined || q.state === "" ? undefined : String(q.state);
  if (state !== undefined && !RUN_STATES.includes(state as RunState)) {
    throw errors.badRequest(`state=${state} is not one of ${RUN_STATES.join(", ")}`);
  }
  const sortRaw = q.sort === undefined || q.sort === "" ? "-createdAt" : String(q.sort);
  const descending = sortRaw.startsWith("-");
  const sort = (descending ? sortRaw.slice(1) : sortRaw) as RunSortField;
  if (!SORT_FIELDS.includes(sort)) throw errors.badRequest(`sort=${sortRaw} is not one of ${SORT_FIELDS.join(", ")} (prefix "-" for descending)`);
  return {
    limit: intParam(q, "limit", 50, 1, MAX_RUNS_LIMIT),
    offset: intParam(q, "offset", 0, 0, Number.MAX_SAFE_INTEGER),
    state: state as RunState | undefined,
    sort,
    descending,
    publicOnly,
  };
}

/** `?keys=a,b&minStep=&maxStep=&limit=` of a history request; keys null means all keys. */
export function parseHistoryQuery(q: Query): HistoryQuery & { keys: string[] | null } {
  const keys =
    q.keys === undefined
      ? null
      : String(q.keys)
          .split(",")
          .map((k) => k.trim())
          .filter((k) => k.length > 0);
  return {
    keys,
    minStep: optionalNumber(q, "minStep"),
    maxStep: optionalNumber(q, "maxStep"),
    limit: intParam(q, "limit", 10_000, 1, MAX_HISTORY_LIMIT),
  };
}

/** The body of PATCH /runs/:entity/:project/:id, checked field by field; unknown fields are refused. */
export function parseRunPatch(body: unknown): RunPatch {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw errors.badRequest("the body is not a JSON object");
  const b = body as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => !["name", "notes", "tags", "privacy"].includes(k));
  if (unknown.length > 0) throw errors.badRequest(`unknown field ${JSON.stringify(unknown[0])} (allowed: name, notes, tags, privacy)`);
  const patch: RunPatch = {};
  if (b.name !== undefined) {
    if (typeof b.name !== "string" || b.name.trim() === "" || b.name.length > MAX_NAME) {
      throw errors.badRequest(`name must be a non-blank string of at most ${MAX_NAME} characters`);
    }
    patch.name = b.name;
  }
  if (b.notes !== undefined) {
    if (b.notes !== null && (typeof b.notes !== "string" || b.notes.length > MAX_NOTES)) {
      throw errors.badRequest(`notes must be null or a string of at most ${MAX_NOTES} characters`);
    }
    patch.notes = b.notes;
  }
  if (b.tags !== undefined) {
    const ok = Array.isArray(b.tags) && b.tags.length <= MAX_TAGS && b.tags.every((t) => typeof t === "string" && t.trim() !== "" && t.length <= MAX_TAG);
    if (!ok) throw errors.badRequest(`tags must be an array of at most ${MAX_TAGS} non-blank strings of at most ${MAX_TAG} characters`);
    patch.tags = [...new Set(b.tags as string[])];
  }
  if (b.privacy !== undefined) {
    if (b.privacy !== "private" && b.privacy !== "public") throw errors.badRequest(`privacy must be "private" or "public"`);
    patch.privacy = b.privacy;
  }
  return patch;
}
