import { errors } from "./errors.js";
import { MAX_PROJECT, MAX_RUN_ID } from "./limits.js";
import { randomWords } from "./random.js";

const ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
/** 36^8 ≈ 2.8e12 ids: about a 1 % chance of one collision after 240,000 runs in a project (W&B's figure). */
export const RUN_ID_LENGTH = 8;
const RUN_ID_FORBIDDEN = /[/\\#?%:;,']/;
const PROJECT_FORBIDDEN = /[/\\#?%:]/;
const ENTITY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A fresh run id: 8 characters of [a-z0-9] from the system's random source (random.ts). */
export function generateRunId(): string {
  let id = "";
  // (2^32 is not a multiple of 36: 4 of its 4.3 billion values favour a character, a bias of ~1e-9.)
  for (const w of randomWords(RUN_ID_LENGTH)) id += ID_ALPHABET[w % ID_ALPHABET.length];
  return id;
}

let lastStamp = 0;

/**
 * A new artifact queue entry's name (artifacts.ts, QUEUE_ENTRY_PATTERN: 15 digits of ms since the
 * epoch, a dash, a run id's 8 characters), by the client or the daemon. The stamps of one process
 * only go up, so the daemon works one run's entries in the order they were made.
 */
export function newEntryName(now = Date.now()): string {
  lastStamp = Math.max(now, lastStamp + 1);
  return `${String(lastStamp).padStart(15, "0")}-${generateRunId()}`;
}

function checkName(value: unknown, max: number, forbidden: RegExp, fail: (why: string) => Error): string {
  if (typeof value !== "string") throw fail(`it is a ${value === null ? "null" : typeof value}, not a string`);
  if (value.length === 0) throw fail("it is empty");
  if (value.length > max) throw fail(`it is ${value.length} characters long (at most ${max})`);
  if (value.trim() !== value) throw fail("it starts or ends with whitespace");
  const bad = forbidden.exec(value);
  if (bad) throw fail(`it contains ${JSON.stringify(bad[0])}`);
  if (/[\u0000-\u001f\u007f]/.test(value)) throw fail("it contains a control character");
  // A URL path segment "." or ".." is resolved away by browsers and HTTP clients: unreachable.
  if (value === "." || value === "..") throw fail(`"${value}" names a directory in a URL path`);
  return value;
}

/** Returns the id unchanged, or throws TRK_ERR_INVALID_ID naming what is wrong. */
export function validateRunId(id: unknown): string {
  return checkName(id, MAX_RUN_ID, RUN_ID_FORBIDDEN, (why) => errors.invalidId(id, why));
}

/** Returns the project unchanged, or throws TRK_ERR_INVALID_PROJECT. */
export function validateProject(project: unknown): string {
  return checkName(project, MAX_PROJECT, PROJECT_FORBIDDEN, (why) => errors.invalidProject(project, why));
}

/** Returns the entity unchanged, or throws TRK_ERR_INVALID_ENTITY. */
export function validateEntity(entity: unknown): string {
  if (typeof entity !== "string") throw errors.invalidEntity(entity, `it is a ${entity === null ? "null" : typeof entity}, not a string`);
  if (!ENTITY_PATTERN.test(entity)) {
    throw errors.invalidEntity(entity, entity.length === 0 ? "it is empty" : "it has a character outside [A-Za-z0-9._-] or is too long");
  }
  return entity;
}

/**
 * Names no new user or team may take: the server's own top-level paths (`/login`, `/settings`,
 * ...), where an entity's page `/:entity` could never be reached.
 */
export const RESERVED_ENTITY_NAMES: ReadonlySet<string> = new Set(["api", "assets", "auth", "healthz", "login", "logout", "settings", "teams", "users"]);

/** An entity name a new user or team may take: valid, and not reserved (TRK_ERR_INVALID_ENTITY). */
export function validateNewEntityName(name: unknown): string {
  const valid = validateEntity(name);
  if (RESERVED_ENTITY_NAMES.has(valid.toLowerCase())) throw errors.invalidEntity(valid, "it is reserved for the server's own pages");
  return valid;
}

/** Turns an OS user name into a valid entity name ("Jane Doe" -> "Jane-Doe"). */
export function entityFromUserName(user: string): string {
  const cleaned = user.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 64);
  return cleaned || "local";
}
