/**
 * What both backends and the routes share about saved views (a user's named workspace states
 * of a project): their limits and the error of a name taken.
 */
import { errors } from "../../protocol/errors.js";

/** Longest view name, in characters: a label in a menu, not a sentence. */
export const MAX_VIEW_NAME = 100;
/**
 * Largest view state, in bytes of its JSON: a workspace of 50 runs with 40 panels encodes to a
 * few KiB; 64 KiB leaves room and keeps a listing of a user's views small.
 */
export const MAX_VIEW_STATE_BYTES = 64 * 1024;

/** The error of a view name the user already has in the project. */
export const viewNameTaken = (name: string) =>
  errors.conflict(`You already have a view named ${JSON.stringify(name)} in this project`, "Choose another name, or rename that view.");
