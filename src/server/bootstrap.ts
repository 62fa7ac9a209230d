/**
 * First-start set-up of the embedded server, so local use needs no configuration (DESIGN.md):
 * a local user named after the OS user, and an API key for it in ~/.trackside/credentials,
 * where the client and the CLI look for the key of their base URL.
 *
 * Self-healing: when the credentials file lacks a key that works here (deleted, or written by
 * another server's database), a new key is minted and written. That grants nothing new: the
 * server runs as the OS user who owns both its data directory and the credentials file.
 *
 * Not on a shared store (`Store.shared`: PostgreSQL behind replicas). There the servers are
 * often containers whose HOME starts empty at every start, and each start of each replica would
 * add an admin key that nobody uses, each a live credential in some container's filesystem. So
 * a start there mints a key only when it created the local user (the first start on an empty
 * database: its key is written, as SQLite's is), or when that user has no API key at all (a first
 * start that died between the two, or keys deleted in the database to get back in). Otherwise
 * the URLs left without a key are returned, for the server to say how to get one.
 *
 * A credentials file that cannot be parsed is never replaced (it may hold the keys of other
 * servers): the start fails with TRK_ERR_CORRUPT_FILE naming the file, which `trackside server`
 * prints as one line, and the file is left byte for byte as it was.
 */
import { userInfo } from "node:os";
import { isTracksideError } from "../protocol/errors.js";
import { entityFromUserName } from "../protocol/ids.js";
import { readCredential, writeCredential } from "../protocol/local-config.js";
import { hashSecret, mintApiKey } from "./http/auth.js";
import type { Store, StoredUser } from "./store/store.js";

export interface BootstrapResult {
  /** The local user: the one named after the OS user, else the oldest. */
  user: StoredUser;
  /** Whether a user was created on this start. */
  createdUser: boolean;
  /** The base URLs whose credential was (re)written on this start. */
  wroteCredentials: string[];
  /**
   * The base URLs left without a key that works here: the store is shared and its local user
   * already had a key, so this start minted none (see above). Empty on SQLite.
   */
  withoutCredentials: string[];
}

/** The OS user name, or "local" where the system has none for this uid (some containers). */
export function osUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER || "local";
  }
}

/**
 * Makes sure the local user exists and that each base URL has a working key in the
 * credentials file (on a shared store, only where the database needs a key: see above).
 * @throws TRK_ERR_CORRUPT_FILE when the credentials file exists but cannot be parsed; it is
 *   read before the store is touched, so a refused start leaves no user or key behind.
 *
 * @example
 * await bootstrapLocalUser(store, ["http://127.0.0.1:8421"]);
 * readCredential("http://127.0.0.1:8421"); // { apiKey: "trk_...", user: "alice" }
 */
export async function bootstrapLocalUser(store: Store, baseUrls: string[], now = Date.now()): Promise<BootstrapResult> {
  const urls = [...new Set(baseUrls)];
  const existing = urls.map((url) => readCredential(url)); // throws for a corrupt file, before the store is touched
  const name = entityFromUserName(osUserName());
  let createdUser = false;
  if ((await store.countUsers()) === 0) {
    try {
      await store.createUser(name, now, { admin: true });
      createdUser = true;
    } catch (err) {
      // Another replica on the same database created the user between the count and here
      // (servers started together on an empty PostgreSQL database): that user is the one.
      if (!isTracksideError(err, "TRK_ERR_CONFLICT")) throw err;
    }
  }
  const user = (await store.getUserByName(name)) ?? (await store.firstUser());
  if (!user) throw new Error("no user after bootstrap"); // unreachable: one was just created

  let minted: string | null = null;
  let mayMint: boolean | null = null; // asked once, and only when a URL needs a key
  const wroteCredentials: string[] = [];
  const withoutCredentials: string[] = [];
  for (const [i, url] of urls.entries()) {
    const found = existing[i];
    if (found && (await store.userByApiKeyHash(hashSecret(found.apiKey)))) continue;
    mayMint ??= !store.shared || createdUser || (await store.listApiKeys(user.id)).length === 0;
    if (!mayMint) {
      withoutCredentials.push(url);
      continue;
    }
    // One new key serves every URL of this start: they all reach this same server.
    if (minted === null) {
      const key = mintApiKey();
      await store.addApiKey(user.id, key.hash, key.prefix, now, "written to ~/.trackside/credentials by the server");
      minted = key.key;
    }
    writeCredential(url, { apiKey: minted, user: user.name });
    wroteCredentials.push(url);
  }
  return { user, createdUser, wroteCredentials, withoutCredentials };
}

/**
 * What a start that left base URLs without a key says (the server's log, `trackside server`'s
 * terminal): why none was minted, and how to get one. One line.
 *
 * @example
 * withoutCredentialsNotice(["http://127.0.0.1:8421"], "alice")
 * // "no key written to ~/.trackside/credentials for http://127.0.0.1:8421: ... trackside login --base-url http://127.0.0.1:8421 ..."
 */
export function withoutCredentialsNotice(urls: string[], user: string): string {
  return (
    `no key written to ~/.trackside/credentials for ${urls.join(", ")}: this database is shared with other servers ` +
    `and its local user ${user} has a key already, so a start mints none. Store a key you hold with ` +
    `\`trackside login --base-url ${urls[0]}\` (the first start wrote ${user}'s to its host's ~/.trackside/credentials; ` +
    `\`trackside keys create\` or the web app's /settings page makes another)`
  );
}
