/**
 * `run.config` and `run.summary`: plain-feeling objects (`run.config.lr`) whose changes are sent
 * to the daemon as whole-object records, so that applying one twice changes nothing.
 */
import type { JsonObject, TracksideError } from "../protocol/index.js";
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

export function createConfig(initial: Record<string, unknown>, onChange: () => void, onProblem: (e: TracksideError) => void): { config: Config; values: () => JsonObject } {
  const problems: TracksideError[] = [];
  let values = (cleanConfigValue(initial, "", problems) ?? {}) as JsonObject;
  const update = (patch: Record<string, unknown>): void => {
    const found: TracksideError[] = [];
    const clean = cleanConfigValue(patch, "", found) as JsonObject | undefined;
    found.forEach(onProblem);
    if (clean && Object.keys(clean).length > 0) {
      values = { ...values, ...clean };
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
    const clean = cleanConfigValue(value, key, found);
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
