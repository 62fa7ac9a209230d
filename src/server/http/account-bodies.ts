/**
 * The JSON bodies of the account, key, team and project-settings routes, checked field by field:
 * a coded 400 naming the field and what it takes, before anything is changed.
 */
import { TEAM_ROLES, type Privacy, type TeamRole } from "../../protocol/api.js";
import { errors } from "../../protocol/errors.js";
import { validateNewEntityName } from "../../protocol/ids.js";
import type { NewUser } from "../store/store.js";

/** Longest key label: a sentence, not a document. */
export const MAX_KEY_LABEL = 200;
/** RFC 5321's limit on a path (an address with its angle brackets). */
export const MAX_EMAIL = 254;

/** The body as an object with only the allowed fields (TRK_ERR_BAD_REQUEST otherwise). */
function fieldsOf(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (typeof body !== "object" || Array.isArray(body)) throw errors.badRequest("the body is not a JSON object");
  const b = body as Record<string, unknown>;
  const extra = Object.keys(b).find((k) => !allowed.includes(k));
  if (extra !== undefined) throw errors.badRequest(`unknown field ${JSON.stringify(extra)} (allowed: ${allowed.join(", ") || "none"})`);
  return b;
}

function optionalBoolean(b: Record<string, unknown>, field: string): boolean | undefined {
  if (b[field] === undefined) return undefined;
  if (typeof b[field] !== "boolean") throw errors.badRequest(`${field} must be true or false`);
  return b[field] as boolean;
}

function email(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string" || !/^[^\s@\u0000-\u001f\u007f]+@[^\s@\u0000-\u001f\u007f]+$/.test(value)) {
    throw errors.badRequest(`email must be an address like alice@example.com`);
  }
  if (value.length > MAX_EMAIL) throw errors.tooLarge("The email address", `${value.length} characters`, MAX_EMAIL);
  return value;
}

/** `POST /users`: `{name, email?, admin?}`. */
export function parseNewUser(body: unknown): { name: string } & NewUser {
  const b = fieldsOf(body, ["name", "email", "admin"]);
  return { name: validateNewEntityName(b.name), email: email(b.email), admin: optionalBoolean(b, "admin") ?? false };
}

/** `PATCH /users/:name`: `{disabled?, admin?}`. */
export function parseUserChange(body: unknown): { disabled?: boolean; admin?: boolean } {
  const b = fieldsOf(body, ["disabled", "admin"]);
  return { disabled: optionalBoolean(b, "disabled"), admin: optionalBoolean(b, "admin") };
}

/** `POST /keys`: `{label?}`; a blank label is none. */
export function parseNewKey(body: unknown): { label: string | null } {
  const b = fieldsOf(body, ["label"]);
  if (b.label === undefined || b.label === null) return { label: null };
  if (typeof b.label !== "string" || /[\u0000-\u001f\u007f]/.test(b.label)) throw errors.badRequest("label must be a line of text");
  if (b.label.length > MAX_KEY_LABEL) throw errors.tooLarge("The key's label", `${b.label.length} characters`, MAX_KEY_LABEL);
  return { label: b.label.trim() || null };
}

/** `POST /teams`: `{name}`. */
export function parseNewTeam(body: unknown): { name: string } {
  return { name: validateNewEntityName(fieldsOf(body, ["name"]).name) };
}

/** `PUT /teams/:team/members/:user`: `{role}`, member when left out. */
export function parseMemberRole(body: unknown): TeamRole {
  const role = fieldsOf(body, ["role"]).role ?? "member";
  if (!TEAM_ROLES.includes(role as TeamRole)) throw errors.badRequest(`role must be one of ${TEAM_ROLES.join(", ")}`);
  return role as TeamRole;
}

/** `PATCH /projects/:entity/:project`: `{defaultPrivacy}`. */
export function parseProjectSettings(body: unknown): { defaultPrivacy?: Privacy } {
  const b = fieldsOf(body, ["defaultPrivacy"]);
  if (b.defaultPrivacy !== undefined && b.defaultPrivacy !== "private" && b.defaultPrivacy !== "public") {
    throw errors.badRequest(`defaultPrivacy must be "private" or "public"`);
  }
  return { defaultPrivacy: b.defaultPrivacy as Privacy | undefined };
}

/** A key id of a route (`/keys/:id`): a positive integer. */
export function parseKeyId(value: unknown): number {
  const id = Number(value);
  if (typeof value !== "string" || !/^[1-9][0-9]{0,15}$/.test(value) || !Number.isSafeInteger(id)) {
    throw errors.badRequest(`key id ${JSON.stringify(value)} is not a key's number (see \`trackside keys list\`)`);
  }
  return id;
}
