/** Where W&B's routes live: at the server's root, where W&B's clients join their paths onto the base URL. */

export const GRAPHQL_PATH = "/graphql";
/** `POST /files/{entity}/{project}/{run}/file_stream`, as both clients build it. */
export const FILE_STREAM_PATH = "/files/:entity/:project/:id/file_stream";
/** Where signed upload URLs point (upload-token.ts); any path would do, the server hands them out. */
export const WANDB_UPLOAD_PREFIX = "/files/uploads";
