/**
 * The `--database` / TRACKSIDE_DATABASE_URL value: a PostgreSQL connection URL. Checked once at
 * the boundary, and shown with its password hidden wherever it is printed or logged.
 */
import { errors } from "../../protocol/errors.js";

/**
 * The URL as given, once it is a postgres:// or postgresql:// URL naming a host and a database.
 * @throws TRK_ERR_INVALID_OPTION otherwise.
 *
 * @example
 * parseDatabaseUrl("postgresql://trackside:secret@db.example.com/trackside") // returned as is
 */
export function parseDatabaseUrl(value: string, option = "--database"): string {
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {
    // reported below
  }
  if (!url || (url.protocol !== "postgres:" && url.protocol !== "postgresql:") || !url.hostname || url.pathname.length < 2) {
    throw errors.invalidOption(option, redactDatabaseUrl(value), "a PostgreSQL URL such as postgresql://user:password@host:5432/database");
  }
  return value;
}

/** The URL with its password replaced by `***`, for logs and messages. */
export function redactDatabaseUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = "***";
    return url.toString();
  } catch {
    return value.replace(/:[^:@/]*@/, ":***@");
  }
}
