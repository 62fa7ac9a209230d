/**
 * `run.config` and `run.summary`: plain-feeling objects (`run.config.lr`) whose changes are sent
 * to the daemon as whole-object records, so that applying one twice changes nothing.
 */
import { errors, MAX_OBJECT_BYTES, objectCost, type JsonObject, type TracksideError } from "../protocol/index.js";
import { cleanConfigValue } from "./values.js";

export interface ConfigMethods {
  /** Merges `values` into the config (nested objects are kept as they are, not flattened). */
  update(values: Record<string, unknown>): void;
  get(key: string): unknown;
  toJSON(): JsonObject;
}

/** The run's config: read keys as properties (`run.config.lr`), change them with `update()`. */
export type Config = ConfigMethods & { readonly [key: string]: unknown };

export interface SummaryMethods {
  /** Sets a key's summary value; a later log() of the key replaces it again. */
  set(key: string, value: unknown): void;
  update(values: Record<string, unknown>): void;
  get(key: string): unknown;
  toJSON(): JsonObject;
}

/** The run's summary: the last logged value of each key unless `set()` overrides it. */
export type Summary = SummaryMethods & { readonly [key: string]: unknown };

/** Wraps a methods object in a Proxy so that unknown property reads return stored values. */
function asRecordView<M extends object>(methods: M, values: () => JsonObject, write: (key: string, value: unknown) => void): M & { readonly [key: string]: unknown } {
  return new Proxy(methods, {
    get: (target, prop, receiver) => (typeof prop === "string" && !(prop in target) ? values()[prop] : Reflect.get(target, prop, receiver)),
    set: (_target, prop, value) => {
      if (typeof prop !== "string") return false;
      write(prop, value);
      return true;
    },
    has: (target, prop) => (typeof prop === "string" && prop in values()) || prop in target,
    ownKeys: () => Reflect.ownKeys(values()),
    getOwnPropertyDescriptor: (_target, prop) =>
      typeof prop === "string" && prop in values() ? { value: values()[prop], enumerable: true, configurable: true, writable: true } : undefined,
  }) as M & { readonly [key: string]: unknown };
}

/** A value cheaper than this cannot take an object over MAX_OBJECT_BYTES alone: the summary checks the whole only past it. */
const SMALL_COST = 64 * 1024;

/** What one key of an object costs (objectCost): the key and its value. */
function entryCost(key: string, value: unknown): number {
  return key.length + 4 + objectCost(value, MAX_OBJECT_BYTES);
}

function tooLarge(what: string, key: string, cost: number): TracksideError {
  return errors.tooLarge(`The ${what} with ${JSON.stringify(key.length > 64 ? key.slice(0, 64) + "…" : key)}`, `over ${MAX_OBJECT_BYTES} bytes as JSON (about ${cost})`, `${MAX_OBJECT_BYTES} bytes (the key was left out)`);
}

/**
 * The keys of `patch` that `values` can take within MAX_OBJECT_BYTES (the daemon and the server
 * refuse a larger config or summary, and with it the batch it travels in: every record beside
 * it); a key that would take the whole over the limit is left out, with a TRK_ERR_TOO_LARGE
 * problem. `total`: what `values` costs now.
 */
function within(what: string, values: JsonObject, total: number, patch: JsonObject, problems: TracksideError[]): { fits: JsonObject; total: number } {
  const fits: JsonObject = {};
  for (const key in patch) {
    const delta = entryCost(key, patch[key]) - (key in values ? entryCost(key, values[key]) : 0);
    if (total + delta > MAX_OBJECT_BYTES) {
      problems.push(tooLarge(what, key, total + delta));
      continue;
    }
    total += delta;
    fits[key] = patch[key];
  }
  return { fits, total };
}

export function createConfig(initial: Record<string, unknown>, onChange: () => void, onProblem: (e: TracksideError) => void): { config: Config; values: () => JsonObject } {
  const problems: TracksideError[] = [];
  // (The initial config's other problems are init()'s: settings.ts checks it.)
  const oversize: TracksideError[] = [];
  let values = within("config", {}, objectCost({}), (cleanConfigValue(initial, "", problems) ?? {}) as JsonObject, oversize).fits;
  oversize.forEach(onProblem);
  const update = (patch: Record<string, unknown>): void => {
    const found: TracksideError[] = [];
    const clean = cleanConfigValue(patch, "", found) as JsonObject | undefined;
    // Config changes are rare: the whole is measured each time.
    const taken = clean ? within("config", values, objectCost(values), clean, found) : null;
    found.forEach(onProblem);
    if (taken && Object.keys(taken.fits).length > 0) {
      values = { ...values, ...taken.fits };
      onChange();
    }
  };
  const config = asRecordView<ConfigMethods>(
    { update, get: (key) => values[key], toJSON: () => ({ ...values }) },
    () => values,
    (key, value) => update({ [key]: value }),
  );
  return { config, values: () => values };
}

/**
 * The summary. Logged steps are not copied in one by one (that would cost every log() call):
 * `catchUp(values)` brings in the latest logged values just before the summary is read, set or
 * sent, which keeps the order of log() and set() calls.
 */
export function createSummary(onChange: () => void, onProblem: (e: TracksideError) => void, catchUp: (values: JsonObject) => void, initial: JsonObject = {}): { summary: Summary; values: () => JsonObject } {
  const values: JsonObject = { ...initial };
  const current = (): JsonObject => {
    catchUp(values);
    return values;
  };
  const set = (key: string, value: unknown): void => {
    catchUp(values);
    const found: TracksideError[] = [];
    let clean = cleanConfigValue(value, key, found);
    // A small value cannot take the summary over the limit alone: only a large one costs a look
    // at the whole. (Logged values come in through catchUp, not here: scalars, each within the
    // string limit; a summary that they alone take past the limit is refused by the daemon.)
    if (clean !== undefined && objectCost(clean, SMALL_COST) > SMALL_COST && within("summary", values, objectCost(values), { [key]: clean }, found).fits[key] === undefined) clean = undefined;
    found.forEach(onProblem);
    if (clean !== undefined) {
      values[key] = clean;
      onChange();
    }
  };
  const summary = asRecordView<SummaryMethods>(
    {
      set,
      update: (patch) => Object.entries(patch).forEach(([k, v]) => set(k, v)),
      get: (key) => current()[key],
      toJSON: () => ({ ...current() }),
    },
    current,
    set,
  );
  return { summary, values: current };
}
