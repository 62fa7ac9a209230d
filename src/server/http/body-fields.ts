/** The first check of every JSON body the routes take: an object, with only the fields they know. */
import { errors } from "../../protocol/errors.js";

/**
 * `value` as an object with only the allowed fields, or TRK_ERR_BAD_REQUEST naming the first
 * other one: a misspelt field is an error, never silently ignored. `what` names the value.
 */
export function fieldsOf(value: unknown, allowed: readonly string[], what = "the body"): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw errors.badRequest(`${what} is not a JSON object`);
  const o = value as Record<string, unknown>;
  const extra = Object.keys(o).find((k) => !allowed.includes(k));
  if (extra !== undefined) throw errors.badRequest(`unknown field ${JSON.stringify(extra)} in ${what} (allowed: ${allowed.join(", ")})`);
  return o;
}
