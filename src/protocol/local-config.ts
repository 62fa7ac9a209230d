/**
 * Where trackside keeps its per-user files, and the credentials file that lets local use need no
 * set-up: the embedded server writes its API key there on first start, and the client and CLI
 * read the key for their base URL from it.
 */
import { chmodSync, closeSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, type Stats } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { errors } from "./errors.js";

export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_PORT = 8421;
export const DEFAULT_BASE_URL = `http://${DEFAULT_HOST}:${DEFAULT_PORT}`;

/**
 * ~/.trackside, honouring HOME in `env` (tests give each case its own), so that a caller handed
 * an environment reads that user's files, not the ones of whoever runs the process.
 */
export function tracksideHome(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.HOME || homedir(), ".trackside");
}

export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(tracksideHome(env), "credentials");
}

export function defaultServerDataDir(): string {
  return join(tracksideHome(), "server");
}

export function normalizeBaseUrl(url: string): string {
  return url.replace(/\/+$/, "");
}

export interface Credential {
  apiKey: string;
  user: string;
}

type CredentialsFile = Record<string, Credential>;

/**
 * The credentials file's entries. Only a missing file is empty: a file that cannot be read or
 * parsed (bad JSON, not an object, a directory, no permission) is TRK_ERR_CORRUPT_FILE, never
 * `{}`, because the next write would replace it and drop the keys of every other server.
 */
function readAll(file = credentialsPath()): CredentialsFile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return {};
    throw errors.corruptFile(file, code === "EISDIR" ? "it is a directory, not a file" : `it cannot be read (${code ?? (err as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch (err) {
    throw errors.corruptFile(file, `it is not valid JSON (${(err as Error).message}), and it may hold the keys of other servers`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw errors.corruptFile(file, `it holds ${Array.isArray(parsed) ? "an array" : parsed === null ? "null" : `a ${typeof parsed}`}, not an object of base URLs`);
  }
  return parsed as CredentialsFile;
}

/**
 * The stored credential for a server, or null when the file or its entry is missing.
 * @throws TRK_ERR_CORRUPT_FILE when the file exists but cannot be read or parsed.
 */
export function readCredential(baseUrl: string, env: NodeJS.ProcessEnv = process.env): Credential | null {
  const entry = readAll(credentialsPath(env))[normalizeBaseUrl(baseUrl)] as Partial<Credential> | undefined;
  return entry && typeof entry === "object" && typeof entry.apiKey === "string" ? (entry as Credential) : null;
}

/**
 * Stores a server's credential beside the others: the directory 0700, the file 0600, written to
 * a temporary file and renamed over the old one, so a reader never sees half a file.
 * @throws TRK_ERR_CORRUPT_FILE, leaving the file as it is, when the existing file cannot be parsed.
 */
export function writeCredential(baseUrl: string, credential: Credential, env: NodeJS.ProcessEnv = process.env): string {
  const file = credentialsPath(env);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  withFileLock(file, () => {
    const all = readAll(file);
    all[normalizeBaseUrl(baseUrl)] = credential;
    replaceFile(file, all);
  });
  return file;
}

/** A lock older than this was left by a writer that died holding it (a write takes milliseconds). */
const STALE_LOCK_MS = 10_000;

/**
 * Runs `change` (a read, then a write of `file`) holding `<file>.lock`, so that two processes
 * storing credentials at once (two servers started together, a login beside a server) do not
 * each write back what they read and lose the other's entry. The lock is a file created with
 * O_EXCL; a waiting process sleeps 5 ms at a time, and takes over a lock older than
 * STALE_LOCK_MS.
 */
function withFileLock(file: string, change: () => void): void {
  const lock = `${file}.lock`;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      closeSync(openSync(lock, "wx", 0o600));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      let age = 0;
      try {
        age = Date.now() - statSync(lock).mtimeMs;
      } catch {
        continue; // released meanwhile
      }
      if (age > STALE_LOCK_MS) rmSync(lock, { force: true });
      else Atomics.wait(nap, 0, 0, 5);
    }
  }
  try {
    change();
  } finally {
    rmSync(lock, { force: true });
  }
}

/**
 * Removes a server's credential (`trackside logout`), keeping the others, with the same atomic
 * write as {@link writeCredential}. False, with nothing written, when there was none.
 * @throws TRK_ERR_CORRUPT_FILE, leaving the file as it is, when the existing file cannot be parsed.
 */
export function removeCredential(baseUrl: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const file = credentialsPath(env);
  const url = normalizeBaseUrl(baseUrl);
  if (!Object.hasOwn(readAll(file), url)) return false;
  let removed = false;
  withFileLock(file, () => {
    const all = readAll(file);
    removed = Object.hasOwn(all, url);
    if (!removed) return;
    delete all[url];
    replaceFile(file, all);
  });
  return removed;
}

/** Writes the whole file as a 0600 temporary file renamed over the old one. */
function replaceFile(file: string, all: CredentialsFile): void {
  const tmp = `${file}.${process.pid}.tmp`;
  // A temporary file left by a crashed writer with our pid is ours to replace; "wx" then never
  // writes through anything else that sits at that name.
  rmSync(tmp, { force: true });
  writeFileSync(tmp, JSON.stringify(all, null, 2) + "\n", { mode: 0o600, flag: "wx" });
  try {
    chmodSync(tmp, 0o600); // exactly 0600, whatever the umask
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * The longest socket directory path: a Unix socket's address holds 108 bytes with its final NUL
 * (sun_path on Linux; 104 on macOS), and the socket inside it is `/daemon-pN.sock` (15 bytes for
 * a one-digit protocol version). Past it the daemon could not bind, so a longer candidate is
 * passed over for the next one.
 */
const MAX_SOCKET_DIR_BYTES = 104 - 1 - "/daemon-p00.sock".length;

/**
 * The directory for daemon sockets and ready files, created if need be. Only this user may open
 * it (0700), so no other local user can connect to a daemon or read its address.
 *
 * In order: TRACKSIDE_SOCKET_DIR as given; `$XDG_RUNTIME_DIR/trackside` (a per-user directory
 * that the system makes private and empties at logout); `~/.trackside/run`. Both are out of
 * other users' reach, unlike a name in the shared /tmp that anyone can take first (or plant a
 * symbolic link at). `$TMPDIR/trackside-<uid>` is the last resort, for a home directory whose
 * path is too long for a socket address: there the checks below turn a squatted or planted
 * name into TRK_ERR_UNSAFE_DIR instead of a daemon that listens where someone else chose.
 *
 * @throws TRK_ERR_UNSAFE_DIR when the directory is a symbolic link, not a directory, another
 *   user's, or cannot be created.
 */
export function socketDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = socketDirPath(env);
  ensurePrivateDir(dir);
  return dir;
}

/** Where socketDir() puts the sockets, without creating or checking anything. */
export function socketDirPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TRACKSIDE_SOCKET_DIR) return resolve(env.TRACKSIDE_SOCKET_DIR);
  const fits = (dir: string) => Buffer.byteLength(dir) <= MAX_SOCKET_DIR_BYTES;
  const runtime = env.XDG_RUNTIME_DIR;
  // The spec says to ignore a relative XDG_RUNTIME_DIR.
  if (runtime && isAbsolute(runtime) && fits(join(runtime, "trackside"))) return join(runtime, "trackside");
  const home = join(tracksideHome(env), "run");
  if (fits(home)) return home;
  const uid = typeof process.getuid === "function" ? process.getuid() : 0;
  return join(env.TMPDIR || tmpdir(), `trackside-${uid}`);
}

/**
 * Makes `dir` (and its parents) and checks, without following a symbolic link, that it is a
 * directory of this user; its mode is then tightened to 0700 if it was looser.
 * @throws TRK_ERR_UNSAFE_DIR otherwise (nothing is created or changed behind a link).
 */
export function ensurePrivateDir(dir: string): void {
  let st = lstatOrNull(dir);
  if (st === null) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw errors.unsafeDir(dir, `it cannot be created (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    st = lstatOrNull(dir);
    if (st === null) throw errors.unsafeDir(dir, "it vanished as soon as it was created");
  }
  if (st.isSymbolicLink()) throw errors.unsafeDir(dir, "it is a symbolic link, which another user may have planted");
  if (!st.isDirectory()) throw errors.unsafeDir(dir, "it is not a directory");
  const uid = typeof process.getuid === "function" ? process.getuid() : st.uid;
  if (st.uid !== uid) throw errors.unsafeDir(dir, `it belongs to uid ${st.uid}, not to this user (${uid})`);
  // Ours (so nobody else can swap it for a link meanwhile, even in a sticky /tmp): tighten it.
  if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw errors.unsafeDir(path, `it cannot be examined (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}
