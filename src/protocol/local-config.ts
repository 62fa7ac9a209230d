/**
 * Where trackside keeps its per-user files, and the credentials file that lets local use need no
 * set-up: the embedded server writes its API key there on first start, and the client and CLI
 * read the key for their base URL from it.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
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

function readAll(file = credentialsPath()): CredentialsFile {
  try {
    const parsed = JSON.parse(readFileSync(file, "utf8")) as unknown;
    return typeof parsed === "object" && parsed !== null ? (parsed as CredentialsFile) : {};
  } catch {
    return {};
  }
}

/** The stored credential for a server, or null. */
export function readCredential(baseUrl: string, env: NodeJS.ProcessEnv = process.env): Credential | null {
  const entry = readAll(credentialsPath(env))[normalizeBaseUrl(baseUrl)];
  return entry && typeof entry.apiKey === "string" ? entry : null;
}

/** Stores a server's credential: the directory 0700, the file 0600, written atomically. */
export function writeCredential(baseUrl: string, credential: Credential): string {
  const file = credentialsPath();
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const all = readAll(file);
  all[normalizeBaseUrl(baseUrl)] = credential;
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(all, null, 2) + "\n", { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return file;
}

/**
 * The directory for daemon sockets and ready files: only this user may open it (0700), so no
 * other local user can connect to a daemon or read its address. Created on first use; an
 * existing directory with looser permissions is tightened, one owned by someone else refused.
 */
export function socketDir(): string {
  const uid = typeof process.getuid === "function" ? process.getuid() : 0;
  const dir = join(process.env.TRACKSIDE_SOCKET_DIR || join(tmpdir(), `trackside-${uid}`));
  ensurePrivateDir(dir);
  return dir;
}

/** Makes `dir` (and parents) and checks it is a 0700 directory of this user. */
export function ensurePrivateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw errors.unsafeDir(dir, `it cannot be created (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const st = statSync(dir);
  const uid = typeof process.getuid === "function" ? process.getuid() : st.uid;
  if (st.uid !== uid) {
    throw errors.unsafeDir(dir, `it belongs to uid ${st.uid}, not to this user (${uid})`);
  }
  if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}
