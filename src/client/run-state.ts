/**
 * `run.config` and `run.summary`: plain-feeling objects (`run.config.lr`) whose changes are sent
 * to the daemon as whole-object records, so that applying one twice changes nothing.
 */
import { errors, keyCost, MAX_OBJECT_BYTES, objectCost, type JsonObject, type TracksideError } from "../protocol/index.js";
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

/** What one key of an object costs (objectCost): the key and its value. */
function entryCost(key: string, value: unknown): number {
  return keyCost(key) + objectCost(value, MAX_OBJECT_BYTES);
}

function tooLarge(what: string, key: string, cost: number, others = ""): TracksideError {
  const name = JSON.stringify(key.length > 64 ? key.slice(0, 64) + "…" : key);
  return errors.tooLarge(`The ${what} with ${name}${others}`, `over ${MAX_OBJECT_BYTES} bytes as JSON (about ${cost})`, `${MAX_OBJECT_BYTES} bytes (${others ? "those keys were" : "the key was"} left out)`);
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
 * `catchUp(into)` puts the latest logged values that the summary has not taken yet into `into`
 * just before the summary is read, set or sent (once per batch at most, as the batch is sealed),
 * which keeps the order of log() and set() calls.
 *
 * The summary travels whole with every batch that carries steps, and the daemon refuses a batch
 * whose summary is over MAX_OBJECT_BYTES, with every step in it: so what it costs is kept up to
 * date, key by key (by the difference when a key's value changes), and a value that would take it
 * over the limit is left out, set or logged alike, with a TRK_ERR_TOO_LARGE problem; the rest of
 * the summary stays, and the key's earlier value with it. Logged keys left out are reported once
 * (`onLeftOut`, which must not throw: it runs while a batch is sealed), not at every batch.
 */
export function createSummary(
  onChange: () => void,
  onProblem: (e: TracksideError) => void,
  catchUp: (into: JsonObject) => void,
  initial: JsonObject = {},
  onLeftOut: (e: TracksideError) => void = onProblem,
): { summary: Summary; values: () => JsonObject } {
  const values: JsonObject = {};
  const costs = new Map<string, number>();
  /** What `values` costs as objectCost charges it: 2 for the braces, and each key's entryCost. */
  let total = objectCost({});
  /** Logged keys left out and already reported. */
  const leftOut = new Set<string>();
  /** Takes `value` for `key` when the summary stays within the limit; else returns what it would cost. */
  const take = (key: string, value: unknown): number | null => {
    const cost = entryCost(key, value);
    const after = total + cost - (costs.get(key) ?? 0);
    if (after > MAX_OBJECT_BYTES) return after;
    total = after;
    costs.set(key, cost);
    values[key] = value;
    return null;
  };
  for (const key in initial) take(key, initial[key]); // a resumed run's: the server took it, so it fits
  const current = (): JsonObject => {
    const logged: JsonObject = {};
    catchUp(logged);
    let first: string | null = null;
    let count = 0;
    let over = 0;
    for (const key in logged) {
      const refused = take(key, logged[key]);
      if (refused === null) {
        if (leftOut.size > 0) leftOut.delete(key);
      } else if (!leftOut.has(key)) {
        leftOut.add(key);
        first ??= key;
        over = Math.max(over, refused);
        count++;
      }
    }
    if (first !== null) onLeftOut(tooLarge("summary", first, over, count > 1 ? ` and ${count - 1} other logged keys` : ""));
    return values;
  };
  const set = (key: string, value: unknown): void => {
    current();
    const found: TracksideError[] = [];
    const clean = cleanConfigValue(value, key, found);
    if (clean !== undefined) {
      const refused = take(key, clean);
      if (refused === null) onChange();
      else found.push(tooLarge("summary", key, refused));
    }
    found.forEach(onProblem);
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
