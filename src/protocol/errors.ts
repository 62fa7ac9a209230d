/**
 * The one registry of trackside's error codes. Every code has a factory whose message names the
 * bad value and the fix, and a line in docs/errors.md (a test keeps the two in step).
 * Retired codes are never reused: add new ones at the end.
 */

/** An error that trackside raised on purpose; `code` is stable and documented. */
export class TracksideError extends Error {
  readonly code: ErrorCode;
  /** Extra facts for programs (the bad key, the HTTP status, ...). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = "TracksideError";
    this.code = code;
    this.details = details;
  }

  /** A plain object that crosses a socket or an HTTP response and comes back with `fromWire`. */
  toWire(): WireError {
    return { code: this.code, message: this.message };
  }

  static fromWire(w: WireError): TracksideError {
    const code = (ERROR_CODES as readonly string[]).includes(w.code) ? (w.code as ErrorCode) : "TRK_ERR_INTERNAL";
    return new TracksideError(code, w.message);
  }
}

export interface WireError {
  code: string;
  message: string;
}

export const ERROR_CODES = [
  "TRK_ERR_INVALID_ID",
  "TRK_ERR_INVALID_PROJECT",
  "TRK_ERR_INVALID_ENTITY",
  "TRK_ERR_INVALID_OPTION",
  "TRK_ERR_UNLOGGABLE",
  "TRK_ERR_STEP_BACKWARDS",
  "TRK_ERR_RUN_FINISHED",
  "TRK_ERR_DAEMON_START",
  "TRK_ERR_DAEMON_UNREACHABLE",
  "TRK_ERR_DAEMON_RUNNING",
  "TRK_ERR_PROTOCOL_VERSION",
  "TRK_ERR_BAD_FRAME",
  "TRK_ERR_BAD_TOKEN",
  "TRK_ERR_NO_CREDENTIALS",
  "TRK_ERR_UNAUTHORIZED",
  "TRK_ERR_FORBIDDEN",
  "TRK_ERR_NOT_FOUND",
  "TRK_ERR_BAD_REQUEST",
  "TRK_ERR_SERVER_UNREACHABLE",
  "TRK_ERR_INTERNAL",
  "TRK_ERR_UNSAFE_DIR",
  "TRK_ERR_RESUME_NOT_FOUND",
  "TRK_ERR_RUN_EXISTS",
  "TRK_ERR_NOT_YOUR_RUN",
  "TRK_ERR_BAD_SEQUENCE",
  "TRK_ERR_BAD_VALUE",
  "TRK_ERR_TOO_LARGE",
  "TRK_ERR_BAD_ORIGIN",
  "TRK_ERR_TOO_MANY",
  "TRK_ERR_REQUEST_TIMEOUT",
  "TRK_ERR_CORRUPT_FILE",
  "TRK_ERR_SYNC_INCOMPLETE",
  "TRK_ERR_RECORDS_REFUSED",
  "TRK_ERR_CONFLICT",
  "TRK_ERR_COPY_MISMATCH",
  "TRK_ERR_INVALID_ARTIFACT",
  "TRK_ERR_DIGEST_MISMATCH",
  "TRK_ERR_INVALID_MEDIA",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Characters of a value shown in a message: enough to recognise it, never a megabyte of log line. */
const SHOWN_CHARS = 200;

/** Any value as it reads in a message: a string quoted, anything else (a BigInt too) as String() gives it; cut short. */
export const show = (v: unknown): string => {
  try {
    const text = typeof v === "string" ? JSON.stringify(v) : String(v);
    return text.length > SHOWN_CHARS ? `${text.slice(0, SHOWN_CHARS)}... (${text.length} characters)` : text;
  } catch {
    return Object.prototype.toString.call(v);
  }
};

/** Factories, one per code: call sites never write a message by hand. */
export const errors = {
  invalidId: (id: unknown, why: string) =>
    new TracksideError(
      "TRK_ERR_INVALID_ID",
      `Invalid run id ${show(id)}: ${why}. Use 1 to 64 characters without surrounding spaces and without any of / \\ # ? % : ; , ' (or leave id unset to get a random one).`,
      { id },
    ),
  invalidProject: (project: unknown, why: string) =>
    new TracksideError(
      "TRK_ERR_INVALID_PROJECT",
      `Invalid project name ${show(project)}: ${why}. Use 1 to 128 characters without surrounding spaces and without any of / \\ # ? % :.`,
      { project },
    ),
  invalidEntity: (entity: unknown, why: string) =>
    new TracksideError(
      "TRK_ERR_INVALID_ENTITY",
      `Invalid entity name ${show(entity)}: ${why}. Use 1 to 64 characters of letters, digits, '-', '_' and '.' (or leave entity unset to use your user).`,
      { entity },
    ),
  invalidOption: (name: string, value: unknown, expected: string) =>
    new TracksideError(
      "TRK_ERR_INVALID_OPTION",
      `Invalid option ${name}=${show(value)}: expected ${expected}.`,
      { option: name, value },
    ),
  unloggable: (key: string, what: string) =>
    new TracksideError(
      "TRK_ERR_UNLOGGABLE",
      `Cannot log key ${show(key)}: ${what} is not loggable. Log numbers, booleans, strings, null, or plain objects of them; convert it first (e.g. Number(x) for a BigInt). The other keys of this call were logged.`,
      { key },
    ),
  stepBackwards: (step: number, current: number) =>
    new TracksideError(
      "TRK_ERR_STEP_BACKWARDS",
      `Step ${step} is lower than the run's current step ${current}; the data of this call was not logged. Steps only go forward: pass a step >= ${current}, or omit step to use the run's counter.`,
      { step, current },
    ),
  runFinished: (runId: string) =>
    new TracksideError(
      "TRK_ERR_RUN_FINISHED",
      `Run ${runId} has finished; nothing more can be logged to it. Start a new run with trackside.init().`,
      { runId },
    ),
  daemonStart: (why: string, logPath?: string) =>
    new TracksideError(
      "TRK_ERR_DAEMON_START",
      `The trackside daemon did not start: ${why}.${logPath ? ` Its output is in ${logPath}.` : ""} Check that the run directory is writable, or set mode: "offline" or "disabled" to go on without it.`,
      { logPath },
    ),
  daemonRunning: (address: string) =>
    new TracksideError(
      "TRK_ERR_DAEMON_RUNNING",
      `Another trackside daemon already listens at ${address}, and it keeps serving. Point clients at it (TRACKSIDE_DAEMON), stop it first, or give --listen another address.`,
      { address },
    ),
  daemonUnreachable: (address: string, why: string, sharedPid?: number) =>
    new TracksideError(
      "TRK_ERR_DAEMON_UNREACHABLE",
      sharedPid
        ? `The trackside daemon at ${address} (pid ${sharedPid}, shared by this user's processes) did not answer: ${why}. If it hangs, stop it (kill ${sharedPid}): the next init() starts a new one and it takes over the runs from their WALs.`
        : `The trackside daemon at ${address} did not answer: ${why}. Unset TRACKSIDE_DAEMON to let trackside start its own, or start it with \`trackside daemon --listen ${address}\`.`,
      { address },
    ),
  protocolVersion: (theirs: unknown, ours: number) =>
    new TracksideError(
      "TRK_ERR_PROTOCOL_VERSION",
      `Protocol version ${show(theirs)} is not supported (this side speaks ${ours}). Use the same trackside version for the client and the daemon.`,
      { theirs, ours },
    ),
  badFrame: (why: string) =>
    new TracksideError(
      "TRK_ERR_BAD_FRAME",
      `Malformed message on the daemon socket: ${why}. Only trackside clients of the same version may connect to it.`,
    ),
  badToken: () =>
    new TracksideError(
      "TRK_ERR_BAD_TOKEN",
      "The daemon refused the connection: its token does not match. Pass the token printed by `trackside daemon` in TRACKSIDE_DAEMON as tcp://HOST:PORT#TOKEN.",
    ),
  noCredentials: (baseUrl: string, file: string) =>
    new TracksideError(
      "TRK_ERR_NO_CREDENTIALS",
      `No API key for ${baseUrl}: none in TRACKSIDE_API_KEY, settings.apiKey or ${file}. Log in to a shared server with \`trackside login --base-url ${baseUrl}\`, start the local one once with \`trackside server\` (it writes its key there), or set TRACKSIDE_API_KEY.`,
      { baseUrl, file },
    ),
  unauthorized: () =>
    new TracksideError(
      "TRK_ERR_UNAUTHORIZED",
      "Missing or unknown API key. Send it as `Authorization: Bearer <key>`; the local server's key is in ~/.trackside/credentials.",
    ),
  unknownKey: (baseUrl: string) =>
    new TracksideError(
      "TRK_ERR_UNAUTHORIZED",
      `The server at ${baseUrl} does not know this API key, so it would refuse every upload. Check TRACKSIDE_API_KEY or settings.apiKey; the local server's key is in ~/.trackside/credentials.`,
      { baseUrl },
    ),
  forbidden: (what: string, fix = "Use an API key of a user who may, or ask an admin of the entity (its user, or a team admin) for that role.") =>
    new TracksideError("TRK_ERR_FORBIDDEN", `Not allowed: ${what}; nothing was changed. ${fix}`),
  notFound: (what: string) =>
    new TracksideError("TRK_ERR_NOT_FOUND", `${what} was not found. Check the entity, project and run id (\`trackside runs list ENTITY/PROJECT\`).`),
  badRequest: (why: string) =>
    new TracksideError("TRK_ERR_BAD_REQUEST", `Malformed request: ${why}. See docs/api.md for the expected body.`),
  serverUnreachable: (baseUrl: string, why: string) =>
    new TracksideError(
      "TRK_ERR_SERVER_UNREACHABLE",
      `The tracking server at ${baseUrl} did not answer: ${why}. Start it with \`trackside server\`, or pass --base-url / TRACKSIDE_BASE_URL.`,
      { baseUrl },
    ),
  unsafeDir: (dir: string, why: string) =>
    new TracksideError(
      "TRK_ERR_UNSAFE_DIR",
      `Refusing to use ${dir} for daemon sockets: ${why}. Set TRACKSIDE_SOCKET_DIR to a directory that only you own, or remove ${dir}.`,
      { dir },
    ),
  resumeNotFound: (path: string) =>
    new TracksideError(
      "TRK_ERR_RESUME_NOT_FOUND",
      `Run ${path} does not exist, and resume: "must" needs it to. Check the id, or use resume: "allow" to create it when it is missing.`,
      { path },
    ),
  runExists: (path: string) =>
    new TracksideError(
      "TRK_ERR_RUN_EXISTS",
      `Run ${path} exists already, and resume: "never" refuses to continue it. Leave id unset for a new run, or use resume: "allow" to continue it.`,
      { path },
    ),
  notYourRun: (path: string) =>
    new TracksideError(
      "TRK_ERR_NOT_YOUR_RUN",
      `Run ${path} was not opened on this connection: a client may write to, finish or ask about only the runs it opened itself (or opened again with the run's secret). Open your own run with init(); the run named was not touched.`,
      { path },
    ),
  badSequence: (path: string, why: string) =>
    new TracksideError(
      "TRK_ERR_BAD_SEQUENCE",
      `Records for run ${path} do not continue its sequence: ${why}. Sequence numbers are safe integers that go on from the run's last one; nothing of this batch was written.`,
      { path },
    ),
  badValue: (key: string, why: string) =>
    new TracksideError(
      "TRK_ERR_BAD_VALUE",
      `Cannot store the value of ${show(key)}: ${why}. Send plain JSON-like data (numbers, strings, booleans, null, arrays and objects with string keys); nothing of this body was applied.`,
      { key },
    ),
  tooLarge: (what: string, size: number | string, limit: number | string) =>
    new TracksideError(
      "TRK_ERR_TOO_LARGE",
      `${what} is ${size}, over the limit of ${limit}. Make it smaller (the limits are listed in docs/api.md); nothing else was lost.`,
      { what, size, limit },
    ),
  badOrigin: (why: string) =>
    new TracksideError(
      "TRK_ERR_BAD_ORIGIN",
      `Refused a request from another origin: ${why}. Use the server's own pages (its address is the one given by --public-url), and start again from its login page.`,
    ),
  tooMany: (what: string, limit: number) =>
    new TracksideError(
      "TRK_ERR_TOO_MANY",
      `Too many ${what} (at most ${limit}). Close some first, or wait and try again.`,
      { what, limit },
    ),
  requestTimeout: (why: string) =>
    new TracksideError(
      "TRK_ERR_REQUEST_TIMEOUT",
      `The request took too long to arrive: ${why}. Send the whole request at once; a slow network needs a smaller body.`,
    ),
  corruptFile: (file: string, why: string) =>
    new TracksideError(
      "TRK_ERR_CORRUPT_FILE",
      `Cannot read ${file}: ${why}. It was left as it is; fix it by hand or move it away.`,
      { file },
    ),
  syncIncomplete: (dir: string, skipped: number) =>
    new TracksideError(
      "TRK_ERR_SYNC_INCOMPLETE",
      `Synced ${dir}, but skipped ${skipped} unreadable range(s) listed above: what they held is not on the server. Every readable record was uploaded, and the run directory was left as it was.`,
      { dir, skipped },
    ),
  recordsRefused: (records: number, why: string, file: string | null, by: "server" | "daemon" | "either" = "either") =>
    new TracksideError(
      "TRK_ERR_RECORDS_REFUSED",
      by === "daemon"
        ? `The daemon refused ${records} record(s) of this run before they reached its WAL (the first reason: ${why}). They are kept in ${file ?? "the run's dead-letter file"}; the rest of the run goes on.`
        : by === "server"
          ? `The server refused ${records} record(s) (the first answer: ${why}). ${file ? `They are kept in ${file}` : "They are still in the run's WAL"}; the rest of the run was uploaded. \`trackside sync <run-dir>\` offers them again, to a server that may take them.`
          : `${records} record(s) of this run were refused, by the daemon's checks or by the server (the first reason: ${why}). They are kept in ${file ?? "the run's dead-letter file"}; the rest of the run was uploaded.`,
      { records, file },
    ),
  conflict: (what: string, fix: string) =>
    new TracksideError("TRK_ERR_CONFLICT", `${what}; nothing was changed. ${fix}`),
  copyMismatch: (table: string, what: string) =>
    new TracksideError(
      "TRK_ERR_COPY_MISMATCH",
      `The copy's target does not match its source in table ${table}: ${what}. The target holds another server's data, or the source changed since an interrupted copy (a server still running on it): stop the server, drop and create the target database again, and copy into the empty database.`,
      { table },
    ),
  invalidArtifact: (what: string, why: string, fix: string) =>
    new TracksideError("TRK_ERR_INVALID_ARTIFACT", `Invalid artifact ${what}: ${why}. ${fix}`, { artifact: what }),
  digestMismatch: (what: string, want: string, got: string) =>
    new TracksideError(
      "TRK_ERR_DIGEST_MISMATCH",
      `The bytes of ${what} do not match their digest: expected sha256 ${want}, got ${got}. The file changed after it was logged, or the copy was damaged on the way; nothing was kept of it. Download or log it again.`,
      { want, got },
    ),
  artifactPending: (what: string, why: string) =>
    new TracksideError(
      "TRK_ERR_REQUEST_TIMEOUT",
      `Artifact ${what} is not on the server yet: ${why}. It is safe in the run directory and the daemon goes on uploading it (finish() waits for it and shows its progress); call wait() again, with a longer timeout, to wait for its version.`,
      { artifact: what },
    ),
  invalidMedia: (key: string, why: string, fix: string) =>
    new TracksideError("TRK_ERR_INVALID_MEDIA", `Cannot log ${show(key)}: ${why}. ${fix} The other keys of this call were logged.`, { key }),
  internal: (why: string) =>
    new TracksideError("TRK_ERR_INTERNAL", `Internal error: ${why}. This is a bug in trackside; please report it with the daemon log.`),
} satisfies Record<string, (...args: never[]) => TracksideError>;

/**
 * The error a tracking server's failed answer (HTTP `status`, body `text`) stands for: the
 * server's own coded error when the body is trackside's JSON (`{ error: { code, message } }`), as
 * TRK_ERR_UNAUTHORIZED for a bad key; otherwise (a proxy's page, another service on the port)
 * TRK_ERR_SERVER_UNREACHABLE with the status.
 */
export function errorOfResponse(baseUrl: string, status: number, text: string): TracksideError {
  try {
    const wire = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    if (wire && typeof wire.code === "string" && typeof wire.message === "string") return TracksideError.fromWire({ code: wire.code, message: wire.message });
  } catch {
    // not JSON
  }
  const excerpt = text.trim().slice(0, 200);
  return errors.serverUnreachable(baseUrl, `HTTP ${status}, not a trackside error${excerpt ? ` (${JSON.stringify(excerpt)})` : ""}`);
}

/** Why fetch() failed, in a few words: the system's code (ECONNREFUSED, ENOTFOUND) or the timeout. */
export function whyFetchFailed(err: unknown, timeoutMs?: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === "TimeoutError") return timeoutMs ? `no answer within ${timeoutMs / 1000} s` : "no answer in time";
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

/** True for a TracksideError of the given code (works across module copies, unlike instanceof). */
export function isTracksideError(err: unknown, code?: ErrorCode): err is TracksideError {
  return (
    typeof err === "object" &&
    err !== null &&
    (err as { name?: unknown }).name === "TracksideError" &&
    (code === undefined || (err as { code?: unknown }).code === code)
  );
}
